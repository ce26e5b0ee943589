#!/usr/bin/env bash
# parakit's two commands, for a minimal Debian 12 with only git:
#   ./run.sh demo   install what is missing, build Release, run the sum demo (threads and mpirun -np 2),
#                   the farm demos and the kde demo (plots in build/release/demo/)
#   ./run.sh test   install what is missing, build Release, run the whole test suite
#   ./run.sh sanitize   the unit and thread-backend tests under ASan+UBSan (leak checks on) and TSan,
#                       and the MPI backend tests (mpirun -np 1..4) under ASan+UBSan
#   ./run.sh fuzz [S]   every libFuzzer target for S seconds (default 30), scripts/fuzz
#   ./run.sh tidy       clang-tidy (bugprone, performance, mpi, functions over 80 lines) on lib/
#                       and apps/: any finding fails
#   ./run.sh docs       the reference documentation of the public headers (doxygen, docs/Doxyfile)
#                       into build/docs/html: any doxygen warning fails
#   ./run.sh skips      the skips the last test runs permitted (tests/allowed_skips.txt), with
#                       their reasons: the last thing .ci/run prints
# Extra: ./run.sh build [preset]   ./run.sh setup
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PRESET="${PARAKIT_PRESET:-release}"
BUILD="$ROOT/build/$PRESET"
cd "$ROOT"  # the presets are read from the current directory

# Debian packages the build, tests and demo need.
PACKAGES=(
  g++ cmake ninja-build pkg-config ca-certificates
  libopenmpi-dev openmpi-bin openssh-client
  libboost-mpi-dev libboost-serialization-dev libeigen3-dev libcli11-dev nlohmann-json3-dev
  libxxhash-dev libhdf5-openmpi-dev libfftw3-dev libgtest-dev libbenchmark-dev
  python3 python3-numpy python3-sklearn python3-xxhash python3-mpi4py python3-h5py gnuplot-nox procps
  iproute2 util-linux slurmctld slurmd slurm-client munge
)
# Only for ./run.sh fuzz: clang and its libFuzzer runtime; for ./run.sh tidy: clang-tidy;
# for ./run.sh docs: doxygen.
FUZZ_PACKAGES=(clang libclang-rt-14-dev)
TIDY_PACKAGES=(clang-tidy)
DOCS_PACKAGES=(doxygen)

log() { printf '==> %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@";
  elif command -v sudo >/dev/null 2>&1; then sudo "$@";
  else log "need root (or sudo) to run: $*"; exit 1; fi
}

setup() {  # setup [EXTRA_PACKAGE...]
  local missing=()
  for pkg in "${PACKAGES[@]}" "$@"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$pkg")
    fi
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    log "installing: ${missing[*]}"
    local apt=(env DEBIAN_FRONTEND=noninteractive apt-get)
    # apt-get update only when needed: no package lists yet, or they cannot serve the install.
    if ! compgen -G "/var/lib/apt/lists/*_Packages*" >/dev/null; then
      as_root "${apt[@]}" update
    fi
    if ! as_root "${apt[@]}" install -y --no-install-recommends "${missing[@]}"; then
      as_root "${apt[@]}" update
      as_root "${apt[@]}" install -y --no-install-recommends "${missing[@]}"
    fi
  fi
  if [ "$(id -u)" -eq 0 ]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  fi
}

build() {
  local preset="${1:-$PRESET}"
  log "configuring and building ($preset)"
  cmake --preset "$preset" -S "$ROOT" >/dev/null
  cmake --build --preset "$preset"
}


