"""Stress: every workload with 8 MPI ranks on this machine's 2 cores (4x oversubscribed), and
8 ranks x 2 threads, and 8 threads on the thread backend, against the serial backend's result:
bitwise for the exact sum, the farm's checksum (demo tasks and shell commands) and every KDE
figure; the fast sum within the a priori bound of its summation order against the exact sum
(parakit_cli.fast_sum_bound, the bound test_sum.py uses).

Oversubscription slows every message and makes every wait a real sleep, so it shakes out
ordering assumptions and busy-wait starvation that one rank per core never shows."""
import math
import os
import tempfile
import unittest

import numpy as np

from parakit_cli import fast_sum_bound, run
from test_kde import stable
from test_sum import as_float, bits

RANKS = 8


def ok_json(test, args, ranks=None, what=""):
    r = run(list(args) + ["--json"], ranks=ranks, timeout=300)
    test.assertEqual(r.code, 0, f"{what or ' '.join(args)} (ranks={ranks}): {r.err}")
    return r.json()


class Oversubscribed(unittest.TestCase):
    def test_sum_exact_bitwise_and_fast_within_bound(self):
        n = 20_000_000
        with tempfile.TemporaryDirectory(prefix="parakit-stress-") as tmp:
            for dist in ("uniform", "normal"):
                base = ["sum", "--n", str(n), "--dist", dist]
                saved = os.path.join(tmp, f"{dist}.npy")
                exact = ok_json(self, base + ["--mode", "exact", "--backend", "serial",
                                              "--save-data", saved])
                # sum |x| of the very data, independently (NumPy's pairwise sum is within
                # 1e-12 relative of it: the bound below allows for that).
                sum_abs = float(np.abs(np.load(saved)).sum()) * (1 + 1e-12)
                os.unlink(saved)
                for extra, ranks in ((["--backend", "threads", "--threads", "8"], None),
                                     ([], RANKS), (["--threads", "2"], RANKS)):
                    got = ok_json(self, base + ["--mode", "exact"] + extra, ranks)
                    self.assertEqual(bits(got["sum"]), bits(exact["sum"]), f"{dist} {extra} {ranks}")
                    if ranks:
                        self.assertEqual((got["backend"], got["ranks"]), ("mpi", RANKS))
                    fast = ok_json(self, base + ["--mode", "fast"] + extra, ranks)
                    error = abs(as_float(fast["sum"]) - as_float(exact["sum"]))
                    bound = fast_sum_bound(n, fast["workers"], sum_abs)
                    # about 3.5e-4 here, where n 2^-52 max(|sum|, 5 n) allowed 0.44: a term
                    # of the data lost on the way would now fail
                    self.assertLessEqual(error, bound, f"{dist} {extra} {ranks}")

    def test_farm_queue_chunk_1_and_spinning_cost_tasks(self):
        for args in (["farm", "--demo", "queue", "--tasks", "1e5", "--chunk", "1"],
                     ["farm", "--demo", "cost", "--cost", "uniform:0.2ms:0.5ms",
                      "--tasks", "2000"],
                     ["farm", "--demo", "cost", "--cost", "uniform:0.1ms:0.3ms",
                      "--tasks", "1000", "--master-computes", "--fail-every", "7",
                      "--fail-attempts", "1", "--retries", "1"]):
            ref = ok_json(self, args + ["--backend", "serial"])
            for extra, ranks in ((["--backend", "threads", "--threads", "8"], None),
                                 ([], RANKS), (["--threads", "2"], RANKS)):
                got = ok_json(self, args + extra, ranks)
                what = f"{' '.join(args + extra)} ranks={ranks}"
                self.assertEqual((got["done"], got["failed"], got["not_run"]),
                                 (ref["done"], 0, 0), what)
                self.assertEqual(got["checksum"], ref["checksum"], what)
                if "result" in ref:
                    self.assertEqual(got["result"], ref["result"], what)
        self.assertEqual(ok_json(self, ["farm", "--demo", "queue", "--tasks", "1e5",
                                        "--backend", "serial"])["result"], 100000 * 99999 // 2)

    def test_farm_journal_resume(self):
        """A journaled run cut in two (resume of the first half's journal) under 8 ranks."""
        with tempfile.TemporaryDirectory(prefix="parakit-stress-") as tmp:
            journal = os.path.join(tmp, "J")
            args = ["farm", "--demo", "cost", "--cost", "uniform:0.1ms:0.2ms", "--tasks", "3000",
                    "--chunk", "1", "--journal", journal]
            ref = ok_json(self, args[:-2] + ["--backend", "serial"])
            first = ok_json(self, args, RANKS)
            self.assertEqual(first["checksum"], ref["checksum"])
            again = ok_json(self, args + ["--resume"], RANKS)
            self.assertEqual((again["resumed"], again["done"]), (3000, 3000))
            self.assertEqual(again["checksum"], ref["checksum"])

    def test_farm_of_shell_commands(self):
        """120 shell commands (every 17th exits 2), 16 at once on 2 cores under 8 ranks x 2."""
        with tempfile.TemporaryDirectory(prefix="parakit-stress-") as tmp:
            commands = os.path.join(tmp, "commands.txt")
            with open(commands, "w") as f:
                for i in range(120):
                    f.write("exit 2\n" if i % 17 == 0 else "echo $(( {id} * {id} ))\n")
            docs = {}
            for name, extra, ranks in (("serial", ["--backend", "serial"], None),
                                       ("threads", ["--backend", "threads", "--threads", "8"],
                                        None),
                                       ("mpi", ["--tasks-per-rank", "2"], RANKS)):
                logdir = os.path.join(tmp, f"logs-{name}")
                r = run(["farm", "--commands", commands, "--logdir", logdir, "--json"] + extra,
                        ranks=ranks, timeout=300)
                self.assertEqual(r.code, 1, f"{name}: {r.err}")  # 8 commands fail, as written
                docs[name] = r.json()
                for i in range(1, 120):
                    if i % 17:
                        with open(os.path.join(logdir, "0", f"{i}.out")) as f:
                            self.assertEqual(f.read(), f"{i * i}\n", f"{name} task {i}")
            for name, doc in docs.items():
                self.assertEqual((doc["done"], doc["failed"], doc["exit_codes"]),
                                 (112, 8, {"0": 112, "2": 8}), name)
                self.assertEqual(doc["checksum"], docs["serial"]["checksum"], name)

    def test_kde_grid_and_cv_bitwise(self):
        for args in (["kde", "--grid", "40x40", "--widths", "0.3:1.5:20", "--kernel", "gaussian"],
                     ["kde", "--grid", "30x30", "--widths", "0.3,0.8,1.5"],
                     ["kde", "--samples", "3000", "--widths", "0.2:1.0:9", "--cv", "loglik"],
                     ["kde", "--samples", "2000", "--widths", "0.2:1.0:5", "--cv", "lsq",
                      "--kernel", "gaussian"]):
            ref = stable(ok_json(self, args + ["--backend", "serial"]))
            for extra, ranks in ((["--backend", "threads", "--threads", "8"], None),
                                 ([], RANKS), (["--threads", "2"], RANKS)):
                got = ok_json(self, args + extra, ranks)
                self.assertEqual(stable(got), ref, f"{' '.join(args + extra)} ranks={ranks}")
            self.assertTrue(all(math.isfinite(x) for row in ref.get("density", [[0]]) for x in row))


if __name__ == "__main__":
    unittest.main()
