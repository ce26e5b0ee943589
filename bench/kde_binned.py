#!/usr/bin/env python3
"""The binned KDE's error against its time: `parakit kde --approx binned:CELLS` for CELLS from
64 to 4096 per dimension against the exact mode, on the same 2-D mixture and 100x100 grid as
bench/peers (kde-gauss), plus the jobs KDEpy publishes figures for (its machine: a 2-D 100x100
grid in about 0.005 s; 1-D, n = 10^6 on 1024 points in about 0.01 s) and a 2-D 1024x1024 grid
from 10^7 samples on 2 workers.

    python3 bench/kde_binned.py [--parakit PATH] [--reps 3] [--json FILE]

Times are parakit's `seconds` (binning, FFT and interpolation; data already loaded), medians.
The error is the largest relative difference to the exact densities where the density is at
least 1e-3 of its largest."""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


sys.path.insert(0, os.path.join(HERE, "peers"))
from peers import gauss_mixture as mixture  # noqa: E402  (the peers' data, the same samples)


def run(binary, args, threads):
    cmd = [binary, "kde"] + args + ["--json", "--backend", "threads", "--threads", str(threads)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def timed(binary, args, threads, reps):
    docs = [run(binary, args, threads) for _ in range(reps)]
    return statistics.median(d["seconds"] for d in docs), docs[-1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parakit", default=os.environ.get(
        "PARAKIT", os.path.join(ROOT, "build", "release", "bin", "parakit")))
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--json", metavar="FILE", help="also write the figures to FILE")
    args = parser.parse_args()
    report = {"table": [], "kdepy_jobs": []}
    with tempfile.TemporaryDirectory(prefix="parakit-binned-") as tmp:
        samples = mixture(20000)
        lo, hi = samples.min(axis=0), samples.max(axis=0)
        gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], 100), np.linspace(lo[1], hi[1], 100),
                             indexing="ij")
        s_path, p_path = os.path.join(tmp, "s.npy"), os.path.join(tmp, "p.npy")
        np.save(s_path, samples)
        np.save(p_path, np.column_stack([gx.ravel(), gy.ravel()]))
        base = ["--input", s_path, "--points", p_path, "--kernel", "gaussian", "--widths", "0.2"]
        exact_out = os.path.join(tmp, "exact.npy")
        exact_s, _ = timed(args.parakit, base + ["--out", exact_out], 1, args.reps)
        exact = np.load(exact_out)[:, 0]
        mask = exact >= 1e-3 * exact.max()
        print("exact mode: %.4f s (1 thread)" % exact_s)
        print("%8s %12s %14s %12s" % ("cells", "seconds", "max rel error", "estimate"))
        for cells in [64, 128, 256, 512, 1024, 2048, 4096]:
            out = os.path.join(tmp, "b.npy")
            sec, doc = timed(args.parakit, base + ["--approx", "binned:%d" % cells, "--out", out],
                             1, args.reps)
            got = np.load(out)[:, 0]
            error = float(np.max(np.abs(got[mask] - exact[mask]) / exact[mask]))
            row = {"cells": cells, "seconds": sec, "max_rel_error": error,
                   "error_estimate": doc["approx"]["error_estimate"], "exact_seconds": exact_s}
            report["table"].append(row)
            print("%8d %12.4f %14.2e %12.2e" % (cells, sec, error, row["error_estimate"]))
        default_out = os.path.join(tmp, "d.npy")
        sec, doc = timed(args.parakit, base + ["--approx", "binned", "--out", default_out], 1,
                         args.reps)
        got = np.load(default_out)[:, 0]
        error = float(np.max(np.abs(got[mask] - exact[mask]) / exact[mask]))
        report["default"] = {"cells": doc["approx"]["cells"][0], "seconds": sec,
                             "max_rel_error": error}
        print("default (%s): %.4f s, max rel error %.2e" % (
            "x".join(map(str, doc["approx"]["cells"][0])), sec, error))

        jobs = [("2-D, 2e4 samples, 100x100 grid (KDEpy: ~0.005 s)", 1,
                 base[:2] + ["--kernel", "gaussian", "--widths", "0.2", "--grid", "100x100",
                             "--approx", "binned:100"]),
                ("1-D, 1e6 samples, 1024 points (KDEpy: ~0.01 s)", 1,
                 ["--samples", "1000000", "--rng", "philox", "--dim", "1", "--kernel",
                  "gaussian", "--widths", "0.05", "--grid", "1024", "--approx", "binned:1024"]),
                ("2-D, 1e7 samples, 1024x1024 grid, 2 workers", 2,
                 ["--samples", "10000000", "--rng", "philox", "--dim", "2", "--kernel",
                  "gaussian", "--widths", "0.05", "--grid", "1024x1024", "--approx",
                  "binned:1024", "--out", os.path.join(tmp, "big.npy")])]
        for label, threads, job in jobs:
            sec, _ = timed(args.parakit, job, threads, args.reps)
            report["kdepy_jobs"].append({"job": label, "workers": threads, "seconds": sec})
            print("%-55s %.4f s" % (label, sec))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
