"""CLI tests of `parakit farm`: the queue demo's sum and the order-independent checksum on every
backend and schedule, failing tasks and retries, the journal (SIGTERM / SIGINT and resume,
torn and corrupt records, a mismatched task list), kill -9 of a worker rank under mpirun and
of the master in the middle of writing a journal record (threads and mpirun),
commands mode (logs, placeholders, the GNU parallel joblog, timeouts, resume) and bad input.

The journal is read back here by an independent reader of the layouts documented in
lib/include/parakit/io/journal.hpp (farm_reference.py), so the tests can count, find and
damage records without trusting parakit's own scanner."""
import os
import shlex
import signal
import struct
import tempfile
import time
import unittest
import uuid

import farm_reference as ref
from farm_reference import Journal
from parakit_cli import (FAST_PROGRESS, HANG_SECONDS, REPO, STOP_SECONDS, assert_took_less,
                         finish, processes_left, progress_done, progress_lines, run, start,
                         tagged_processes, wait_for_progress)

THREADS = ["--backend", "threads", "--threads", "2"]
TAG = "PARAKIT_TEST_TAG"
# The cost demo that the signal and crash tests interrupt: ~2.5 ms per task, spent sleeping.
COST = ["farm", "--demo", "cost", "--cost", "uniform:2ms:3ms", "--cost-mode", "sleep",
        "--chunk", "1"]
# A progress line every second on a pipe (the tests below wait for one; the default is 10 s).
WITH_PROGRESS = ["--progress", "--progress-interval", "1"]


def queue_sum(n):
    return n * (n - 1) // 2


def new_tag():
    return uuid.uuid4().hex


def count_records(path):
    try:
        return len(Journal(path).records)
    except (OSError, AssertionError, struct.error):
        return 0  # not created yet, or the header is still being written


def wait_for_records(path, count, proc, timeout=HANG_SECONDS):
    """Polls until the journal at `path` holds `count` valid records (or the process ended)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if count_records(path) >= count:
            return
        time.sleep(0.02)
    raise AssertionError(f"{path} did not reach {count} records (process returned "
                         f"{proc.poll()}, {count_records(path)} records)")


def wait_until_gone(tag, timeout=STOP_SECONDS):
    """The processes tagged `tag` still alive after `timeout` seconds (none, normally)."""
    return processes_left(TAG, tag, timeout)


def describe(procs):
    out = []
    for pid in procs:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
            out.append(f"{pid}: {cmdline}")
        except OSError:
            out.append(f"{pid}: (gone)")
    return "; ".join(out)


def flip_byte(path, offset):
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0x5A]))


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


_clean_cache = {}


def clean_run(args):
    """The JSON of an uninterrupted run of `args` (cached: the reference runs are shared)."""
    key = tuple(args)
    if key not in _clean_cache:
        r = run(list(args) + ["--json"], timeout=120)
        assert r.code == 0, r.err
        _clean_cache[key] = r.json()
    return _clean_cache[key]


class TempDirTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="parakit-farm-")
        self.dir = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def path(self, *names):
        return os.path.join(self.dir, *names)

    def assert_one_error(self, r, code=2, mention=None, what=""):
        if code is None:
            self.assertNotEqual(r.code, 0, f"{what}: {r.err}")
        else:
            self.assertEqual(r.code, code, f"{what}: {r.err}")
        lines = r.error_lines()
        self.assertEqual(len(lines), 1, f"{what}: {r.err!r}")
        if mention:
            self.assertIn(mention, lines[0], what)
        self.assertNotIn("Traceback", r.err, what)
        self.assertNotIn("terminate called", r.err, what)
        self.assertEqual(r.out.strip(), "", what)
        assert_took_less(self, r.seconds, HANG_SECONDS, what)
        return lines[0]


# ---------------------------------------------------------------------------------------------
class FarmResults(unittest.TestCase):
    """The queue demo's sum and the checksum are the same whatever runs them."""

    def test_default_prints_the_closed_form(self):
        for args in [["farm"], ["farm"] + THREADS]:
            r = run(args)
            self.assertEqual(r.code, 0, r.err)
            self.assertRegex(r.out, r"result\s+49995000\n")
            self.assertRegex(r.out, r"done\s+10000/10000 \(resumed 0\)\s+failed 0\s+not run 0")
            self.assertRegex(r.out, r"checksum\s+[0-9a-f]{16}\n")
            self.assertEqual(r.error_lines(), [])

    def test_json_fields(self):
        r = run(["farm", "--json"] + THREADS)
        self.assertEqual(r.code, 0, r.err)
        j = r.json()
        for key in ["tasks", "done", "failed", "resumed", "seconds", "checksum", "result"]:
            self.assertIn(key, j)
        self.assertEqual((j["tasks"], j["done"], j["failed"], j["resumed"]), (10000, 10000, 0, 0))
        self.assertEqual(j["result"], 49995000)
        self.assertRegex(j["checksum"], r"^[0-9a-f]{16}$")
        self.assertIsInstance(j["seconds"], (int, float))
        self.assertEqual((j["backend"], j["ranks"], j["threads"]), ("threads", 1, 2))
        self.assertEqual(sum(w["tasks"] for w in j["workers"]), 10000)

    def test_same_result_and_checksum_on_every_backend_and_schedule(self):
        base = ["farm", "--tasks", "10000", "--json"]
        reference = run(base + THREADS).json()
        self.assertEqual(reference["result"], 49995000)
        variants = [(["--backend", "threads", "--threads", "1"], None),
                    (["--backend", "threads", "--threads", "3"], None),
                    (THREADS + ["--chunk", "1"], None),
                    (THREADS + ["--chunk", "7"], None),
                    (THREADS + ["--chunk", "guided"], None),
                    (THREADS + ["--chunk", "guided:16"], None),
                    (THREADS + ["--ordered"], None),
                    (THREADS + ["--ordered", "--chunk", "7", "--in-flight", "1"], None),
                    (THREADS + ["--schedule", "static"], None),
                    (THREADS + ["--master-computes"], None),
                    ([], 1),
                    (["--ordered", "--chunk", "7"], 2),
                    (["--schedule", "static"], 3),
                    (["--master-computes", "--chunk", "1"], 3),
                    (["--chunk", "guided", "--ordered"], 4)]
        for extra, ranks in variants:
            r = run(base + extra, ranks=ranks)
            what = f"{extra} ranks={ranks}"
            self.assertEqual(r.code, 0, f"{what}: {r.err}")
            j = r.json()
            self.assertEqual(j["result"], 49995000, what)
            self.assertEqual(j["checksum"], reference["checksum"], what)
            self.assertEqual((j["done"], j["failed"], j["tasks"]), (10000, 0, 10000), what)
            if ranks is not None:
                self.assertEqual((j["backend"], j["ranks"]), ("mpi", ranks), what)

    def test_cost_demo_checksum_is_scheduling_independent(self):
        base = ["farm", "--demo", "cost", "--cost", "ramp:1us:20us", "--tasks", "300", "--json"]
        reference = run(base + ["--backend", "threads", "--threads", "1"]).json()
        for extra, ranks in [(THREADS + ["--schedule", "static"], None),
                             (THREADS + ["--chunk", "3", "--ordered"], None),
                             (["--chunk", "1"], 3)]:
            r = run(base + extra, ranks=ranks)
            self.assertEqual(r.code, 0, r.err)
            self.assertEqual(r.json()["checksum"], reference["checksum"], (extra, ranks))
            self.assertEqual(r.json()["done"], 300)

    def test_zero_one_and_fewer_tasks_than_workers(self):
        for n in [0, 1, 3]:
            reference = run(["farm", "--tasks", str(n), "--json", "--backend", "threads",
                             "--threads", "1"]).json()
            self.assertEqual((reference["result"], reference["done"]), (queue_sum(n), n))
            variants = [(["--backend", "threads", "--threads", "3", "--ordered"], None),
                        (THREADS + ["--master-computes", "--chunk", "1"], None),
                        # 4 ranks: 3 workers (or 4 executors with the master) for n tasks.
                        (["--chunk", "1"] + (["--master-computes"] if n != 1 else []), 4)]
            for extra, ranks in variants:
                r = run(["farm", "--tasks", str(n), "--json"] + extra, ranks=ranks,
                        timeout=HANG_SECONDS)
                what = f"n={n} {extra} ranks={ranks}"
                self.assertEqual(r.code, 0, f"{what}: {r.err}")
                assert_took_less(self, r.seconds, HANG_SECONDS, what)
                j = r.json()
                self.assertEqual((j["result"], j["done"], j["tasks"]), (queue_sum(n), n, n), what)
                self.assertEqual(j["checksum"], reference["checksum"], what)

    def test_large_n_sums_exactly(self):
        for n, args, ranks in [(3_000_000, THREADS, None), (1_000_000, [], 2)]:
            r = run(["farm", "--tasks", str(n), "--json"] + args, ranks=ranks)
            self.assertEqual(r.code, 0, r.err)
            j = r.json()
            self.assertEqual(j["result"], queue_sum(n), (n, ranks))
            self.assertEqual(j["done"], n)
            self.assertGreater(j["result"], 2 ** 32)


