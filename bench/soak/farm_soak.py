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
from parakit_cli import tagged_processes  # noqa: E402

try:  # NumPy, or Debian's python3-numpy when this interpreter (a pyenv one) lacks it
    import numpy as np
except ImportError:
    sys.path.append("/usr/lib/python3/dist-packages")
    try:
        import numpy as np
    except ImportError:
        np = None

MASK = (1 << 64) - 1


def queue_checksum(n):
    """The farm's order-independent checksum of the queue demo (task id -> result id, status
    ok), from its definition in farm_master.hpp and codec.hpp: the sum mod 2^64 over ids of
    mix64(mix64(id) ^ hash_bytes(8 little-endian bytes of id)); hash_bytes is FNV-1a 64 with
    a final avalanche."""
    if np is not None:
        u = np.uint64
        with np.errstate(over="ignore"):
            ids = np.arange(n, dtype=np.uint64)

            def mix(x):
                x = x + u(0x9e3779b97f4a7c15)
                x = (x ^ (x >> u(30))) * u(0xbf58476d1ce4e5b9)
                x = (x ^ (x >> u(27))) * u(0x94d049bb133111eb)
                return x ^ (x >> u(31))
            h = np.full(n, 0xcbf29ce484222325, dtype=np.uint64)
            for k in range(8):
                h = (h ^ ((ids >> u(8 * k)) & u(0xFF))) * u(0x100000001b3)
            h ^= h >> u(33)
            h *= u(0xff51afd7ed558ccd)
            h ^= h >> u(33)
            return f"{int(mix(mix(ids) ^ h).sum(dtype=np.uint64)):016x}"

    def mix(x):
        x = (x + 0x9e3779b97f4a7c15) & MASK
        x = ((x ^ (x >> 30)) * 0xbf58476d1ce4e5b9) & MASK
        x = ((x ^ (x >> 27)) * 0x94d049bb133111eb) & MASK
        return x ^ (x >> 31)
    total = 0
    for i in range(n):
        h = 0xcbf29ce484222325
        for k in range(8):
            h = ((h ^ ((i >> (8 * k)) & 0xFF)) * 0x100000001b3) & MASK
        h ^= h >> 33
        h = (h * 0xff51afd7ed558ccd) & MASK
        h ^= h >> 33
        total += mix(mix(i) ^ h)
    return f"{total & MASK:016x}"


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
