#!/usr/bin/env bash
# Memory of the sharded KDE: N 2-D samples in a .npy file (default 2e8, 3.2 GB), a 200x200 grid,
# 3 widths, under mpirun -np 4 (and -np 1 for comparison when N is small enough): every rank's
# peak RSS from parakit's JSON (peak_rss_bytes), against 1.5 x (file bytes / 4) + 150 MB.
# Usage: memory.sh PARAKIT [N] [DIR]
set -euo pipefail
BIN=${1:-build/release/bin/parakit}
N=${2:-200000000}
DIR=${3:-/tmp}
FILE="$DIR/parakit-memory-$N.npy"
trap 'rm -f "$FILE"' EXIT
/usr/bin/python3 - "$FILE" "$N" <<'PY'
import sys, numpy as np
path, n = sys.argv[1], int(float(sys.argv[2]))
out = np.lib.format.open_memmap(path, mode="w+", dtype="<f8", shape=(n, 2))
rng = np.random.default_rng(16)
step = 10_000_000
for i in range(0, n, step):
    out[i:i + step] = rng.standard_normal((min(step, n - i), 2))
out.flush()
PY
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
for np_ in 4; do
  mpirun -np $np_ --oversubscribe "$BIN" kde --input "$FILE" --grid 200x200 --widths 0.1,0.2,0.4 \
    --json | /usr/bin/python3 -c "
import json, sys, os
r = json.load(sys.stdin)
shard = os.path.getsize('$FILE') / $np_
bound = 1.5 * shard + 150e6
peaks = r['peak_rss_bytes']
print(f'np $np_: n={r[\"n\"]} algo={r[\"algo\"]} kernel {r[\"seconds\"]:.2f} s, shard {shard/1e9:.2f} GB, '
      f'peak RSS per rank (GB) {[round(p/1e9, 3) for p in peaks]}, bound {bound/1e9:.3f} GB: '
      f'{\"within\" if max(peaks) <= bound else \"OVER\"}')"
done
