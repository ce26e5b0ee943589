#!/usr/bin/env python3
"""Soak: a long farm of tiny tasks (the queue demo), with the master's resident memory sampled
every 0.1 s. It must finish with every result (done == N, sum == N(N-1)/2, and the farm's
checksum equal to one computed here independently from its definition) and the master's RSS
must stay flat: the median of the last tenth of the run within 10 % of the first tenth's (a
run too short for 10 samples fails: it proves nothing).
  bench/soak/farm_soak.py [--tasks 1e7] [--ranks 4 | --threads 2] [--chunk 1] [--interval S]
                          [--parakit PATH]
Prints one JSON object; exit 1 if a check fails. (Issue #7; the test suite runs 10^6 tasks with
--interval 0.01 as ctest soak.farm_*.)"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "cli"))
from farm_reference import queue_checksum  # noqa: E402,F401  (the checksum, by definition)
from parakit_cli import tagged_processes  # noqa: E402


def master_pid(tag, ranks):
    """The pid of rank 0 (under mpirun), or of the single process (threads)."""
    for pid, env in tagged_processes("PARAKIT_SOAK_TAG", tag).items():
        if ranks is None or env.get("OMPI_COMM_WORLD_RANK") == "0":
            return pid
    return None


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="1e7")
    parser.add_argument("--ranks", type=int, help="under mpirun -np RANKS --oversubscribe")
    parser.add_argument("--threads", type=int, default=2, help="thread backend (without --ranks)")
    parser.add_argument("--chunk", default="1",
                        help="tasks per request (default 1: every task a master round trip)")
    parser.add_argument("--interval", type=float, default=0.1, help="seconds between RSS samples")
    parser.add_argument("--parakit", default=os.environ.get(
        "PARAKIT", os.path.join(ROOT, "build", "release", "bin", "parakit")))
    args = parser.parse_args()
    n = int(float(args.tasks))
    tag = uuid.uuid4().hex
    env = dict(os.environ, PARAKIT_SOAK_TAG=tag, OMPI_ALLOW_RUN_AS_ROOT="1",
               OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    cmd = [args.parakit, "farm", "--demo", "queue", "--tasks", str(n), "--chunk", args.chunk,
           "--json"]
    if args.ranks:
        cmd = ["mpirun", "-np", str(args.ranks), "--oversubscribe"] + cmd
    else:
        cmd += ["--backend", "threads", "--threads", str(args.threads)]
    started = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    samples, pid = [], None
    while proc.poll() is None:
        pid = pid or master_pid(tag, args.ranks)
        if pid:
            value = rss_kib(pid)
            if value:
                samples.append((time.monotonic() - started, value))
        time.sleep(args.interval)
    out, err = proc.communicate()
    seconds = time.monotonic() - started
    report = {"tasks": n, "ranks": args.ranks, "threads": None if args.ranks else args.threads,
              "chunk": args.chunk, "seconds": seconds, "rc": proc.returncode,
              "rss_samples": len(samples)}
    ok = proc.returncode == 0
    try:
        result = json.loads(out.strip().splitlines()[-1])
        report.update(farm_seconds=result["seconds"], done=result["done"], result=result["result"],
                      tasks_per_second=result["tasks_per_second"], checksum=result["checksum"])
        report["expected_checksum"] = queue_checksum(n)
        ok = (ok and result["done"] == n and result["result"] == n * (n - 1) // 2
              and result["checksum"] == report["expected_checksum"])
    except (ValueError, IndexError, KeyError):
        report["stderr"] = err[-2000:]
        ok = False
    # The run is the farm itself (its reported seconds, counted back from the exit), not the
    # start-up before it (MPI_Init, the schedule's allocation), during which the RSS grows.
    if "done" in report:
        farm_started = seconds - result["seconds"]
        samples = [(t, v) for t, v in samples if t >= farm_started]
        report["rss_samples"] = len(samples)
    if len(samples) >= 10:
        span = samples[-1][0] - samples[0][0]
        first = [v for t, v in samples if t <= samples[0][0] + span / 10]
        last = [v for t, v in samples if t >= samples[-1][0] - span / 10]
        report.update(rss_first_tenth_kib=statistics.median(first),
                      rss_last_tenth_kib=statistics.median(last),
                      rss_peak_kib=max(v for _, v in samples))
        report["rss_growth"] = report["rss_last_tenth_kib"] / report["rss_first_tenth_kib"] - 1
        ok = ok and report["rss_growth"] <= 0.10
    else:
        report["note"] = "too short to sample the RSS (fewer than 10 samples)"
        ok = False
    report["ok"] = ok
    print(json.dumps(report))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