# ---------------------------------------------------------------------------------------------
class FarmChecksumReference(TempDirTest):
    """The checksum parakit reports equals the one computed here from its definition
    (farm_reference.py, with Python's xxhash) for the queue demo, the cost demo and a farm of
    shell commands, on threads and under mpirun, with failures among the tasks."""

    def check(self, args, expected, runs=((THREADS, None), ([], 3))):
        for extra, ranks in runs:
            r = run(args + ["--json"] + extra, ranks=ranks)
            self.assertIn(r.code, (0, 1), r.err)
            self.assertEqual(r.json()["checksum"], expected, f"{args} {extra} ranks={ranks}")

    def test_queue_demo(self):
        for n in (0, 1, 2000):
            self.check(["farm", "--tasks", str(n)], ref.queue_checksum(n))
        self.check(["farm", "--tasks", "500", "--fail-every", "7"], ref.queue_checksum(500, 7))

    def test_cost_demo_ramp(self):
        # ramp:1us:20us is 1 * 1e-6 and 20 * 1e-6 seconds, as parse_seconds makes them.
        self.check(["farm", "--demo", "cost", "--cost", "ramp:1us:20us", "--tasks", "300"],
                   ref.ramp_checksum(1e-6, 20e-6, 300))
        self.check(["farm", "--demo", "cost", "--cost", "ramp:0.00002:0.0001", "--tasks", "200",
                    "--fail-every", "9", "--chunk", "1"],
                   ref.ramp_checksum(0.00002, 0.0001, 200, fail_every=9))

    def test_commands(self):
        lines = ["true", "# a comment", "exit 3", "", "echo {id} > /dev/null",
                 'sh -c "kill -TERM \\$\\$"', "kill -TERM $$", "exit 255", "printf x"]
        commands = self.path("commands.txt")
        with open(commands, "w") as f:
            f.write("\n".join(lines) + "\n")
        F, OK = ref.FAILED, ref.OK
        outcomes = {0: (lines[0], 0, 0, OK), 2: (lines[2], 3, 0, F), 4: (lines[4], 0, 0, OK),
                    # the inner shell dies of SIGTERM, the outer one exits 128 + 15
                    5: (lines[5], 143, 0, F),
                    # the command's own shell dies of SIGTERM: exit code -1, signal 15
                    6: (lines[6], -1, signal.SIGTERM, F),
                    7: (lines[7], 255, 0, F), 8: (lines[8], 0, 0, OK)}
        self.check(["farm", "--commands", commands, "--logdir", self.path("logs")],
                   ref.commands_checksum(outcomes),
                   runs=((THREADS, None), (["--tasks-per-rank", "2"], 3)))


