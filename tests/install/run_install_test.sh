#!/usr/bin/env bash
# (The fourth argument carries sanitizer flags, so an instrumented build links.)
# Installs the build tree into a temporary prefix, builds tests/install/consumer against it with
# find_package(parakit), runs it under mpirun -np 2, and checks the installed CLI runs.
set -euo pipefail
build_dir="$1"; source_dir="$2"; mpiexec="${3:-mpirun}"; cxx_flags="${4:-}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cmake --install "$build_dir" --prefix "$work/prefix" >/dev/null
test -f "$work/prefix/lib/cmake/parakit/parakitConfig.cmake"
test -f "$work/prefix/lib/cmake/parakit/parakitConfigVersion.cmake"
test -x "$work/prefix/bin/parakit"
cmake -S "$source_dir/tests/install/consumer" -B "$work/consumer" -G Ninja \
  -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CXX_FLAGS="$cxx_flags" -DCMAKE_EXE_LINKER_FLAGS="$cxx_flags" >/dev/null
cmake --build "$work/consumer" >/dev/null
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
"$mpiexec" -np 2 --oversubscribe "$work/consumer/consumer"
"$work/prefix/bin/parakit" sum --n 1000 --dist ones --json | grep -q '"sum":1000'
# examples/ builds on its own against the prefix, and its programs print what the in-tree
# build's print (tests/cli/test_examples.py checks those against independent references)
cmake -S "$source_dir/examples" -B "$work/examples" -G Ninja \
  -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CXX_FLAGS="$cxx_flags" -DCMAKE_EXE_LINKER_FLAGS="$cxx_flags" >/dev/null
cmake --build "$work/examples" >/dev/null
# (integers and correctly rounded sums: the same bits whatever the build flags)
for run in "monte_carlo_pi 100000" "prefix_max 100000 999" "exact_sum 1000"; do
  set -- $run
  installed="$("$mpiexec" -np 2 --oversubscribe "$work/examples/$1" "${@:2}")"
  in_tree="$(PARAKIT_THREADS=2 "$build_dir/examples/$1" "${@:2}")"
  # (exact_sum's third field, a plain double reduction, depends on the split)
  test "$(cut -d' ' -f1-2 <<<"$installed")" = "$(cut -d' ' -f1-2 <<<"$in_tree")"
  [ "$1" = exact_sum ] || test "$installed" = "$in_tree"
done
echo "install test: ok"
