#!/usr/bin/env python3
"""Issue #19: does --progress cost anything? Run from the repository root:
    bench/results/2026-12-08-issue19/progress/run.py OLD_BIN NEW_BIN
1. `parakit bench all --limits --reps 3` on threads (--threads 2) and under mpirun -np 2 with
   OLD_BIN (the commit before the change), NEW_BIN and NEW_BIN --progress, alternated, ROUNDS
   rounds; each configuration's samples pooled into {old,new,progress}-{threads,mpi}.json.
2. The commands themselves with and without --progress (every counter and line on, a line
   every 0.25 s on the log): kde grid, kde CV, a streamed sum and a farm of small tasks, their
   --json seconds, alternated (direct.json, direct.txt).
PART=1, PART=2 or PART=compare runs one part (compare: compare.txt from the pooled files)."""
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROUNDS = int(os.environ.get("ROUNDS", "2"))
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
MPI = ["mpirun", "-np", "2"]


def bench(binary, launch, extra, out):
    cmd = launch + [binary, "bench", "all", "--limits", "--reps", "3", "--out", out] + extra
    if not launch:
        cmd += ["--threads", "2"]
    with open(out + ".stderr", "w") as err:
        subprocess.run(cmd, check=True, env=ENV, stdout=subprocess.DEVNULL, stderr=err)


def pool(paths, out):
    docs = [json.load(open(p)) for p in paths]
    doc = docs[0]
    doc["samples"] = [s for d in docs for s in d["samples"]]
    doc.pop("rows", None)  # --compare reads the samples
    json.dump(doc, open(out, "w"), indent=1)


def part1(old, new):
    configs = {"old": (old, []), "new": (new, []), "progress": (new, ["--progress"])}
    for backend, launch in [("threads", []), ("mpi", MPI)]:
        runs = {name: [] for name in configs}
        for r in range(ROUNDS):
            order = list(configs) if r % 2 == 0 else list(reversed(configs))
            for name in order:
                binary, extra = configs[name]
                out = os.path.join(HERE, "raw", f"{name}-{backend}-{r}.json")
                print(f"bench {name} {backend} round {r}", flush=True)
                bench(binary, launch, extra, out)
                runs[name].append(out)
        for name, paths in runs.items():
            pool(paths, os.path.join(HERE, f"{name}-{backend}.json"))


DIRECT = {
    "kde-grid": (["kde", "--kernel", "gaussian", "--samples", "4000", "--grid", "80x80"],
                 "seconds"),
    "kde-cv": (["kde", "--kernel", "gaussian", "--samples", "20000", "--point", "0,0", "--cv",
                "loglik", "--widths", "0.1:1.5:6"], "cv_seconds"),
    "sum-streamed": (["sum", "--input", "/tmp/issue19-progress.npy", "--memory-budget",
                      "16MiB", "--repeat", "3"], "seconds"),
    "farm-queue": (["farm", "--demo", "queue", "--tasks", "300000"], "seconds"),
}


def part2(new, reps=5):
    if not os.path.exists("/tmp/issue19-progress.npy"):  # 256 MiB of float64
        subprocess.run([new, "sum", "--n", "2^25", "--save-data", "/tmp/issue19-progress.npy",
                        "--backend", "threads"], check=True, env=ENV, stdout=subprocess.DEVNULL)
    results = []
    for backend, launch in [("threads", []), ("mpi", MPI)]:
        for name, (args, field) in DIRECT.items():
            times = {"off": [], "on": []}
            for r in range(reps):
                for mode in (["off", "on"] if r % 2 == 0 else ["on", "off"]):
                    extra = ["--progress", "--progress-interval", "0.25"] if mode == "on" else []
                    cmd = launch + [new] + args + ["--json"] + extra
                    if not launch:
                        cmd += ["--threads", "2"]
                    p = subprocess.run(cmd, check=True, env=ENV, capture_output=True, text=True)
                    times[mode].append(json.loads(p.stdout)[field])
                    if mode == "on":
                        assert "finished" in p.stderr, p.stderr
            results.append({"workload": name, "backend": backend, "field": field, **times})
            print(name, backend, times, flush=True)
    json.dump(results, open(os.path.join(HERE, "direct.json"), "w"), indent=1)
    with open(os.path.join(HERE, "direct.txt"), "w") as f:
        f.write(f"# {reps} alternated runs each; --progress --progress-interval 0.25 "
                "(stderr a file)\n")
        f.write(f"{'workload':14} {'backend':8} {'off median':>11} {'on median':>11} "
                f"{'ratio':>6}  off [min, max]        on [min, max]\n")
        for r in results:
            off, on = statistics.median(r["off"]), statistics.median(r["on"])
            f.write(f"{r['workload']:14} {r['backend']:8} {off:11.5f} {on:11.5f} {on / off:6.3f}"
                    f"  [{min(r['off']):.5f}, {max(r['off']):.5f}]  "
                    f"[{min(r['on']):.5f}, {max(r['on']):.5f}]\n")


def compare(new):
    with open(os.path.join(HERE, "compare.txt"), "w") as f:
        f.write(f"# bench all --limits --reps 3, {ROUNDS} alternated rounds per configuration, "
                "samples pooled\n")
        for backend in ["threads", "mpi"]:
            for a, b in [("old", "new"), ("new", "progress"), ("old", "progress")]:
                p = subprocess.run([new, "bench", "--compare", f"{a}-{backend}.json",
                                    f"{b}-{backend}.json"], cwd=HERE, check=True, env=ENV,
                                   capture_output=True, text=True)
                f.write(f"\n## {a} -> {b} ({backend})\n" + p.stdout)


if __name__ == "__main__":
    old, new = sys.argv[1], sys.argv[2]
    os.makedirs(os.path.join(HERE, "raw"), exist_ok=True)
    if os.environ.get("PART", "12") in ("1", "12"):
        part1(old, new)
        compare(new)
    if os.environ.get("PART", "12") in ("2", "12"):
        part2(new)
    if os.environ.get("PART") == "compare":
        compare(new)
