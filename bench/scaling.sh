#!/usr/bin/env bash
# One node's scaling study: `parakit bench` strong scaling (with every reference: --limits)
# on the thread backend and under mpirun, then weak scaling on both, each a JSON file with
# every sample plus PNG plots, and the tables on stdout.
#   bench/scaling.sh [OUTDIR]                         (default: scaling-<host>-<date>)
# Environment: PARAKIT (default: build/release/bin/parakit next to this script's repository),
#   MAX_P (default: the CPUs this process may use), REPS (5), N (2^27 doubles: larger than the
#   last-level cache of most nodes), MPIRUN_FLAGS (extra mpirun options), BENCH_ARGS (extra
#   `parakit bench` options, e.g. "--farm-tasks 2000"), SKIP (space-separated: threads mpi weak),
#   STEP_TIMEOUT (seconds; a run that takes longer is stopped and reported failed)
# Afterwards: parakit bench --compare OLD.json OUTDIR/mpi.json
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
parakit=${PARAKIT:-$repo/build/release/bin/parakit}
[ -x "$parakit" ] || { echo "scaling.sh: error: no parakit at $parakit (build it, or set PARAKIT)" >&2; exit 2; }
out=${1:-scaling-$(hostname -s)-$(date -u +%Y%m%dT%H%M%SZ)}
max_p=${MAX_P:-$(nproc)}
reps=${REPS:-5}
n=${N:-2^27}
skip=" ${SKIP:-} "
mkdir -p "$out"

# BENCH_ARGS / MPIRUN_FLAGS are option lists, split on spaces.
# shellcheck disable=SC2206
common=(--reps "$reps" --n "$n" ${BENCH_ARGS:-})
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# One rank per core, pinned, while there are cores for them; unpinned when oversubscribed.
if [ "$max_p" -le "$(nproc)" ]; then mapping=(--map-by core --bind-to core); else
  mapping=(--oversubscribe --bind-to none); fi
# shellcheck disable=SC2206
mpirun_cmd=(mpirun -np "$max_p" "${mapping[@]}" ${MPIRUN_FLAGS:-})

# Plots where gnuplot is installed (the JSON files hold everything they show).
plot_threads=() plot_mpi=()
if command -v gnuplot >/dev/null; then
  plot_threads=(--plot "$out/threads") plot_mpi=(--plot "$out/mpi")
fi
status=0
step() {  # step NAME COMMAND...: runs one bench, keeps going if it fails
  local name=$1; shift
  echo "== $name: $*"
  [ -z "${STEP_TIMEOUT:-}" ] || set -- timeout --kill-after=10 "$STEP_TIMEOUT" "$@"
  if ! "$@"; then echo "scaling.sh: $name failed" >&2; status=1; fi
}
[[ $skip == *" threads "* ]] || step threads "$parakit" bench all --limits --backend threads \
  --threads "$max_p" "${common[@]}" --out "$out/threads.json" "${plot_threads[@]}"
[[ $skip == *" mpi "* ]] || step mpi "${mpirun_cmd[@]}" "$parakit" bench all --limits \
  "${common[@]}" --out "$out/mpi.json" "${plot_mpi[@]}"
if [[ $skip != *" weak "* ]]; then
  [[ $skip == *" threads "* ]] || step weak-threads "$parakit" bench sum farm kde-cv --weak \
    --backend threads --threads "$max_p" "${common[@]}" --out "$out/weak-threads.json"
  [[ $skip == *" mpi "* ]] || step weak-mpi "${mpirun_cmd[@]}" "$parakit" bench sum farm kde-cv \
    --weak "${common[@]}" --out "$out/weak-mpi.json"
fi
echo "scaling.sh: results in $out/"
exit "$status"
