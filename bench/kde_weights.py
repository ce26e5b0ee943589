#!/usr/bin/env python3
"""What sample weights and the ISJ rule cost: `parakit kde` on the 2-D mixture of bench/peers
(kde-gauss-large: 10^5 samples, 100x100 grid, h = 0.15, exact mode) with and without
`--weights`, and, with --baseline, the same unweighted job on another parakit binary (an A/B of
the unweighted path, interleaved round by round); plus `--bandwidth isj` on 1-D samples of
10^5 to 10^7 and a weighted Gaussian LOO-CV (2*10^4 samples, 40 widths) against its
unweighted twin.

    python3 bench/kde_weights.py [--parakit PATH] [--baseline PATH] [--reps 5] [--json FILE]

Times are parakit's `seconds` / `cv_seconds` (the kernel; data already loaded), medians; ISJ's
is the wall time of a run with it less that of the same run with Scott's rule."""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(HERE, "peers"))
from peers import gauss_mixture as mixture  # noqa: E402  (the peers' data)
sys.path.insert(0, HERE)
from kde_binned import run  # noqa: E402  (parakit kde --json on threads)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parakit", default=os.path.join(ROOT, "build/release/bin/parakit"))
    parser.add_argument("--baseline", help="another parakit binary for the unweighted A/B")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        x = mixture(100000)
        weights = np.random.default_rng(3).exponential(1.0, len(x))
        paths = {k: os.path.join(tmp, k + ".npy") for k in ["x", "w", "cx", "cw"]}
        np.save(paths["x"], x)
        np.save(paths["w"], weights)
        np.save(paths["cx"], x[:20000])
        np.save(paths["cw"], weights[:20000])
        grid = ["--input", paths["x"], "--kernel", "gaussian", "--grid", "100x100",
                "--widths", "0.15"]
        jobs = {"unweighted": (args.parakit, grid),
                "weighted": (args.parakit, grid + ["--weights", paths["w"]])}
        if args.baseline:
            jobs["baseline unweighted"] = (args.baseline, grid)
        times = {name: [] for name in jobs}
        for _ in range(args.reps):  # interleaved: drift on a shared machine hits every job
            for name, (binary, job) in jobs.items():
                times[name].append(run(binary, job, args.threads)["seconds"])
        for name, values in times.items():
            results["grid " + name] = statistics.median(values)
        cv = ["--input", paths["cx"], "--kernel", "gaussian", "--cv", "--widths", "0.02:1.0:40"]
        for name, job in [("cv unweighted", cv), ("cv weighted", cv + ["--weights", paths["cw"]])]:
            results[name] = statistics.median(
                run(args.parakit, job, args.threads)["cv_seconds"] for _ in range(max(1, args.reps // 2)))
        # ISJ's cost: the whole run with --bandwidth isj less the same run with scott (the
        # hypercube at one point: reading the file dominates the rest).
        for n in [10 ** 5, 10 ** 6, 10 ** 7]:
            one = os.path.join(tmp, "one.npy")
            np.save(one, mixture(n)[:, :1])
            walls = {}
            for rule in ["isj", "scott"]:
                walls[rule] = []
                for _ in range(args.reps):
                    started = time.perf_counter()
                    doc = run(args.parakit, ["--input", one, "--bandwidth", rule, "--point", "0"],
                              args.threads)
                    walls[rule].append(time.perf_counter() - started)
                    if rule == "isj":
                        results[f"isj n={n} h"] = doc["bandwidth"]["h"]
            results[f"isj n={n}"] = statistics.median(walls["isj"]) - statistics.median(
                walls["scott"])
    print("job                         seconds")
    for name, value in results.items():
        print(f"{name:26s} {value:10.4g}")
    if "grid baseline unweighted" in results:
        print(f"unweighted new / baseline: {results['grid unweighted'] / results['grid baseline unweighted']:.3f}")
    print(f"weighted / unweighted grid: {results['grid weighted'] / results['grid unweighted']:.3f}")
    print(f"weighted / unweighted CV:   {results['cv weighted'] / results['cv unweighted']:.3f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
