"""parakit bench: the harness's correctness (not timings). A tiny run on threads and under
mpirun -np 2; its table must follow from its own samples (median, speedup, efficiency,
Karp-Flatt recomputed here), and --out JSON/CSV must hold the same samples."""
import csv
import json
import os
import statistics
import struct
import tempfile
import unittest

from parakit_cli import FAST_PROGRESS, HANG_SECONDS, assert_took_less, progress_lines, run

TINY = ["--reps", "2", "--n", "2^16", "--farm-tasks", "20", "--farm-cost", "uniform:0.1ms:0.1ms",
        "--kde-samples", "400", "--kde-grid", "10x10", "--pi-samples", "2^14"]


class BenchHarness(unittest.TestCase):
    def check_rows(self, doc):
        """Every row's figures follow from the samples (strong or weak scaling)."""
        for row in doc["rows"]:
            mine = [s["seconds"] for s in doc["samples"]
                    if s["workload"] == row["workload"] and s["p"] == row["p"]]
            base = [s["seconds"] for s in doc["samples"]
                    if s["workload"] == row["workload"] and s["p"] == 1]
            self.assertEqual(row["scaling"], doc["scaling"])
            self.assertEqual(row["median"], statistics.median(mine))
            self.assertEqual((row["min"], row["max"]), (min(mine), max(mine)))
            if not base:  # a reference timed at one p only (rtt)
                self.assertEqual(row["speedup"], 0)
                continue
            ratio = statistics.median(base) / statistics.median(mine)
            if doc["scaling"] == "weak":  # efficiency T1/Tp, scaled speedup p E
                self.assertAlmostEqual(row["efficiency"], ratio, places=12)
                self.assertAlmostEqual(row["speedup"], ratio * row["p"], places=12)
                self.assertEqual(row["karp_flatt"], 0)
                continue
            self.assertAlmostEqual(row["speedup"], ratio, places=12)
            self.assertAlmostEqual(row["efficiency"], ratio / row["p"], places=12)
            if row["p"] > 1:
                kf = (1 / ratio - 1 / row["p"]) / (1 - 1 / row["p"])
                self.assertAlmostEqual(row["karp_flatt"], kf, places=12)
            else:
                self.assertEqual(row["karp_flatt"], 0)

    def check(self, doc, backend, steps):
        self.assertEqual(doc["command"], "bench")
        self.assertEqual(doc["scaling"], "strong")
        self.assertEqual(doc["backend"], backend)
        self.assertEqual(doc["steps"], steps)
        for key in ("cpu", "cpus", "hosts", "parakit", "git", "compiler", "mpi"):
            self.assertIn(key, doc["machine"])
        workloads = ["sum", "farm", "kde-grid", "kde-cv", "kde-gauss-grid", "kde-gauss-cv", "pi"]
        self.assertEqual(len(doc["samples"]), 2 * len(steps) * len(workloads))
        # Interleaved: rep-major, then p, then workload.
        order = [(s["rep"], s["p"], s["workload"]) for s in doc["samples"]]
        self.assertEqual(order, [(r, p, w) for r in range(2) for p in steps for w in workloads])
        for s in doc["samples"]:
            self.assertGreater(s["seconds"], 0)
        self.check_rows(doc)

    def test_threads(self):
        r = run(["bench", "all", "--backend", "threads", "--threads", "2", "--json"] + TINY,
                timeout=300)
        self.assertEqual(r.code, 0, r.err)
        self.check(r.json(), "threads", [1, 2])

    def test_mpirun_np2_and_out_files(self):
        with tempfile.TemporaryDirectory() as tmp:
            js, cs = os.path.join(tmp, "b.json"), os.path.join(tmp, "b.csv")
            r = run(["bench", "--json", "--out", js, "--out", cs] + TINY, ranks=2, timeout=300)
            self.assertEqual(r.code, 0, r.err)
            doc = r.json()
            self.check(doc, "mpi", [1, 2])
            with open(js) as f:
                self.assertEqual(json.load(f)["samples"], doc["samples"])
            with open(cs) as f:
                rows = list(csv.DictReader(f))
            self.assertEqual([(x["workload"], x["scaling"], int(x["p"]), int(x["rep"]),
                               float(x["seconds"])) for x in rows],
                             [(s["workload"], s["scaling"], s["p"], s["rep"], s["seconds"])
                              for s in doc["samples"]])

    def test_compare_round_trip_and_plots(self):
        with tempfile.TemporaryDirectory() as tmp:
            js, cs, plots = (os.path.join(tmp, n) for n in ("b.json", "b.csv", "plots"))
            r = run(["bench", "sum", "kde-grid", "--backend", "threads", "--threads", "2",
                     "--out", js, "--out", cs, "--plot", plots] + TINY, timeout=300)
            self.assertEqual(r.code, 0, r.err)
            # The same run through JSON and through CSV: ratio exactly 1, never a change.
            c = run(["bench", "--compare", js, cs, "--json"])
            self.assertEqual(c.code, 0, c.err)
            doc = c.json()
            self.assertEqual(len(doc["rows"]), 4)  # 2 workloads x p = 1, 2
            self.assertEqual(doc["regressions"], 0)
            for row in doc["rows"]:
                self.assertEqual(row["ratio"], 1.0)
                self.assertEqual(row["verdict"], "same (within noise)")
            # CSV files from before the scaling column (5 columns) still compare.
            with open(js) as f:
                samples = json.load(f)["samples"]
            old = os.path.join(tmp, "old.csv")
            with open(old, "w") as f:
                f.write("workload,backend,p,rep,seconds\n")
                for x in samples:
                    f.write(f'{x["workload"]},{x["backend"]},{x["p"]},{x["rep"]},'
                            f'{x["seconds"]!r}\n')
            c = run(["bench", "--compare", old, js, "--json"])
            self.assertEqual(c.code, 0, c.err)
            self.assertEqual([row["ratio"] for row in c.json()["rows"]], [1.0] * 4)
            # A run 3x slower with no overlap of the bands is flagged.
            with open(cs) as f:
                lines = f.read().splitlines()
            slow = os.path.join(tmp, "slow.csv")
            with open(slow, "w") as f:
                f.write(lines[0] + "\n")
                for line in lines[1:]:
                    cells = line.split(",")
                    cells[5] = repr(float(cells[5]) * 3 + 1.0)
                    f.write(",".join(cells) + "\n")
            c = run(["bench", "--compare", cs, slow, "--json"])
            self.assertEqual(c.json()["regressions"], 4, c.out)
            for name in ("speedup.png", "efficiency.png", "time.png"):
                with open(os.path.join(plots, name), "rb") as f:
                    head = f.read(24)
                self.assertEqual(head[:8], b"\x89PNG\r\n\x1a\n", name)
                self.assertEqual(struct.unpack(">II", head[16:24]), (800, 600), name)
            bad = os.path.join(tmp, "bad.csv")
            with open(bad, "w") as f:
                f.write("workload,backend,p,rep,seconds\nsum,threads,x,0,1\n")
            c = run(["bench", "--compare", bad, cs])
            self.assertEqual(c.code, 2, c.err)
            self.assertIn("bad.csv:2:", c.error_lines()[0])

    def check_limits(self, doc, empty_tasks):
        names = [row["workload"] for row in doc["rows"]]
        self.assertEqual(names, ["sum", "sum", "sum-probe", "sum-probe", "farm", "farm",
                                 "farm-empty", "farm-empty", "rtt", "kde-grid", "kde-grid",
                                 "kde-naive", "kde-naive"])
        self.check_rows(doc)
        rtt = [s for s in doc["samples"] if s["workload"] == "rtt"]
        self.assertEqual([s["p"] for s in rtt], [2, 2])  # once per rep, between two workers
        median = {(row["workload"], row["p"]): row["median"] for row in doc["rows"]}
        self.assertEqual(len(doc["limits"]), 6)
        for limit in doc["limits"]:
            p = limit["p"]
            if limit["workload"] == "sum":
                self.assertAlmostEqual(limit["fraction_of_bandwidth"],
                                       median[("sum-probe", p)] / median[("sum", p)], places=12)
            elif limit["workload"] == "farm-empty":
                rate = empty_tasks / median[("farm-empty", p)]
                self.assertAlmostEqual(limit["tasks_per_second"], rate, delta=rate * 1e-12)
                self.assertEqual(limit["rtt_seconds"], median[("rtt", 2)])
                self.assertAlmostEqual(limit["tasks_per_rtt"], rate * median[("rtt", 2)],
                                       places=9)
            else:  # per query point: the naive loop runs 1/8 of the rows (10x10 -> 10x1)
                self.assertEqual(limit["reference_problem"],
                                 "10x1 grid, 400 samples, 20 widths, naive loop")
                self.assertAlmostEqual(limit["speedup_over_naive"],
                                       (median[("kde-naive", p)] / 10) /
                                       (median[("kde-grid", p)] / 100), places=9)

    def test_limits(self):
        args = ["bench", "sum", "farm", "kde-grid", "--limits", "--farm-empty-tasks", "500",
                "--json"] + TINY
        r = run(args + ["--backend", "threads", "--threads", "2"], timeout=300)
        self.assertEqual(r.code, 0, r.err)
        self.check_limits(r.json(), 500)
        r = run(args, ranks=2, timeout=300)  # the MPI ping-pong between ranks 0 and 1
        self.assertEqual(r.code, 0, r.err)
        self.check_limits(r.json(), 500)

    def test_gaussian_limits(self):
        # The Gaussian grid is half the hypercube's cells per axis (10x10 -> 5x5) and its naive
        # reference 1/8 of those rows (5x1); the CV runs on a fifth of the samples.
        r = run(["bench", "kde-gauss", "--limits", "--backend", "threads", "--threads", "2",
                 "--json"] + TINY, timeout=300)
        self.assertEqual(r.code, 0, r.err)
        doc = r.json()
        self.assertEqual([row["workload"] for row in doc["rows"]],
                         ["kde-gauss-grid", "kde-gauss-grid", "kde-gauss-naive",
                          "kde-gauss-naive", "kde-gauss-cv", "kde-gauss-cv", "kde-binned-grid",
                          "kde-binned-grid", "kde-binned-cv", "kde-binned-cv"])
        self.check_rows(doc)
        problems = {row["workload"]: row["problem"] for row in doc["rows"]}
        self.assertEqual(problems["kde-gauss-grid"], "5x5 grid, 400 samples, gaussian h = 0.2")
        self.assertEqual(problems["kde-gauss-cv"],
                         "80 samples, gaussian leave-one-out log-likelihood, 20 widths")
        self.assertEqual(problems["kde-binned-grid"],
                         "5x5 grid, 400 samples, gaussian h = 0.2, binned")
        self.assertEqual(problems["kde-binned-cv"], "80 samples, gaussian leave-one-out "
                         "log-likelihood, 20 widths, binned on 1024 x 1024")
        median = {(row["workload"], row["p"]): row["median"] for row in doc["rows"]}
        self.assertEqual([limit["p"] for limit in doc["limits"]], [1, 2])
        for limit in doc["limits"]:
            p = limit["p"]
            self.assertEqual(limit["reference"], "kde-gauss-naive")
            self.assertEqual(limit["reference_problem"],
                             "5x1 grid, 400 samples, gaussian h = 0.2, naive loop")
            self.assertAlmostEqual(limit["speedup_over_naive"],
                                   (median[("kde-gauss-naive", p)] / 5) /
                                   (median[("kde-gauss-grid", p)] / 25), places=9)

    def test_weak(self):
        r = run(["bench", "sum", "farm", "kde-cv", "--weak", "--backend", "threads", "--threads",
                 "3", "--json"] + TINY, timeout=300)
        self.assertEqual(r.code, 0, r.err)
        doc = r.json()
        self.assertEqual(doc["scaling"], "weak")
        self.assertEqual(doc["steps"], [1, 2, 3])
        self.check_rows(doc)
        problem = {(row["workload"], row["p"]): row["problem"] for row in doc["rows"]}
        for p in (1, 2, 3):  # sizes x p; the O(n^2) CV's samples x sqrt(p)
            self.assertEqual(problem[("sum", p)], f"n={65536 * p} doubles")
            self.assertTrue(problem[("farm", p)].startswith(f"{20 * p} tasks"), problem)
            self.assertTrue(problem[("kde-cv", p)].startswith(f"{round(400 * p ** 0.5)} samples"),
                            problem)
        # A weak run and a strong one share no rows: --compare refuses the pair.
        with tempfile.TemporaryDirectory() as tmp:
            weak, strong = os.path.join(tmp, "w.csv"), os.path.join(tmp, "s.csv")
            self.assertEqual(run(["bench", "sum", "--weak", "--backend", "threads", "--threads",
                                  "2", "--out", weak] + TINY, timeout=120).code, 0)
            self.assertEqual(run(["bench", "sum", "--backend", "threads", "--threads", "2",
                                  "--out", strong] + TINY, timeout=120).code, 0)
            with open(weak) as f:
                self.assertEqual({line.split(",")[2] for line in f.read().splitlines()[1:]},
                                 {"weak"})
            c = run(["bench", "--compare", strong, weak])
            self.assertEqual(c.code, 2, c.err)
            self.assertIn("no (workload, backend, scaling, p) in common", c.error_lines()[0])

    def test_bad_input(self):
        for args, mention in ((["nonsense"], "unknown workload"),
                              (["--max-p", "5", "--threads", "2"], "--max-p"),
                              (["--out", "x.txt"], "--out"),
                              (["--reps", "0"], "--reps"),
                              (["--farm-cost", "bogus"], "cost"),
                              (["--farm-empty-tasks", "0", "--limits"], "--farm-empty-tasks"),
                              (["--weak", "--n", "0"], "--n")):
            r = run(["bench", "--backend", "threads"] + args, timeout=60)
            self.assertEqual(r.code, 2, (args, r.err))
            lines = r.error_lines()
            self.assertEqual(len(lines), 1, r.err)
            self.assertIn(mention, lines[0])

    def test_missing_gnuplot_is_refused_before_the_runs(self):
        """--plot without gnuplot fails at once (not after the measurements), and leaves no
        --out file behind."""
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "b.json")
            # The runs would take minutes (20000 sums of 2^22 doubles): a refusal is at once.
            r = run(["bench", "sum", "--backend", "threads", "--threads", "1", "--reps", "20000",
                     "--n", "2^22", "--out", out, "--plot", os.path.join(tmp, "plots")],
                    env={"PATH": tmp}, timeout=HANG_SECONDS)
            self.assertEqual(r.code, 2, r.err)
            self.assertEqual(r.error_lines(),
                             ["parakit: error: --plot: gnuplot is not installed "
                              "(apt-get install gnuplot-nox)"])
            assert_took_less(self, r.seconds, 30, "the refusal")
            self.assertEqual(os.listdir(tmp), [])


class BenchProgress(unittest.TestCase):
    def test_one_line_per_interval_and_the_study_finished(self):
        for ranks in [None, 2]:
            r = run(["bench", "kde-grid", "pi", "--json", "--max-p", "2"] + TINY + FAST_PROGRESS,
                    ranks=ranks, timeout=HANG_SECONDS)
            self.assertEqual(r.code, 0, r.err)
            doc = r.json()  # stdout: the JSON document alone
            samples = len(doc["samples"])
            lines = progress_lines(self, r.err, "bench")
            self.assertRegex(lines[-1], rf"^bench: finished {samples} samples: "
                                        rf"{samples}/{samples} \(100\.0%\)")
            for line in lines[:-1]:
                self.assertRegex(line, r"^bench: \d+/\d+ \(\d+\.\d%\)  (kde-grid|pi) p=[12] "
                                       r"rep [12]/2  .* samples/s  ETA ")
            self.assertEqual(r.err.count("bench: finished"), 1, r.err)


if __name__ == "__main__":
    unittest.main()
