#!/usr/bin/env bash
# Hypercube grid counts, n = 2e7 standard-normal 2-D samples (philox), 200x200 grid, 20 widths
# 0.05..0.5, 2 threads: range (auto's choice) vs the band sweep vs the k-d tree, in one run,
# over the default bounds and over [-2, 2]^2. Usage: grid_algorithms.sh PARAKIT
set -euo pipefail
BIN=${1:-build/release/bin/parakit}
for grid in 200x200 200x200:-2:2:-2:2; do
  for algo in range tree sweep; do
    "$BIN" kde --samples 20000000 --rng philox --grid "$grid" --widths 0.05:0.5:20 --threads 2 \
      --algo "$algo" --json | python3 -c "import json,sys; r=json.load(sys.stdin); import hashlib; print('$grid', '$algo', r['seconds'], r.get('algo'), hashlib.md5(json.dumps(r['counts']).encode()).hexdigest()[:12])"
  done
done
