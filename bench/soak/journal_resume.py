#!/usr/bin/env python3
"""Big journal: a queue-demo farm whose journal is SIZE bytes (default 1 GB) is killed (the
PARAKIT_FAULT drill: the master dies half-way through writing a record, 90 % of the way
through), resumed to completion, and then resumed again with nothing left to run. Checks:
the killed run leaves exactly K-1 intact records, the resume takes them all and ends with the
queue demo's exact sum and a checksum computed here from its definition, and the final journal
holds every task once. Reports the time of a resume that only reads the journal against the
time to read the file (read() in 4 MiB blocks): warm (page cache) and, where this user may
drop the page cache (/proc/sys/vm/drop_caches), cold.
  bench/soak/journal_resume.py [--size 1GB] [--reps 3] [--dir DIR] [--parakit PATH]
Prints one JSON object; exit 1 if a check fails (the time ratio is reported, never checked).
The test suite runs it with --size 100MB --reps 1 --no-cold (ctest soak.journal_100mb)."""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from farm_soak import ROOT, queue_checksum  # noqa: E402

RECORD = 41 + 1 + 8  # a queue-demo record (journal format 2): head, payload kind, u64 result
HEADER = 20 + 20 + len("farm queue")


def parse_size(text):
    units = {"KB": 10**3, "MB": 10**6, "GB": 10**9, "K": 2**10, "M": 2**20, "G": 2**30}
    for unit, factor in units.items():
        if text.upper().endswith(unit):
            return int(float(text[:-len(unit)]) * factor)
    return int(float(text))


def run(cmd, env=None, check=True):
    started = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True,
                          env=dict(os.environ, **(env or {})))
    seconds = time.monotonic() - started
    if check and proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr[-2000:]}")
    return proc, seconds


def read_seconds(path):
    buf = bytearray(4 << 20)
    started = time.monotonic()
    with open(path, "rb", buffering=0) as f:
        while f.readinto(buf):
            pass
    return time.monotonic() - started


def drop_caches():
    try:
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError:
        return False


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1GB", help="journal size (e.g. 1GB, 100MB)")
    parser.add_argument("--reps", type=int, default=3, help="timed resumes (and reads) each")
    parser.add_argument("--dir", help="where to put the journal (default: a temp directory)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-cold", action="store_true",
                        help="skip the cold-cache timings (they drop the whole page cache)")
    parser.add_argument("--parakit", default=os.environ.get(
        "PARAKIT", os.path.join(ROOT, "build", "release", "bin", "parakit")))
    args = parser.parse_args()
    n = max(10, (parse_size(args.size) - HEADER) // RECORD)
    kill_at = n * 9 // 10
    with tempfile.TemporaryDirectory(prefix="parakit-journal-", dir=args.dir) as tmp:
        journal = os.path.join(tmp, "big.journal")
        farm = [args.parakit, "farm", "--demo", "queue", "--tasks", str(n), "--journal", journal,
                "--backend", "threads", "--threads", str(args.threads), "--json"]
        report = {"tasks": n, "kill_at_record": kill_at}
        checks = {}
        killed, report["first_run_seconds"] = run(
            farm, env={"PARAKIT_FAULT": f"journal-record#{kill_at}:kill@0"}, check=False)
        checks["killed by the drill"] = killed.returncode == -9
        torn = os.path.getsize(journal)
        checks["K-1 records and a torn half record"] = (
            HEADER + (kill_at - 1) * RECORD < torn < HEADER + kill_at * RECORD)
        resumed, report["resume_and_finish_seconds"] = run(farm + ["--resume"])
        first = json.loads(resumed.stdout)
        expected = queue_checksum(n)
        checks["resume took K-1 records"] = first["resumed"] == kill_at - 1
        checks["resume finished every task"] = (first["done"], first["failed"]) == (n, 0)
        checks["exact sum"] = first["result"] == n * (n - 1) // 2
        checks["checksum"] = first["checksum"] == expected
        checks["torn tail reported"] = "torn last record" in resumed.stderr
        size = os.path.getsize(journal)
        checks["journal holds every task once"] = size == HEADER + n * RECORD
        report.update(journal_bytes=size, checksum=first["checksum"], expected_checksum=expected)

        unchanged = []  # one verdict per read-only resume

        def read_only_resume():
            """Resumes a complete journal: (wall seconds, the farm's own seconds)."""
            proc, wall = run(farm + ["--resume"])
            doc = json.loads(proc.stdout)
            unchanged.append(doc["resumed"] == n and doc["checksum"] == expected
                             and os.path.getsize(journal) == size)
            return wall, doc["seconds"]

        read_seconds(journal)  # warm the page cache
        reads = statistics.median(read_seconds(journal) for _ in range(args.reps))
        walls, farms = zip(*(read_only_resume() for _ in range(args.reps)))
        report["warm"] = {"read_seconds": reads, "resume_seconds": statistics.median(walls),
                          "resume_farm_seconds": statistics.median(farms),
                          "ratio": statistics.median(walls) / reads}
        if not args.no_cold and drop_caches():
            cold_reads, cold_walls = [], []
            for _ in range(args.reps):
                drop_caches()
                cold_reads.append(read_seconds(journal))
                drop_caches()
                cold_walls.append(read_only_resume()[0])
            report["cold"] = {"read_seconds": statistics.median(cold_reads),
                              "resume_seconds": statistics.median(cold_walls),
                              "ratio": statistics.median(cold_walls)
                              / statistics.median(cold_reads)}
        else:
            report["cold"] = ("not measured (--no-cold)" if args.no_cold else
                              "not measured (cannot write /proc/sys/vm/drop_caches)")
        report["read_gb_per_s"] = size / reads / 1e9
        checks["a read-only resume changes nothing"] = all(unchanged)
    report["checks"] = checks
    report["ok"] = all(checks.values())
    print(json.dumps(report))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
