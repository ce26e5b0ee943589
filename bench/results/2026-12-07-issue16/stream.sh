#!/usr/bin/env bash
# Issue #16 benchmark: `parakit sum --input` streamed from the page cache against the read
# probe of `parakit bench sum --limits` over the same bytes in memory, interleaved round by
# round (this machine is shared and noisy: compare within a round). The file is 2^29 float64
# (4 GiB) in the page cache; the budget 64 MiB forces streaming.
#   usage: stream.sh [PARAKIT] [ROUNDS]   (writes stream.txt beside this script)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
P="${1:-$HERE/../../../build/release/bin/parakit}"
ROUNDS="${2:-5}"
FILE="${TMPDIR:-/tmp}/parakit-stream-bench.npy"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
trap 'rm -f "$FILE"' EXIT
/usr/bin/python3 - "$FILE" <<'PY'
import sys, numpy as np
out = np.lib.format.open_memmap(sys.argv[1], mode="w+", dtype="<f8", shape=(2**29,))
for i in range(0, 2**29, 2**25):
    out[i:i + 2**25] = np.random.default_rng(i).standard_normal(2**25)
out.flush()
PY
cat "$FILE" > /dev/null  # into the page cache
median() { /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['seconds'])"; }
probe() {
  /usr/bin/python3 -c "
import json, sys
d = json.load(sys.stdin)
print([r['median'] for r in d['rows'] if r['workload'] == 'sum-probe' and r['p'] == $1][0])"
}
{
  echo "# $(date -u +%FT%TZ) $(nproc) CPUs; file 2^29 float64 = 4 GiB in the page cache"
  echo "# round launch stream_s probe_s ratio(probe/stream = fraction of the probe's throughput)"
  for round in $(seq 1 "$ROUNDS"); do
    s=$("$P" sum --input "$FILE" --memory-budget 64MiB --repeat 3 --threads 2 --json | median)
    b=$("$P" bench sum --limits --n 2^29 --reps 3 --max-p 2 --json 2>/dev/null | probe 2)
    echo "$round threads-2 $s $b $(/usr/bin/python3 -c "print(round($b / $s, 3))")"
    s=$(mpirun -np 2 "$P" sum --input "$FILE" --memory-budget 64MiB --repeat 3 --json | median)
    b=$(mpirun -np 2 "$P" bench sum --limits --n 2^29 --reps 3 --json 2>/dev/null | probe 2)
    echo "$round mpirun-np2 $s $b $(/usr/bin/python3 -c "print(round($b / $s, 3))")"
  done
} | tee "$HERE/stream.txt"
