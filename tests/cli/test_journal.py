"""CLI tests of `parakit journal`: the summary of a farm's journal while the farm writes it
and after, the export against what the farm's sink received and against an independent reader
of the journal (farm_reference.py), parakit 0.1's journals, command farms' failures (exit code,
signal, command line, log paths), and that the file is never changed."""
import csv
import hashlib
import json
import os
import tempfile
import time
import unittest

from farm_reference import Journal
from parakit_cli import HANG_SECONDS, REPO, finish, run, start

THREADS = ["--backend", "threads", "--threads", "2"]
FIXTURES = os.path.join(REPO, "tests", "fixtures", "journal-v1")
COUNTS = ("tasks", "done", "failed", "timed_out", "interrupted", "not_run")


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class JournalTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="parakit-journal-")
        self.dir = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def path(self, *names):
        return os.path.join(self.dir, *names)

    def inspect(self, journal, *extra, code=0):
        r = run(["journal", journal, "--json"] + list(extra))
        self.assertEqual(r.code, code, r.err)
        return r.json()

    def farm(self, *args):
        r = run(["farm", "--json"] + THREADS + list(args))
        self.assertIn(r.code, (0, 1), r.err)
        return r.json()

    def export(self, journal, fmt):
        out = self.path(f"export.{fmt}")
        r = run(["journal", journal, "--export", fmt, out, "--json"])
        self.assertEqual(r.code, 0, r.err)
        with open(out, newline="") as f:
            rows = list(csv.DictReader(f)) if fmt == "csv" else [json.loads(x) for x in f]
        return r.json(), rows