# ---------------------------------------------------------------------------------------------
class FarmJournalVersion1(TempDirTest):
    """Journals written by the previous parakit (format 1, committed in tests/fixtures/
    journal-v1, each cut by the kill drill part-way) resume to the same results and checksum as
    an uninterrupted run of today's parakit, and stay in their own format."""

    FIXTURES = os.path.join(REPO, "tests", "fixtures", "journal-v1")

    def fixture(self, name):
        path = self.path(name)
        with open(os.path.join(self.FIXTURES, name), "rb") as src, open(path, "wb") as dst:
            dst.write(src.read())
        return path

    def resume_twice(self, args, kept, ranks=None, code=0):
        first = run(args + ["--resume", "--json"], ranks=ranks)
        self.assertEqual(first.code, code, first.err)
        self.assertIn("torn last record", first.err)
        self.assertEqual(first.json()["resumed"], kept)
        journal = Journal(args[args.index("--journal") + 1])
        self.assertEqual((journal.version, journal.bad_bytes), (1, 0))
        again = run(args + ["--resume", "--json"], ranks=ranks)
        self.assertEqual(again.code, code, again.err)
        self.assertEqual(again.json()["resumed"], first.json()["done"] + first.json()["failed"])
        self.assertEqual(again.json()["checksum"], first.json()["checksum"])
        return first.json()

    def test_queue_demo(self):
        for ranks in (None, 3):
            journal = self.fixture("queue-v1.journal")
            args = ["farm", "--demo", "queue", "--tasks", "200", "--chunk", "1", "--journal",
                    journal] + (THREADS if ranks is None else [])
            j = self.resume_twice(args, 120, ranks)
            self.assertEqual((j["done"], j["result"]), (200, queue_sum(200)))
            self.assertEqual(j["checksum"], ref.queue_checksum(200))
            self.assertEqual(len(Journal(journal).records), 200)

    def test_cost_demo_with_failures(self):
        journal = self.fixture("cost-v1.journal")
        args = ["farm", "--demo", "cost", "--cost", "uniform:0.01ms:0.02ms", "--tasks", "100",
                "--fail-every", "9", "--seed", "5", "--journal", journal] + THREADS
        j = self.resume_twice(args, 60, code=1)
        fresh = run(args[:args.index("--journal")] + THREADS + ["--json"])
        self.assertEqual((j["done"], j["failed"]), (89, 11))
        self.assertEqual(j["checksum"], fresh.json()["checksum"])

    def test_commands(self):
        journal = self.fixture("commands-v1.journal")
        commands = self.fixture("commands.txt")
        args = ["farm", "--commands", commands, "--logdir", self.path("logs"), "--journal",
                journal] + THREADS
        j = self.resume_twice(args, 5, code=1)
        self.assertEqual((j["tasks"], j["done"], j["failed"]), (8, 5, 3))
        fresh = run(args[:args.index("--journal")] + ["--json"])
        self.assertEqual(j["checksum"], fresh.json()["checksum"])
        with open(commands) as f:
            lines = f.read().split("\n")
        F, OK = ref.FAILED, ref.OK
        outcomes = {0: 0, 3: 3, 4: 0, 5: 143, 6: 0, 7: 0, 8: 1, 9: 0}
        self.assertEqual(j["checksum"], ref.commands_checksum(
            {i: (lines[i], code, 0, OK if code == 0 else F) for i, code in outcomes.items()}))
        # A changed line under a format-1 journal is still found (its FNV-1a hashes).
        lines[3] = "exit 4"
        with open(commands, "w") as f:
            f.write("\n".join(lines))
        r = run(args + ["--resume", "--json"])
        self.assertEqual(r.code, 2, r.err)
        self.assertIn("line 4", r.err)


# ---------------------------------------------------------------------------------------------
class FarmFailures(TempDirTest):
    """Tasks that throw: retries, recorded failures, exit status and summary."""

    FAILING = sum(i for i in range(100) if i % 10 == 9)

    def check(self, r, failed, retried=None, what=""):
        self.assertEqual(r.code, 1 if failed else 0, f"{what}: {r.err}")
        j = r.json()
        self.assertEqual((j["tasks"], j["done"], j["failed"]), (100, 100 - failed, failed), what)
        self.assertEqual(j["result"], queue_sum(100) - (self.FAILING if failed else 0), what)
        if retried is not None:
            self.assertEqual(j["retried"], retried, what)
        if failed:
            self.assertEqual([f["id"] for f in j["failures"]][:3], [9, 19, 29], what)
            self.assertTrue(all(f["status"] == "failed" for f in j["failures"]), what)
            self.assertIn("injected failure", j["failures"][0]["message"], what)
        else:
            self.assertEqual(j["failures"], [], what)
        return j

    def test_retries_and_recorded_failures_on_threads(self):
        base = ["farm", "--tasks", "100", "--fail-every", "10", "--json"] + THREADS
        clean = run(["farm", "--tasks", "100", "--json"] + THREADS).json()
        failing = self.check(run(base + ["--retries", "0"]), 10, 0, "retries 0")
        # Every attempt throws: retries do not help, but they are made.
        self.check(run(base + ["--retries", "2"]), 10, 20, "retries 2")
        self.check(run(base + ["--retries", "1", "--fail-attempts", "2"]), 10, 10, "1 of 2")
        self.check(run(base + ["--retries", "0", "--fail-attempts", "1"]), 10, 0, "0 of 1")
        fixed = self.check(run(base + ["--retries", "2", "--fail-attempts", "1"]), 0, 10, "fixed")
        self.assertEqual(fixed["checksum"], clean["checksum"])
        self.assertNotEqual(failing["checksum"], clean["checksum"])

    def test_summary_says_how_many_failed(self):
        r = run(["farm", "--tasks", "100", "--fail-every", "10"] + THREADS)
        self.assertEqual(r.code, 1, r.err)
        self.assertRegex(r.out, r"done\s+90/100 \(resumed 0\)\s+failed 10\s+not run 0")
        self.assertRegex(r.out, r"failed\s+task 9 \(failed\) injected failure")
        r = run(["farm", "--tasks", "100", "--fail-every", "10", "--retries", "2",
                 "--fail-attempts", "1"] + THREADS)
        self.assertEqual(r.code, 0, r.err)
        self.assertRegex(r.out, r"done\s+100/100 \(resumed 0\)\s+failed 0\s+not run 0")

    def test_failures_under_mpirun(self):
        base = ["farm", "--tasks", "100", "--fail-every", "10", "--json"]
        threads = run(base + THREADS).json()
        j = self.check(run(base + ["--chunk", "3"], ranks=3), 10, 0, "np 3")
        self.assertEqual(j["checksum"], threads["checksum"])
        self.check(run(base + ["--retries", "2", "--fail-attempts", "1", "--ordered"], ranks=3),
                   0, 10, "np 3 fixed")

    def test_resume_failed_reruns_the_failed_tasks(self):
        journal = self.path("J")
        base = ["farm", "--tasks", "100", "--journal", journal, "--json"] + THREADS
        self.check(run(base + ["--fail-every", "10"]), 10, 0, "first")
        self.assertEqual(sorted(Journal(journal).ids(status=1)), list(range(9, 100, 10)))
        # --resume keeps recorded failures as they are.
        j = self.check(run(base + ["--resume"]), 10, 0, "resume")
        self.assertEqual(j["resumed"], 100)
        # --resume-failed runs them again (they succeed now).
        j = self.check(run(base + ["--resume-failed"]), 0, 0, "resume-failed")
        self.assertEqual(j["resumed"], 90)
        self.assertEqual(j["checksum"], clean_run(["farm", "--tasks", "100"] + THREADS)["checksum"])


