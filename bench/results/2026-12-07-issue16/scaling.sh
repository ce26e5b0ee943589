#!/usr/bin/env bash
# Issue #16 benchmark: scaling of the sharded KDE at p = 2 against this machine's compute
# ceiling, the naive loop's speedup timed in the same rounds (`parakit bench --limits`), on
# threads and on MPI ranks; strong and weak (grid n x p, CV n x sqrt(p)).
#   usage: scaling.sh [PARAKIT] [REPS] [OUTDIR]   (writes scaling.txt and the JSON runs into
#   OUTDIR, by default beside this script)
set -euo pipefail
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
P="${1:-$SCRIPT_DIR/../../../build/release/bin/parakit}"
REPS="${2:-5}"
HERE="${3:-$SCRIPT_DIR}"
mkdir -p "$HERE"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
summary() {
  /usr/bin/python3 - "$1" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
rows = {(r["workload"], r["p"]): r for r in d["rows"]}
def speedup(w):
    return rows[(w, 1)]["median"] / rows[(w, 2)]["median"]
naive = speedup("kde-naive")
for w in ["kde-grid", "kde-cv", "kde-naive"]:
    s = speedup(w)
    print(f"  {w:9s} T1 {rows[(w, 1)]['median']:.4f} s  T2 {rows[(w, 2)]['median']:.4f} s  "
          f"S(2) {s:.3f}  S/S_naive {s / naive:.3f}  ({rows[(w, 2)]['problem']})")
PY
}
{
  echo "# $(date -u +%FT%TZ) $(nproc) CPUs, $REPS interleaved reps, medians"
  for scaling in "" "--weak"; do
    "$P" bench kde --limits --reps "$REPS" $scaling --json > "$HERE/scaling-threads${scaling}.json"
    echo "threads ${scaling:-strong}:"; summary "$HERE/scaling-threads${scaling}.json"
    mpirun -np 2 "$P" bench kde --limits --reps "$REPS" $scaling --json \
      > "$HERE/scaling-mpi${scaling}.json"
    echo "mpirun -np 2 ${scaling:-strong}:"; summary "$HERE/scaling-mpi${scaling}.json"
  done
} | tee "$HERE/scaling.txt"