class Summary(JournalTest):
    def test_counts_equal_the_farms_report(self):
        journal = self.path("j")
        farm = self.farm("--demo", "queue", "--tasks", "500", "--fail-every", "7",
                         "--journal", journal)
        before = digest(journal)
        doc = self.inspect(journal)
        self.assertEqual(digest(journal), before, "parakit journal changed the file")
        for key in ("tasks", "done", "failed", "timed_out", "interrupted", "not_run"):
            self.assertEqual(doc[key], farm[key], key)
        self.assertEqual((doc["kind"], doc["version"], doc["running"]), ("farm queue", 2, False))
        self.assertEqual(doc["records"], 500)
        self.assertIsNone(doc["eta_seconds"])
        self.assertEqual([f["id"] for f in doc["first_failures"]], list(range(6, 6 + 70, 7)))
        self.assertIn("injected failure of task 6", doc["first_failures"][0]["error"])
        self.assertEqual(doc["first_failures"][0]["attempts"], 1)
        text = run(["journal", journal])
        self.assertEqual(text.code, 0, text.err)
        self.assertRegex(text.out, r"done\s+429\s+failed 71 \(timed out 0\)")
        self.assertRegex(text.out, r"running\s+no\n")
        self.assertIn("failed     task 6 (failed, injected failure of task 6", text.out)

    def test_inspected_while_the_farm_writes_it(self):
        """Counts only grow, never pass the final ones, and the farm is never disturbed."""
        journal = self.path("j")
        proc = start(["farm", "--json", "--demo", "cost", "--tasks", "1500", "--cost",
                      "uniform:1ms:2ms", "--cost-mode", "sleep", "--chunk", "1",
                      "--fail-every", "50", "--journal", journal] + THREADS)
        seen, running = [], []
        deadline = time.monotonic() + HANG_SECONDS
        while proc.poll() is None and time.monotonic() < deadline:
            if os.path.exists(journal) and os.path.getsize(journal) > 64:
                r = run(["journal", journal, "--json"])
                self.assertEqual(r.code, 0, r.err)
                doc = r.json()
                seen.append(doc)
                running.append(doc["running"])
                if doc["running"] and doc["not_run"] and doc["rate"]:
                    self.assertGreater(doc["eta_seconds"], 0)
            time.sleep(0.05)
        farm = finish(proc)
        self.assertIn(farm.code, (0, 1), farm.err)
        final = farm.json()
        self.assertTrue(any(running), "never saw the farm running")
        for before, after in zip(seen, seen[1:]):
            for key in ("done", "failed"):
                self.assertLessEqual(before[key], after[key], key)
        for doc in seen:
            for key in ("done", "failed"):
                self.assertLessEqual(doc[key], final[key], key)
            self.assertEqual(doc["tasks"], final["tasks"])
        after = self.inspect(journal)
        for key in COUNTS:
            self.assertEqual(after[key], final[key], key)
        self.assertFalse(after["running"])
        self.assertIsNone(after["eta_seconds"])
        self.assertGreater(after["rate"], 0)

    def test_a_torn_tail_without_a_writer_is_a_warning(self):
        journal = self.path("j")
        self.farm("--demo", "queue", "--tasks", "50", "--journal", journal)
        with open(journal, "r+b") as f:
            f.truncate(os.path.getsize(journal) - 5)
        r = run(["journal", journal, "--json"])
        self.assertEqual(r.code, 0, r.err)
        doc = r.json()
        self.assertEqual(doc["done"], 49)
        self.assertFalse(doc["being_written"])
        self.assertGreater(doc["torn_tail_bytes"], 0)
        self.assertIn("parakit: warning:", r.err)
        self.assertIn("torn last record", r.err)

    def test_version_1_journals_stay_readable_without_times(self):
        queue = os.path.join(FIXTURES, "queue-v1.journal")
        before = digest(queue)
        doc = self.inspect(queue)
        self.assertEqual(digest(queue), before)
        self.assertEqual((doc["version"], doc["kind"], doc["tasks"]), (1, "farm queue", 200))
        self.assertEqual((doc["done"], doc["not_run"]), (120, 80))
        for key in ("rate", "eta_seconds", "first_completed", "last_completed"):
            self.assertIsNone(doc[key], key)
        text = run(["journal", queue])
        self.assertEqual(text.code, 0, text.err)
        self.assertIn("not recorded (journal format 1)", text.out)
        _, rows = self.export(queue, "csv")
        self.assertEqual(sorted(int(r["id"]) for r in rows), list(range(120)))
        for row in rows:
            self.assertEqual(row["result"], row["id"])
            self.assertEqual((row["completed_ns"], row["attempts"]), ("", ""))
        cost = self.inspect(os.path.join(FIXTURES, "cost-v1.journal"))
        self.assertGreater(cost["failed"], 0)
        commands = self.inspect(os.path.join(FIXTURES, "commands-v1.journal"))
        self.assertEqual(commands["kind"], "farm commands")
        for failure in commands["first_failures"]:
            self.assertIsNotNone(failure["exit_code"])
            self.assertIsNone(failure["command"])  # parakit 0.1 did not record it


