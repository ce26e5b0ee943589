#!/usr/bin/env python3
"""The MPI farm master's CPU time per request at 2..16 ranks, and the model it feeds.

Runs `parakit farm --demo cost --cost ramp:0.1ms:2ms --chunk 1 --json` under mpirun at each
rank count (oversubscribed where the machine has fewer cores), and reads the farm report's
`master` block: requests answered, CPU time of the master's thread (CLOCK_THREAD_CPUTIME_ID),
of which idle polling and wake-ups. c = (cpu - idle) / requests is what one request costs the
master; it must not grow with the number of workers. From c and the mean task time t the model
(docs/ARCHITECTURE.md, "The farm master's capacity") gives the master's load U = W c / (k t)
for W workers and chunk k, the workers one master keeps busy (U = 1), and the efficiency bound.

    python3 bench/farm_master.py [--parakit PATH] [--ranks 2,4,8,16] [--tasks 4000] [--reps 3]
                                 [--json FILE]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1")


def run(parakit, ranks, tasks, cost):
    cmd = ["mpirun", "-np", str(ranks), parakit, "farm", "--demo", "cost", "--tasks", str(tasks),
           "--cost", cost, "--chunk", "1", "--json"]
    out = subprocess.run(cmd, env=ENV, check=True, capture_output=True, text=True, timeout=900)
    return json.loads(out.stdout)


def model(c, t, chunk, workers):
    """The master's load with `workers` workers, the workers it can serve, the bound on E."""
    load = workers * c / (chunk * t)
    return load, chunk * t / c, min(1.0, 1.0 / load) if load > 0 else 1.0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parakit", default=os.path.join(ROOT, "build/release/bin/parakit"))
    parser.add_argument("--ranks", default="2,4,8,16")
    parser.add_argument("--tasks", type=int, default=4000)
    parser.add_argument("--cost", default="ramp:0.1ms:2ms")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--json")
    args = parser.parse_args()
    lo, hi = (float(x.rstrip("ms")) * 1e-3 for x in args.cost.split(":")[1:3])
    mean_task = (lo + hi) / 2
    rows = []
    print(f"farm master, {args.tasks} tasks {args.cost}, chunk 1, {args.reps} reps (medians)")
    print(f"{'ranks':>5} {'requests':>9} {'naps':>7} {'cpu s':>8} {'idle s':>8} "
          f"{'us/request':>10} {'checksum':>17}")
    for ranks in (int(r) for r in args.ranks.split(",")):
        samples = [run(args.parakit, ranks, args.tasks, args.cost) for _ in range(args.reps)]
        if len({s["checksum"] for s in samples}) != 1:
            sys.exit(f"checksums differ at {ranks} ranks")
        m = [s["master"] for s in samples]
        row = {"ranks": ranks, "checksum": samples[0]["checksum"],
               "requests": statistics.median(x["requests"] for x in m),
               "naps": statistics.median(x["naps"] for x in m),
               "cpu_seconds": statistics.median(x["cpu_seconds"] for x in m),
               "idle_cpu_seconds": statistics.median(x["idle_cpu_seconds"] for x in m),
               "cpu_per_request_seconds": statistics.median(
                   x["cpu_per_request_seconds"] for x in m)}
        rows.append(row)
        print(f"{ranks:>5} {row['requests']:>9.0f} {row['naps']:>7.0f} {row['cpu_seconds']:>8.3f} "
              f"{row['idle_cpu_seconds']:>8.3f} {1e6 * row['cpu_per_request_seconds']:>10.2f} "
              f"{row['checksum']:>17}")
    if len({r["checksum"] for r in rows}) != 1:
        sys.exit("checksums differ between rank counts")
    c = max(r["cpu_per_request_seconds"] for r in rows)
    # Growth with the number of workers (ranks - 1): the least-squares slope of c against it.
    xs = [r["ranks"] - 1 for r in rows]
    ys = [r["cpu_per_request_seconds"] for r in rows]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    growth = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx > 0 else 0.0
    print(f"c = {1e6 * min(ys):.2f} .. {1e6 * c:.2f} us per request; slope against workers "
          f"{1e9 * growth:+.1f} ns per added worker ({100 * growth / my:+.1f}% of the mean c)")
    print("model: load U = W c / (k t); one master serves W* = k t / c workers")
    for t, k, w in ((mean_task, 1, 15), (1e-3, 1, 1000), (1e-3, 8, 1000), (1e-4, 1, 64)):
        load, served, bound = model(c, t, k, w)
        print(f"  t = {1e3 * t:g} ms, chunk {k}, {w} workers: U = {load:.3f}, W* = {served:.0f}, "
              f"efficiency <= {bound:.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"tasks": args.tasks, "cost": args.cost, "reps": args.reps,
                       "c_seconds": c, "slope_seconds_per_worker": growth, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
