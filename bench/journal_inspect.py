#!/usr/bin/env python3
"""Times `parakit journal` on a big journal: the status (counts, failures, rate) and both
exports, against the time to read the file (read() in 4 MiB blocks), all from the page cache.
The journal is a queue-demo farm's of SIZE bytes (default 1 GB: 2 x 10^7 records of 50 bytes,
as bench/soak/journal_resume.py makes), or an existing one (--journal).
  bench/journal_inspect.py [--size 1GB] [--reps 3] [--dir DIR] [--journal FILE] [--parakit PATH]
Prints one JSON object: medians in seconds and the ratios to the read time (the aim for the
status is <= 2). Exit 1 if the status disagrees with the journal (every task done)."""
import argparse
import json
import os
import statistics
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "soak"))
from journal_resume import HEADER, RECORD, parse_size, read_seconds, run  # noqa: E402
from farm_soak import ROOT  # noqa: E402


def make_journal(parakit, path, size, threads):
    n = max(10, (parse_size(size) - HEADER) // RECORD)
    _, seconds = run([parakit, "farm", "--demo", "queue", "--tasks", str(n), "--journal", path,
                      "--backend", "threads", "--threads", str(threads), "--json"])
    return n, seconds


def timed(cmd, reps):
    """Median wall seconds of `reps` runs, and the last run's stdout."""
    times, out = [], ""
    for _ in range(reps):
        proc, seconds = run(cmd)
        times.append(seconds)
        out = proc.stdout
    return statistics.median(times), out


def measure(parakit, journal, reps, scratch):
    read_seconds(journal)  # warm the page cache
    read = statistics.median(read_seconds(journal) for _ in range(reps))
    status, out = timed([parakit, "journal", journal, "--json"], reps)
    report = {"journal_bytes": os.path.getsize(journal), "read_seconds": read,
              "read_gb_per_s": os.path.getsize(journal) / read / 1e9,
              "status_seconds": status, "status_ratio": status / read,
              "summary": json.loads(out)}
    for fmt in ("csv", "jsonl"):
        target = os.path.join(scratch, f"rows.{fmt}")
        seconds, _ = timed([parakit, "journal", journal, "--export", fmt, target], reps)
        report[f"export_{fmt}_seconds"] = seconds
        report[f"export_{fmt}_ratio"] = seconds / read
        report[f"export_{fmt}_bytes"] = os.path.getsize(target)
        os.unlink(target)
    return report


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1GB", help="journal size to make (e.g. 1GB, 100MB)")
    parser.add_argument("--journal", help="time this journal instead of making one")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--dir", help="where to put the journal and exports (default: temp)")
    parser.add_argument("--parakit", default=os.environ.get(
        "PARAKIT", os.path.join(ROOT, "build", "release", "bin", "parakit")))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="parakit-inspect-", dir=args.dir) as tmp:
        report = {}
        journal = args.journal
        if not journal:
            journal = os.path.join(tmp, "big.journal")
            report["tasks"], report["farm_seconds"] = make_journal(args.parakit, journal,
                                                                   args.size, args.threads)
        report.update(measure(args.parakit, journal, args.reps, tmp))
    summary = report["summary"]
    report["ok"] = args.journal is not None or (
        summary["done"] == report["tasks"] and summary["not_run"] == 0
        and summary["running"] is False)
    print(json.dumps(report))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