class Export(JournalTest):
    def check_against_reference(self, journal, rows):
        """Each row is its task's deciding record as an independent reader finds it."""
        deciding = {}
        for rec in Journal(journal).records:
            old = deciding.get(rec.task_id)
            if old is None or (old.status != 0 and (rec.status != 3 or old.status == 3)):
                deciding[rec.task_id] = rec
        names = {0: "ok", 1: "failed", 2: "timed_out", 3: "interrupted"}
        self.assertEqual(sorted(int(r["id"]) for r in rows), sorted(deciding))
        for row in rows:
            rec = deciding[int(row["id"])]
            self.assertEqual(row["status"], names[rec.status])
            self.assertEqual(int(row["attempts"]), rec.attempts)
            self.assertEqual(int(row["completed_ns"]), rec.completed_ns)

    def test_queue_export_equals_what_the_sink_received(self):
        journal = self.path("j")
        farm = self.farm("--demo", "queue", "--tasks", "3000", "--fail-every", "11",
                         "--retries", "1", "--fail-attempts", "1", "--journal", journal)
        self.assertEqual(farm["failed"], 0)  # every injected failure succeeded on its retry
        for fmt in ("csv", "jsonl"):
            doc, rows = self.export(journal, fmt)
            self.assertEqual(doc["export"]["rows"], 3000)
            self.assertEqual(len(rows), 3000)
            self.assertEqual(sum(int(r["result"]) for r in rows), farm["result"])
            retried = sorted(int(r["id"]) for r in rows if int(r["attempts"]) == 2)
            self.assertEqual(retried, list(range(10, 3000, 11)))
            self.check_against_reference(journal, rows)

    def test_cost_export_with_failures_equals_the_farms_report(self):
        journal = self.path("j")
        farm = self.farm("--demo", "cost", "--tasks", "400", "--cost", "uniform:1us:5us",
                         "--fail-every", "9", "--journal", journal)
        doc, rows = self.export(journal, "jsonl")
        ok = [r for r in rows if r["status"] == "ok"]
        failed = [r for r in rows if r["status"] == "failed"]
        self.assertEqual(len(ok), farm["done"])
        self.assertEqual(len(failed), farm["failed"])
        failed_ids = sorted(r["id"] for r in failed)
        self.assertEqual(failed_ids[:len(farm["failures"])], [f["id"] for f in farm["failures"]])
        self.assertAlmostEqual(sum(int(r["result"]) for r in ok) * 1e-9, farm["cost_seconds"],
                               places=9)
        for r in failed:
            self.assertIsNone(r["result"])
            self.assertIn(f"injected failure of task {r['id']}", r["error"])
        self.check_against_reference(journal, rows)

    def test_a_failed_export_leaves_no_file(self):
        journal = self.path("j")
        self.farm("--demo", "queue", "--tasks", "20", "--journal", journal)
        with open(journal, "r+b") as f:  # corrupt a record in the middle
            f.seek(200)
            byte = f.read(1)
            f.seek(200)
            f.write(bytes([byte[0] ^ 0x5A]))
        out = self.path("rows.csv")
        r = run(["journal", journal, "--export", "csv", out])
        self.assertEqual(r.code, 2, r.err)
        self.assertIn("corrupt record at offset 200", r.err)
        self.assertEqual(sorted(os.listdir(self.dir)), ["j"])


class CommandFarm(JournalTest):
    def test_failures_name_the_command_its_exit_or_signal_and_its_logs(self):
        commands = self.path("commands.txt")
        with open(commands, "w") as f:
            f.write("# comment\necho ok {id}\nexit 3\n\nkill -TERM $$\n"
                    "echo out {#}; echo err >&2; exit 5\necho \"a, b\"\n")
        journal = self.path("j")
        logs = self.path("logs")
        farm = self.farm("--commands", commands, "--journal", journal, "--logdir", logs)
        doc = self.inspect(journal)
        for key in ("tasks", "done", "failed", "not_run"):
            self.assertEqual(doc[key], farm[key], key)
        self.assertEqual((doc["tasks"], doc["done"], doc["failed"]), (5, 2, 3))
        by_id = {f["id"]: f for f in doc["first_failures"]}
        self.assertEqual(sorted(by_id), [2, 4, 5])
        self.assertEqual((by_id[2]["exit_code"], by_id[2]["command"]), (3, "exit 3"))
        self.assertEqual(by_id[4]["signal"], 15)
        self.assertEqual(by_id[5]["command"], "echo out 6; echo err >&2; exit 5")
        self.assertEqual(by_id[5]["stdout"], os.path.join(logs, "0", "5.out"))
        self.assertEqual(by_id[5]["stderr"], os.path.join(logs, "0", "5.err"))
        with open(by_id[5]["stdout"]) as f:
            self.assertEqual(f.read(), "out 6\n")
        text = run(["journal", journal])
        self.assertIn("failed     task 2 (failed, exit 3)", text.out)
        self.assertIn("failed     task 4 (failed, signal 15)", text.out)
        self.assertIn("command echo out 6; echo err >&2; exit 5", text.out)
        self.assertIn(by_id[5]["stderr"], text.out)
        _, rows = self.export(journal, "csv")
        self.assertEqual(sorted(int(r["id"]) for r in rows), [1, 2, 4, 5, 6])
        self.assertEqual(next(r for r in rows if r["id"] == "6")["command"], 'echo "a, b"')
        row = next(r for r in rows if r["id"] == "1")
        self.assertEqual((row["exit_code"], row["command"]), ("0", "echo ok 1"))
        self.assertGreater(float(row["runtime_seconds"]), 0)


if __name__ == "__main__":
    unittest.main()