# ---------------------------------------------------------------------------------------------
class FarmSignals(TempDirTest):
    """SIGTERM / SIGINT stop the farm cleanly; --resume finishes with the same results."""

    TASKS = 1000

    def args(self, journal):
        return COST + ["--tasks", str(self.TASKS), "--journal", journal, "--json"]

    def clean(self):
        # Sleeping tasks: 8 threads finish the reference quickly on 2 cores.
        return clean_run(COST + ["--tasks", str(self.TASKS), "--backend", "threads",
                                 "--threads", "8"])

    def interrupt(self, sig, ranks=None, extra=THREADS, seen=None):
        """Sends `sig` once the journal holds 20 records; `seen` is the signal the ranks get
        (mpirun forwards SIGINT to them as SIGTERM)."""
        journal = self.path("J")
        tag = new_tag()
        proc = start(self.args(journal) + ([] if ranks else extra), ranks=ranks, env={TAG: tag})
        try:
            wait_for_records(journal, 20, proc)
            signalled = time.monotonic()
            proc.send_signal(sig)
            r = finish(proc, timeout=HANG_SECONDS)
            stopped_in = time.monotonic() - signalled
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.assertEqual(wait_until_gone(tag), {})
        assert_took_less(self, stopped_in, STOP_SECONDS, f"{signal.Signals(sig).name} to the end")
        self.assertIn("--resume", r.err)
        self.assertEqual(r.error_lines(), [], r.err)
        j = r.json()
        self.assertTrue(j["stopped"], j)
        self.assertEqual(j["signal"], signal.Signals(seen or sig).name)
        self.assertLess(j["done"], self.TASKS)
        self.assertGreater(j["not_run"], 0)
        # Everything the master reported is in the journal, which scans clean.
        scanned = Journal(journal)
        self.assertEqual(scanned.bad_bytes, 0)
        self.assertEqual(len(scanned.records), j["done"])
        self.assertEqual(len(set(scanned.ids())), j["done"])
        return r, j, journal

    def resume(self, journal, interrupted, ranks=None, extra=THREADS):
        r = run(self.args(journal) + ["--resume"] + ([] if ranks else extra), ranks=ranks)
        self.assertEqual(r.code, 0, r.err)
        j = r.json()
        clean = self.clean()
        self.assertEqual((j["done"], j["tasks"], j["failed"]), (self.TASKS, self.TASKS, 0))
        self.assertEqual(j["resumed"], interrupted["done"])
        self.assertGreater(j["resumed"], 0)
        self.assertEqual(j["checksum"], clean["checksum"])
        self.assertEqual(len(Journal(journal).records), self.TASKS)

    def test_sigterm_on_threads_then_resume(self):
        r, j, journal = self.interrupt(signal.SIGTERM)
        self.assertEqual(r.code, 143, r.err)
        self.resume(journal, j)

    def test_sigint_on_threads_then_resume(self):
        r, j, journal = self.interrupt(signal.SIGINT)
        self.assertEqual(r.code, 130, r.err)
        self.resume(journal, j)

    def test_sigterm_to_mpirun_then_resume(self):
        # Open MPI's mpirun forwards SIGTERM to every rank; parakit's ranks then exit 143, but
        # mpirun itself reports 1 for a job it was asked to terminate (Open MPI 4.1), so only
        # "non-zero" is parakit's to promise here.
        r, j, journal = self.interrupt(signal.SIGTERM, ranks=3)
        self.assertNotEqual(r.code, 0, r.err)
        self.assertEqual((j["backend"], j["ranks"]), ("mpi", 3))
        self.resume(journal, j)

    def test_sigint_to_mpirun_then_resume(self):
        # mpirun forwards SIGINT to the ranks as SIGTERM (Open MPI 4.1) and reports 1.
        r, j, journal = self.interrupt(signal.SIGINT, ranks=3, seen=signal.SIGTERM)
        self.assertNotEqual(r.code, 0, r.err)
        self.assertEqual((j["backend"], j["ranks"]), ("mpi", 3))
        self.resume(journal, j)

    def test_signal_without_journal_says_a_rerun_starts_over(self):
        tag = new_tag()
        proc = start(COST + ["--tasks", "2000"] + WITH_PROGRESS + THREADS, env={TAG: tag},
                     stderr_path=self.path("stderr"))
        wait_for_progress(proc, 1, timeout=HANG_SECONDS)
        proc.send_signal(signal.SIGTERM)
        r = finish(proc, timeout=HANG_SECONDS)
        self.assertEqual(r.code, 143, r.err)
        self.assertIn("no --journal", r.err)
        self.assertEqual(wait_until_gone(tag), {})