demo() {
  local bin="$BUILD/bin/parakit"
  local n="${PARAKIT_DEMO_N:-2^26}"
  local out
  out="$(mktemp -d)"
  trap 'rm -rf "$out"' RETURN
  "$bin" info
  echo
  log "summing $n elements on the thread backend and under mpirun -np 2"
  local i=0
  for mode in fast exact; do
    for dist in uniform cancel; do
      i=$((i + 1))
      "$bin" sum --backend threads --n "$n" --dist "$dist" --mode "$mode" --repeat 3 --json >"$out/$i.t.json"
      # --oversubscribe: Open MPI counts cores, not hardware threads, as slots.
      mpirun -np 2 --oversubscribe "$bin" sum --n "$n" --dist "$dist" --mode "$mode" --repeat 3 \
        --json >"$out/$i.m.json"
    done
  done
  python3 "$ROOT/scripts/demo_table.py" "$out"/*.json
  echo
  log "the task farm: the seeds' queue (sum of 0..9999 = 49995000), then uneven tasks"
  mpirun -np 3 --oversubscribe "$bin" farm --demo queue --tasks 10000
  "$bin" farm --demo cost --cost ramp:1ms:20ms --tasks 100 --threads 2 --chunk 1
  "$bin" farm --demo cost --cost ramp:1ms:20ms --tasks 100 --threads 2 --schedule static
  echo
  log "Parzen KDE, the notebook's setup (10000 2-D samples from NumPy seed 123, point (0,0),"
  log "widths 1.0:1.2:100): counts 1445 at h = 1.0 and 2022 at h = 1.2; sweep vs the seed's loop"
  "$bin" kde --compare-naive | awk 'NR <= 6 || /^ +1\.19|^ +1\.2 / || !/^ +[0-9]/'
  local plots="$BUILD/demo"
  mkdir -p "$plots"
  log "least-squares cross-validated width under mpirun -np 2, and the heat map of a 120x120"
  log "grid at that width with the samples overlaid: $plots/kde_map.png"
  mpirun -np 2 --oversubscribe "$bin" kde --samples 5000 --cv lsq --widths 0.1:2.0:39 \
    --grid 120x120 --plot "$plots/kde_map.png" | grep -E 'chosen h|points|backend|kernel|cv  '
  "$bin" kde --samples 5000 --cv lsq --widths 0.1:2.0:39 --plot "$plots/kde_cv.png" >/dev/null
}

# The reference documentation: doxygen over lib/include (docs/Doxyfile), docs/API.md as its main
# page. Needs no build. Any warning fails, with the warnings printed.
docs() {
  local out="$ROOT/build/docs"
  local version
  version="$(sed -n 's/^project(parakit VERSION \([0-9.]*\).*/\1/p' "$ROOT/CMakeLists.txt")"
  rm -rf "$out"
  mkdir -p "$out"
  log "doxygen $(doxygen --version) -> $out/html"
  local status=0
  PARAKIT_VERSION="$version" doxygen docs/Doxyfile || status=$?
  if [ -s "$out/warnings.log" ]; then
    cat "$out/warnings.log" >&2
    log "doxygen: $(wc -l <"$out/warnings.log") warning line(s) (docs/Doxyfile treats them as errors)"
    return 1
  fi
  if [ "$status" -ne 0 ]; then
    log "doxygen failed (exit $status)"
    return "$status"
  fi
  log "no warnings: $out/html/index.html"
}

# The skips the test runs permitted (tests/allowed_skips.txt under CI=true), one per line.
skips() {
  local logs=()
  for log in "$ROOT"/build/*/allowed-skips.log; do
    [ -s "$log" ] && logs+=("$log")
  done
  if [ "${#logs[@]}" -eq 0 ]; then
    log "skips permitted in the test runs: none"
    return 0
  fi
  log "skips permitted in the test runs (tests/allowed_skips.txt):"
  for log in "${logs[@]}"; do
    sed "s|^|  $(basename "$(dirname "$log")"): |" "$log" >&2
  done
}

run_ctest() {  # run_ctest PRESET [ctest args...]: a fresh skip list, then the tests
  local preset="$1"
  shift
  rm -f "$ROOT/build/$preset/allowed-skips.log"
  ctest --preset "$preset" "$@"
}

cmd="${1:-}"
case "$cmd" in
  setup) setup ;;
  build) setup; build "${2:-$PRESET}" ;;
  demo) setup; build; demo ;;
  test)
    setup
    build
    log "running the test suite"
    status=0
    run_ctest "$PRESET" -j "$(nproc)" || status=$?
    skips
    exit "$status"
    ;;
  sanitize)
    setup
    for preset in asan tsan; do
      # Only what the unit and thread-backend tests run (not the CLI, apps or benchmarks).
      log "configuring and building the test targets ($preset)"
      cmake --preset "$preset" -S "$ROOT" >/dev/null
      cmake --build --preset "$preset" --target parakit_unit_tests test_backend test_sum \
        test_farm test_kde
      log "unit and thread-backend tests under $preset"
      run_ctest "$preset" -L "unit|threads" -j "$(nproc)"
      if [ "$preset" = asan ]; then
        # The backend tests under mpirun -np 1..4 too (leak checks off there: Open MPI's own
        # leaks would drown the signal; every other ASan/UBSan check stays on).
        log "MPI backend tests (mpirun -np 1..4) under asan"
        ctest --preset asan -R '\.mpi\.np[0-9]+$' -j "$(nproc)"
      fi
    done
    ;;
  tidy)
    setup "${TIDY_PACKAGES[@]}"
    build
    scripts/tidy
    ;;
  docs)
    setup "${DOCS_PACKAGES[@]}"
    docs
    ;;
  fuzz)
    setup "${FUZZ_PACKAGES[@]}"
    scripts/fuzz "${2:-30}"
    ;;
  skips) skips ;;
  *)
    echo "usage: $0 demo|test|sanitize|fuzz [SECONDS]|tidy|docs|skips   (also: setup, build [preset])" >&2
    exit 2
    ;;
esac