# ---------------------------------------------------------------------------------------------
class FarmJournalCorruption(TempDirTest):
    """A torn or corrupt last record is dropped with a warning; an earlier bad record is an
    error unless --force-resume."""

    TASKS = 300

    def setUp(self):
        super().setUp()
        self.journal = self.path("J")
        self.base = ["farm", "--tasks", str(self.TASKS), "--chunk", "3", "--journal",
                     self.journal, "--json"]
        r = run(self.base + THREADS)
        self.assertEqual(r.code, 0, r.err)
        self.clean = r.json()
        self.scan = Journal(self.journal)
        self.assertEqual(self.scan.bad_bytes, 0)
        self.assertEqual(sorted(self.scan.ids()), list(range(self.TASKS)))

    def resume(self, *extra, ranks=None):
        return run(self.base + ["--resume"] + list(extra) + ([] if ranks else THREADS),
                   ranks=ranks)

    def check_resumed(self, r, resumed, warning):
        self.assertEqual(r.code, 0, r.err)
        j = r.json()
        self.assertEqual((j["done"], j["resumed"], j["failed"]), (self.TASKS, resumed, 0))
        self.assertEqual(j["result"], self.clean["result"])
        self.assertEqual(j["checksum"], self.clean["checksum"])
        warnings = [line for line in r.err.splitlines() if line.startswith("parakit: warning:")]
        self.assertEqual(len(warnings), 1, r.err)
        self.assertIn(warning, warnings[0])
        self.assertEqual(r.error_lines(), [])
        # The bad bytes were cut away and the rerun results appended: it scans clean again.
        after = Journal(self.journal)
        self.assertEqual(after.bad_bytes, 0)
        self.assertEqual(sorted(after.ids()), list(range(self.TASKS)))

    def test_truncated_last_record_is_dropped_with_a_warning(self):
        os.truncate(self.journal, self.scan.size - 3)
        self.check_resumed(self.resume(), self.TASKS - 1, "torn")

    def test_last_record_cut_inside_its_head_is_dropped(self):
        os.truncate(self.journal, self.scan.records[-1].offset + 5)
        self.check_resumed(self.resume(), self.TASKS - 1, "torn")

    def test_flipped_byte_in_last_payload_is_dropped_with_a_warning(self):
        last = self.scan.records[-1]
        self.assertGreater(last.length, 0)
        flip_byte(self.journal, last.end - 1)
        self.check_resumed(self.resume(), self.TASKS - 1, "torn")

    def test_corrupt_middle_record_is_refused_unless_forced(self):
        middle = self.scan.records[self.TASKS // 2]
        flip_byte(self.journal, middle.payload_at)  # first payload byte
        damaged = read_bytes(self.journal)
        line = self.assert_one_error(self.resume(), 2, "--force-resume")
        self.assertIn(self.journal, line)
        self.assertEqual(read_bytes(self.journal), damaged, "a refused journal must be left as is")
        r = self.resume("--force-resume")
        self.check_resumed(r, self.TASKS // 2, "corrupt")

    def test_corrupt_middle_record_checksum_is_refused(self):
        flip_byte(self.journal, self.scan.records[10].offset + 4)
        self.assert_one_error(self.resume(), 2, "--force-resume")

    def test_corrupt_middle_record_length_is_refused(self):
        for length in [self.scan.records[10].length + 1, 0, 0xFFFFFFFF]:
            with open(self.journal, "r+b") as f:
                f.seek(self.scan.records[10].offset)
                f.write(struct.pack("<I", length))
            self.assert_one_error(self.resume(), 2, "--force-resume", f"length {length}")

    def test_zero_filled_tail_is_a_torn_tail(self):
        # What a crash can leave on some file systems: the size grew, the data never came.
        with open(self.journal, "ab") as f:
            f.write(bytes(4096))
        self.check_resumed(self.resume(), self.TASKS, "torn")

    def test_corrupt_middle_record_under_mpirun(self):
        flip_byte(self.journal, self.scan.records[100].payload_at)
        self.assert_one_error(self.resume(ranks=3), None, "--force-resume", "np 3")
        self.check_resumed(self.resume("--force-resume", ranks=3), 100, "corrupt")

    def test_bad_status_byte_in_a_middle_record_is_refused(self):
        # A whole record with an impossible status is corruption, not a torn write, when good
        # records follow it (an early scanner took it for a torn tail and dropped them all).
        middle = self.scan.records[self.TASKS // 2]
        with open(self.journal, "r+b") as f:
            f.seek(middle.status_at)
            f.write(b"\x7f")
        self.assert_one_error(self.resume(), 2, "--force-resume")


# ---------------------------------------------------------------------------------------------
class FarmJournalIdentity(TempDirTest):
    """A journal is only continued with --resume, and only for the task list that wrote it."""

    def test_journal_of_another_task_list_is_refused(self):
        journal = self.path("J")
        r = run(["farm", "--tasks", "500", "--journal", journal] + THREADS)
        self.assertEqual(r.code, 0, r.err)
        before = read_bytes(journal)
        commands = self.path("cmds")
        with open(commands, "w") as f:
            f.write("true\n")
        for args in [["farm", "--tasks", "600"],
                     ["farm", "--demo", "cost", "--tasks", "500"],
                     ["farm", "--commands", commands, "--logdir", self.path("logs")]]:
            line = self.assert_one_error(run(args + ["--journal", journal, "--resume"] + THREADS),
                                         2, "different task list", args)
            self.assertIn(journal, line)
            self.assertEqual(read_bytes(journal), before, args)
        self.assert_one_error(run(["farm", "--tasks", "600", "--journal", journal, "--resume"],
                                  ranks=3), None, "different task list", "np 3")
        self.assertEqual(read_bytes(journal), before)

    def test_cost_journal_with_another_cost_spec_or_seed_is_refused(self):
        journal = self.path("J")

        def cost(spec="uniform:1us:2us", tasks="50", seed="1"):
            return ["farm", "--demo", "cost", "--cost", spec, "--tasks", tasks, "--seed", seed,
                    "--journal", journal] + THREADS

        r = run(cost())
        self.assertEqual(r.code, 0, r.err)
        before = read_bytes(journal)
        for changed in [cost(seed="2"), cost(spec="uniform:1us:3us"), cost(tasks="51"),
                        cost(spec="ramp:1us:2us")]:
            self.assert_one_error(run(changed + ["--resume"]), 2, "different task list", changed)
            self.assertEqual(read_bytes(journal), before)
        r = run(cost() + ["--resume", "--json"])
        self.assertEqual(r.code, 0, r.err)
        self.assertEqual((r.json()["resumed"], r.json()["done"]), (50, 50))

    def test_existing_journal_without_resume_is_refused_and_left_alone(self):
        journal = self.path("J")
        r = run(["farm", "--tasks", "500", "--journal", journal] + THREADS)
        self.assertEqual(r.code, 0, r.err)
        before = read_bytes(journal)
        self.assert_one_error(run(["farm", "--tasks", "500", "--journal", journal] + THREADS), 2,
                              "--resume")
        self.assertEqual(read_bytes(journal), before)
        self.assert_one_error(run(["farm", "--tasks", "500", "--journal", journal], ranks=3), None,
                              "--resume", "np 3")
        self.assertEqual(read_bytes(journal), before)

    def test_a_file_that_is_not_a_journal_is_refused(self):
        journal = self.path("J")
        with open(journal, "wb") as f:
            f.write(b"this is not a journal at all, just some text\n")
        self.assert_one_error(run(["farm", "--journal", journal, "--resume"] + THREADS), 2,
                              "not a parakit journal")


# ---------------------------------------------------------------------------------------------
class FarmCrash(TempDirTest):
    """kill -9 of a worker rank in the middle of an mpirun -np 3 run, and of the master while it
    writes a journal record."""

    TASKS = 4000  # 5 s on 2 workers: the master's progress line (every 1 s) comes before

    def test_kill_9_of_a_worker_rank(self):
        journal = self.path("J")
        args = COST + ["--tasks", str(self.TASKS), "--journal", journal, "--json"]
        tag = new_tag()
        proc = start(args + WITH_PROGRESS, ranks=3, env={TAG: tag},
                     stderr_path=self.path("stderr"))
        try:
            wait_for_progress(proc, 200, timeout=HANG_SECONDS)
            ranks = {int(env["OMPI_COMM_WORLD_RANK"]): pid
                     for pid, env in tagged_processes(TAG, tag).items()
                     if "OMPI_COMM_WORLD_RANK" in env and pid != proc.pid}
            self.assertEqual(sorted(ranks), [0, 1, 2], ranks)
            killed = time.monotonic()
            os.kill(ranks[1], signal.SIGKILL)
            r = finish(proc, timeout=HANG_SECONDS)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert_took_less(self, time.monotonic() - killed, STOP_SECONDS,
                         "kill -9 of rank 1 to the end of the job")
        self.assertNotEqual(r.code, 0)
        left = wait_until_gone(tag)
        self.assertEqual(left, {}, f"processes left behind: {describe(left)}")
        # The journal scans clean, or at worst with a torn last record (then the resume below
        # warns, and succeeds without --force-resume).
        scanned = Journal(journal)
        # Every result the master had reported (its last progress line) is in the journal.
        reported = progress_done(r.err)[-1]
        self.assertGreaterEqual(reported, 200)
        self.assertGreaterEqual(len(scanned.records), reported)
        self.assertLess(len(scanned.records), self.TASKS)
        self.assertEqual(len(set(scanned.ids())), len(scanned.records))
        # Resume on threads: every journaled result is taken, the rest run.
        resumed = run(args + ["--resume", "--backend", "threads", "--threads", "8"])
        self.assertEqual(resumed.code, 0, resumed.err)
        self.assertEqual(resumed.error_lines(), [])
        if scanned.bad_bytes:
            self.assertIn("torn", resumed.err)
        j = resumed.json()
        self.assertEqual((j["done"], j["failed"]), (self.TASKS, 0))
        self.assertEqual(j["resumed"], len(scanned.records))
        clean = clean_run(COST + ["--tasks", str(self.TASKS), "--backend", "threads",
                                  "--threads", "8"])
        self.assertEqual(j["checksum"], clean["checksum"])


    def test_kill_9_of_a_thread_backend_run(self):
        """The whole process killed from outside (no drill), after a progress line: the journal
        holds every result the master reported, and the resume ends with the clean checksum."""
        journal = self.path("J")
        args = COST + ["--tasks", str(self.TASKS), "--journal", journal, "--json"] + THREADS
        tag = new_tag()
        proc = start(args + WITH_PROGRESS, env={TAG: tag}, stderr_path=self.path("stderr"))
        try:
            wait_for_progress(proc, 200, timeout=HANG_SECONDS)
            os.kill(proc.pid, signal.SIGKILL)
            r = finish(proc, timeout=HANG_SECONDS)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.assertEqual(r.code, -signal.SIGKILL, r.err)
        self.assertEqual(wait_until_gone(tag), {})
        scanned = Journal(journal)
        reported = progress_done(r.err)[-1]
        self.assertGreaterEqual(len(scanned.records), reported)
        self.assertLess(len(scanned.records), self.TASKS)
        self.assertEqual(len(set(scanned.ids())), len(scanned.records))
        resumed = run(args + ["--resume"])
        self.assertEqual(resumed.code, 0, resumed.err)
        j = resumed.json()
        self.assertEqual((j["done"], j["failed"], j["resumed"]),
                         (self.TASKS, 0, len(scanned.records)))
        clean = clean_run(COST + ["--tasks", str(self.TASKS), "--backend", "threads",
                                  "--threads", "8"])
        self.assertEqual(j["checksum"], clean["checksum"])

    # The master dies (SIGKILL) half-way through writing its KILL_AT-th journal record: the
    # drill PARAKIT_FAULT=journal-record#N:kill@0 writes the records staged before it, half of
    # that one, then raises SIGKILL in the journal writer itself.
    KILL_AT = 120
    MASTER_TASKS = 400

    def kill_master_mid_record(self, ranks):
        journal = self.path("J")
        args = COST + ["--tasks", str(self.MASTER_TASKS), "--journal", journal]
        tag = new_tag()
        r = run(args + ["--json"], ranks=ranks, timeout=HANG_SECONDS,
                env={TAG: tag, "PARAKIT_FAULT": f"journal-record#{self.KILL_AT}:kill@0"})
        killed_at = os.stat(journal).st_mtime  # the half record was the last write
        ended_after = time.time() - killed_at
        what = f"ranks={ranks}: {r.err}"
        if ranks is None:
            self.assertEqual(r.code, -signal.SIGKILL, what)
        else:
            self.assertNotEqual(r.code, 0, what)
            self.assertRegex(r.err, r"process rank 0 .*exited on signal 9", what)
        self.assertEqual(r.out, "", what)  # no summary from a killed master
        assert_took_less(self, ended_after, STOP_SECONDS, "the master's death to the end of the job")
        left = wait_until_gone(tag)
        self.assertEqual(left, {}, f"processes left behind: {describe(left)}")
        # Every record the master had begun writing before the torn one is there, intact:
        # exactly KILL_AT - 1 of them, then half a record.
        scanned = Journal(journal)
        self.assertEqual(len(scanned.records), self.KILL_AT - 1, what)
        self.assertEqual(len(set(scanned.ids())), self.KILL_AT - 1)
        self.assertGreater(scanned.bad_bytes, 0)
        self.assertLess(scanned.bad_bytes, scanned.records[0].size)
        resumed = run(args + ["--resume", "--json"], ranks=ranks, timeout=HANG_SECONDS)
        self.assertEqual(resumed.code, 0, resumed.err)
        self.assertIn("torn last record", resumed.err)
        j = resumed.json()
        self.assertEqual((j["done"], j["failed"], j["resumed"]),
                         (self.MASTER_TASKS, 0, self.KILL_AT - 1))
        clean = clean_run(COST + ["--tasks", str(self.MASTER_TASKS), "--backend", "threads",
                                  "--threads", "8"])
        self.assertEqual(j["checksum"], clean["checksum"])

    def test_kill_9_of_the_master_mid_record_on_threads(self):
        self.kill_master_mid_record(None)

    def test_kill_9_of_the_master_mid_record_under_mpirun(self):
        self.kill_master_mid_record(3)


# ---------------------------------------------------------------------------------------------
class FarmCommands(TempDirTest):
    """--commands: logs, placeholders, exit codes, timeouts, the joblog and resume."""

    JOBLOG_HEADER = "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand"

    def setUp(self):
        super().setUp()
        self.runs = self.path("runs.txt")  # every command appends its id: who ran, how often
        self.commands = self.path("commands.txt")
        note = f"echo {{id}} >> {shlex.quote(self.runs)}; "
        self.lines = [
            "# a farm of shell commands",                                        # 0 comment
            note + "echo ok {id} {#} {rank} $PARAKIT_RANK {slot} $PARAKIT_SLOT "
                   "$PARAKIT_TASK_ID $PARAKIT_SEQ",                              # 1 ok
            "",                                                                  # 2 blank
            note + "exit 3",                                                     # 3 fails
            "   # an indented comment",                                          # 4 comment
            note + "sleep 30",                                                   # 5 times out
            note + "echo to-stderr {id} >&2; echo to-stdout {#}",                # 6 ok
            note + "echo host {host} $PARAKIT_HOST",                             # 7 ok
            "",                                                                  # 8 blank
        ]
        self.write_commands(self.lines)
        self.journal = self.path("J")
        self.joblog = self.path("joblog")
        self.logdir = self.path("logs")

    def write_commands(self, lines):
        with open(self.commands, "w") as f:
            f.write("\n".join(lines) + "\n")

    def args(self, *extra):
        return ["farm", "--commands", self.commands, "--timeout", "1", "--kill-grace", "0.5",
                "--journal", self.journal, "--joblog", self.joblog, "--logdir", self.logdir,
                "--json"] + list(extra)

    def peek_ran(self):
        """The ids that started so far (ran() without forgetting them)."""
        try:
            with open(self.runs) as f:
                return [int(word) for word in f.read().split()]
        except OSError:
            return []

    def ran(self):
        """The ids that ran since the last call."""
        if not os.path.exists(self.runs):
            return []
        with open(self.runs) as f:
            ids = sorted(int(line) for line in f if line.strip())
        os.unlink(self.runs)
        return ids

    def log(self, task_id, ext):
        with open(os.path.join(self.logdir, str(task_id // 1000), f"{task_id}.{ext}")) as f:
            return f.read()

    def joblog_rows(self):
        with open(self.joblog) as f:
            text = f.read()
        self.assertTrue(text.endswith("\n"))
        lines = text.split("\n")[:-1]
        self.assertEqual(lines[0], self.JOBLOG_HEADER)
        self.assertEqual(lines.count(self.JOBLOG_HEADER), 1)
        rows = []
        for line in lines[1:]:
            fields = line.split("\t")
            self.assertEqual(len(fields), 9, line)
            seq, host, start_time, runtime, send, receive, exitval, sig, command = fields
            self.assertRegex(start_time, r"^\d+\.\d{3}$")
            self.assertRegex(runtime, r"^ *\d+\.\d{3}$")
            self.assertTrue(host)
            self.assertEqual((send, receive), ("0", "0"))
            rows.append({"seq": int(seq), "host": host, "runtime": float(runtime),
                         "exitval": int(exitval), "signal": int(sig), "command": command})
        return rows

    def check_first_run(self, r, ranks):
        tasks = [1, 3, 5, 6, 7]
        self.assertEqual(r.code, 1, r.err)  # failures remain
        assert_took_less(self, r.seconds, HANG_SECONDS, f"the first run (ranks={ranks})")
        j = r.json()  # one JSON line: no task output on parakit's stdout
        for text in ["ok 1", "to-stdout", "to-stderr", "host "]:
            self.assertNotIn(text, r.out)
        self.assertEqual(j["mode"], "commands")
        self.assertEqual((j["tasks"], j["done"], j["failed"], j["timed_out"], j["not_run"]),
                         (5, 3, 2, 1, 0))
        self.assertEqual(j["exit_codes"], {"0": 3, "3": 1, "-1": 1})
        self.assertEqual({(f["id"], f["status"]) for f in j["failures"]},
                         {(3, "failed"), (5, "timed_out")})
        self.assertEqual(self.ran(), tasks)
        # Logs: <logdir>/<id/1000>/<id>.out/.err, none for comments and blank lines.
        self.assertEqual(sorted(os.listdir(self.logdir)), ["0"])
        self.assertEqual(sorted(os.listdir(os.path.join(self.logdir, "0"))),
                         sorted(f"{i}.{ext}" for i in tasks for ext in ["out", "err"]))
        ok = self.log(1, "out").split()
        self.assertEqual(ok[:3], ["ok", "1", "2"])
        rank, env_rank, slot, env_slot, env_id, env_seq = ok[3:]
        self.assertEqual((rank, slot, env_id, env_seq), (env_rank, env_slot, "1", "2"))
        self.assertIn(int(rank), [0] if ranks is None else range(1, ranks))
        self.assertIn(int(slot), [1, 2])
        self.assertEqual(self.log(6, "err"), "to-stderr 6\n")
        self.assertEqual(self.log(6, "out"), "to-stdout 7\n")
        host = self.log(7, "out").split()
        self.assertEqual(len(host), 3, host)
        self.assertEqual(host[1], host[2])
        self.assertEqual(self.log(3, "out") + self.log(3, "err"), "")
        # The joblog: GNU parallel's header, one line per finished command.
        rows = {row["seq"]: row for row in self.joblog_rows()}
        self.assertEqual(sorted(rows), [t + 1 for t in tasks])
        self.assertEqual({s: row["exitval"] for s, row in rows.items()},
                         {2: 0, 4: 3, 6: -1, 7: 0, 8: 0})
        self.assertGreaterEqual(rows[6]["runtime"], 0.9)
        self.assertLess(rows[6]["runtime"], 5)
        self.assertEqual(rows[2]["command"], self.lines[1].replace("{id}", "1").replace(
            "{#}", "2").replace("{rank}", rank).replace("{slot}", slot))
        self.assertEqual(rows[8]["host"], host[1])
        # <journal>.failed lists the failed commands.
        self.assertEqual(j.get("failed_list"), self.journal + ".failed")
        with open(self.journal + ".failed") as f:
            failed = [line for line in f.read().splitlines() if line.strip()]
        self.assertEqual(sorted(failed), sorted([self.lines[3], self.lines[5]]))
        return j

    def run_tagged(self, args, ranks=None):
        tag = new_tag()
        r = run(args, ranks=ranks, timeout=60, env={TAG: tag})
        left = wait_until_gone(tag)
        self.assertEqual(left, {}, f"processes left behind: {describe(left)}")
        return r

    def test_threads(self):
        first = self.check_first_run(self.run_tagged(self.args(*THREADS, "--tasks-per-rank", "2")),
                                     None)
        self.resume_checks(first, THREADS)

    def test_mpirun_np3(self):
        first = self.check_first_run(self.run_tagged(self.args(), ranks=3), 3)
        self.assertEqual((first["backend"], first["ranks"]), ("mpi", 3))
        # The journal exists: a run without --resume is refused.
        self.assert_one_error(self.run_tagged(self.args(*THREADS)), 2, "--resume")
        r = self.run_tagged(self.args("--resume-failed"), ranks=3)
        self.assertEqual(r.code, 1, r.err)
        self.assertEqual(self.ran(), [3, 5])
        self.assertEqual(r.json()["checksum"], first["checksum"])

    def resume_checks(self, first, backend):
        # --resume reruns nothing: everything recorded counts as resumed.
        r = self.run_tagged(self.args("--resume", *backend))
        self.assertEqual(r.code, 1, r.err)
        j = r.json()
        self.assertEqual((j["done"], j["failed"], j["timed_out"], j["resumed"]), (3, 2, 1, 5))
        self.assertEqual(j["checksum"], first["checksum"])
        self.assertEqual(self.ran(), [])
        # --resume-failed reruns only the failed and the timed-out command.
        r = self.run_tagged(self.args("--resume-failed", *backend))
        self.assertEqual(r.code, 1, r.err)
        assert_took_less(self, r.seconds, HANG_SECONDS, "--resume-failed")
        j = r.json()
        self.assertEqual((j["done"], j["failed"], j["resumed"]), (3, 2, 3))
        self.assertEqual(j["checksum"], first["checksum"])
        self.assertEqual(self.ran(), [3, 5])
        rows = self.joblog_rows()  # appended, still one header
        self.assertEqual(sorted(row["seq"] for row in rows), [2, 4, 4, 6, 6, 7, 8])
        # A new command appended to the file runs alone on --resume.
        self.write_commands(self.lines + [f"echo {{id}} >> {shlex.quote(self.runs)}"])
        r = self.run_tagged(self.args("--resume", *backend))
        self.assertEqual(r.code, 1, r.err)
        self.assertEqual((r.json()["tasks"], r.json()["done"]), (6, 4))
        self.assertEqual(self.ran(), [9])
        # A command that changed under the same line number is refused.
        changed = list(self.lines)
        changed[3] = changed[3].replace("exit 3", "exit 4")
        self.write_commands(changed)
        before = read_bytes(self.journal)
        line = self.assert_one_error(self.run_tagged(self.args("--resume", *backend)), 2,
                                     "--force-resume")
        self.assertIn("line 4", line)
        self.assertEqual(read_bytes(self.journal), before)
        self.assertEqual(self.ran(), [])

    def test_sigterm_kills_running_commands_and_resume_reruns_them(self):
        note = f"echo {{id}} >> {shlex.quote(self.runs)}; "
        self.write_commands([note + "true", note + "true", note + "sleep 30", note + "sleep 30",
                             note + "true"])
        sleeps = {2, 3}
        args = ["farm", "--commands", self.commands, "--kill-grace", "0.5", "--journal",
                self.journal, "--logdir", self.logdir, "--json"] + THREADS
        tag = new_tag()
        proc = start(args + WITH_PROGRESS, env={TAG: tag}, stderr_path=self.path("stderr"))
        try:
            # Both slots hold a sleep once the two first commands are done (the fifth waits
            # for a slot): a progress line with 2 done, and a sleep that started.
            wait_for_progress(proc, 2, timeout=HANG_SECONDS)
            deadline = time.monotonic() + HANG_SECONDS
            while not sleeps & set(self.peek_ran()) and time.monotonic() < deadline:
                time.sleep(0.02)
            signalled = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            r = finish(proc, timeout=HANG_SECONDS)
            stopped_in = time.monotonic() - signalled
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.assertEqual(r.code, 143, r.err)
        assert_took_less(self, stopped_in, STOP_SECONDS, "SIGTERM to the end (grace 0.5 s)")
        self.assertIn("--resume", r.err)
        left = wait_until_gone(tag)
        self.assertEqual(left, {}, f"processes left behind: {describe(left)}")
        j = r.json()
        started = set(self.ran())
        self.assertTrue(started & sleeps, started)
        journal = Journal(self.journal)
        ok, interrupted = set(journal.ids(status=0)), set(journal.ids(status=3))
        self.assertEqual(journal.bad_bytes, 0)
        self.assertEqual((j["done"], j["interrupted"], j["failed"]),
                         (len(ok), len(interrupted), 0))
        # Every command that started is recorded: done, or interrupted (each sleep that ran).
        self.assertEqual(ok | interrupted, started)
        self.assertTrue(started & sleeps <= interrupted)
        # Interrupted and unstarted commands run on resume (the sleeps now time out).
        r = self.run_tagged(args + ["--resume", "--timeout", "0.3"])
        self.assertEqual(r.code, 1, r.err)
        j = r.json()
        self.assertEqual((j["done"], j["resumed"], j["failed"], j["timed_out"]),
                         (3, len(ok), 2, 2))
        self.assertEqual(self.ran(), sorted(set(range(5)) - ok))


# ---------------------------------------------------------------------------------------------
class FarmBadInput(TempDirTest):
    """Each: exit 2, exactly one `parakit: error:` line, nothing on stdout, no hang."""

    def cases(self):
        empty = self.path("empty.txt")
        open(empty, "w").close()
        comments = self.path("comments.txt")
        with open(comments, "w") as f:
            f.write("# only\n\n   # comments\n\n")
        missing = self.path("missing.txt")
        return [
            (["--commands", missing], "missing.txt"),
            (["--commands", empty], "empty.txt"),
            (["--commands", comments], "comments.txt"),
            (["--commands", self.dir], self.dir),
            (["--demo", "cost", "--cost", "bogus"], "--cost"),
            (["--demo", "cost", "--cost", "uniform:5ms:1ms"], "--cost"),
            (["--demo", "cost", "--cost", "ramp:1ms"], "--cost"),
            (["--demo", "cost", "--cost", "lognormal:1ms:-1"], "--cost"),
            (["--demo", "cost", "--cost-mode", "nap"], "--cost-mode"),
            (["--chunk", "0"], "--chunk"),
            (["--chunk", "abc"], "--chunk"),
            (["--chunk", "guided:0"], "--chunk"),
            (["--schedule", "x"], "--schedule"),
            (["--demo", "nope"], "--demo"),
            (["--demo", "queue", "--commands", empty], "--commands"),
            (["--resume"], "--journal"),
            (["--resume-failed"], "--journal"),
            (["--retries", "-1"], "--retries"),
            (["--in-flight", "0"], "--in-flight"),
            (["--tasks", "-5"], "--tasks"),
            (["--tasks", "abc"], "--tasks"),
            (["--journal", self.path("no", "such", "dir", "J")], "J"),
            (["--journal", self.path("no-dir", "J"), "--resume"], "J"),
            (["--fsync-interval", "soon"], "--fsync-interval"),
            (["--commands", empty, "--timeout", "-1"], None),
            (["--frobnicate"], "frobnicate"),
            (["--journal", self.dir], self.dir),
            (["--commands", self.write_commands(), "--logdir", "/proc/no-such-dir"],
             "/proc/no-such-dir"),
        ]

    def write_commands(self):
        path = self.path("ok.txt")
        with open(path, "w") as f:
            f.write("true\n")
        return path

    def test_threads(self):
        for args, mention in self.cases():
            self.assert_one_error(run(["farm"] + args + THREADS, timeout=60), 2, mention, args)

    def test_under_mpirun(self):
        cases = self.cases()
        for index in [0, 1, 4, 9, 21]:
            args, mention = cases[index]
            self.assert_one_error(run(["farm"] + args, ranks=3, timeout=60), 2, mention,
                                  f"np 3 {args}")


class FarmProgressInterval(unittest.TestCase):
    def test_lines_every_interval_and_the_final_line(self):
        for ranks, backend in [(None, THREADS), (3, ["--threads", "1"])]:
            r = run(COST + ["--tasks", "300", "--json"] + backend + FAST_PROGRESS, ranks=ranks)
            self.assertEqual(r.code, 0, r.err)
            self.assertEqual(r.json()["tasks"], 300)
            lines = progress_lines(self, r.err, "farm cost")
            self.assertGreaterEqual(len(lines), 2, r.err)  # ~0.4 s of work, a line per 50 ms
            self.assertTrue(lines[-1].startswith("farm cost: finished: 300/300 (100.0%)"),
                            lines[-1])
            self.assertEqual(r.err.count("finished:"), 1, r.err)

if __name__ == "__main__":
    unittest.main()
