"""CLI tests of `parakit sum`: numbers, bitwise reproducibility of exact mode across every
worker count, file input, and the error paths (including a one-rank error under mpirun)."""
import math
import os
import random
import struct
import tempfile
import unittest
import uuid

from parakit_cli import (FAST_PROGRESS, HANG_SECONDS, STOP_SECONDS, assert_took_less,
                         exact_reference, fast_sum_bound, processes_left, progress_lines, run,
                         write_npy)

try:
    import h5py
    import numpy as np
except ImportError:  # the tests that need them skip (and fail under CI=true)
    h5py = np = None


def need_h5py(test):
    if h5py is None:
        test.skipTest("h5py or numpy is not installed (apt-get install python3-h5py): "
                      "HDF5 input checks skipped")

RANKS = [1, 2, 3, 4, 7]
THREADS = [1, 2, 3, 4, 5, 6, 7, 8]


def as_float(value):
    if isinstance(value, str):
        return {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}[value]
    return float(value)


def bits(value):
    return struct.pack("<d", as_float(value))


class SumNumbers(unittest.TestCase):
    def test_ones_closed_form_everywhere(self):
        for n in [0, 1, 1000, 123457]:
            args = ["sum", "--dist", "ones", "--n", str(n), "--json"]
            for mode in ["fast", "exact"]:
                for result in [run(args + ["--mode", mode, "--backend", "serial"]),
                               run(args + ["--mode", mode, "--backend", "threads", "--threads", "3"]),
                               run(args + ["--mode", mode], ranks=2)]:
                    self.assertEqual(result.code, 0, result.err)
                    self.assertEqual(as_float(result.json()["sum"]), float(n))

    def test_one_json_object_when_mpirun_starts_independent_thread_runs(self):
        r = run(["sum", "--n", "1000", "--dist", "ones", "--backend", "threads", "--threads", "1",
                 "--json"], ranks=3)
        self.assertEqual(r.code, 0, r.err)
        self.assertEqual(r.json()["sum"], 1000)

    def test_json_fields(self):
        r = run(["sum", "--n", "1e4", "--json", "--threads", "2"], ranks=3)
        self.assertEqual(r.code, 0, r.err)
        j = r.json()
        for key in ["sum", "n", "mode", "backend", "ranks", "threads", "workers", "seconds"]:
            self.assertIn(key, j)
        self.assertEqual((j["backend"], j["ranks"], j["threads"], j["workers"]), ("mpi", 3, 2, 6))
        self.assertEqual(j["n"], 10000)
        self.assertIn("generate_seconds", j)

    def test_exact_is_bitwise_identical_for_every_worker_count_and_matches_reference(self):
        with tempfile.TemporaryDirectory() as tmp:
            for dist, n in [("cancel", 200003), ("normal", 100001), ("uniform", 77777)]:
                saved = os.path.join(tmp, f"{dist}.npy")
                base = ["sum", "--dist", dist, "--n", str(n), "--seed", "7", "--mode", "exact", "--json"]
                first = run(base + ["--backend", "threads", "--threads", "1", "--save-data", saved])
                self.assertEqual(first.code, 0, first.err)
                expected = bits(first.json()["sum"])
                self.assertEqual(expected, bits(float(exact_reference(saved))), dist)
                for t in THREADS:
                    r = run(base + ["--backend", "threads", "--threads", str(t)])
                    self.assertEqual(r.code, 0, r.err)
                    self.assertEqual(bits(r.json()["sum"]), expected, f"{dist} threads={t}")
                for p in RANKS:
                    r = run(base, ranks=p)
                    self.assertEqual(r.code, 0, r.err)
                    self.assertEqual(r.json()["ranks"], p)
                    self.assertEqual(bits(r.json()["sum"]), expected, f"{dist} ranks={p}")
                hybrid = run(base + ["--threads", "2"], ranks=3)
                self.assertEqual(bits(hybrid.json()["sum"]), expected, f"{dist} 3x2 hybrid")

    def test_fast_is_within_its_bound_of_the_exact_sum(self):
        """The fast sum against the independent exact sum of the same data (saved by a
        single-process run, summed by scripts/ref_sum.py) within the a priori bound of its
        summation order (parakit_cli.fast_sum_bound)."""
        n = 300000
        with tempfile.TemporaryDirectory() as tmp:
            for dist in ["uniform", "normal", "cancel"]:
                saved = os.path.join(tmp, f"{dist}.npy")
                first = run(["sum", "--dist", dist, "--n", str(n), "--backend", "serial",
                             "--save-data", saved, "--json"])
                self.assertEqual(first.code, 0, first.err)
                exact, sum_abs = exact_reference(saved, with_abs=True)
                for args, ranks, workers in [(["--backend", "serial"], None, 1),
                                             (["--threads", "3"], None, 3),
                                             ([], 4, 4), (["--threads", "2"], 3, 6)]:
                    r = run(["sum", "--dist", dist, "--n", str(n), "--json"] + args, ranks=ranks)
                    self.assertEqual(r.code, 0, r.err)
                    self.assertEqual(r.json()["workers"], workers)
                    error = abs(as_float(r.json()["sum"]) - exact)
                    bound = fast_sum_bound(n, workers, sum_abs)
                    self.assertLessEqual(error, bound, f"{dist} {args} ranks={ranks}")


class SumFiles(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name
        rng = random.Random(11)
        self.values = [rng.uniform(-1, 1) * 2.0 ** rng.randint(-60, 60) for _ in range(50001)]
        self.values += [1e300, -1e300, 3.0, 2.0 ** -1074]

    def tearDown(self):
        self.tmp.cleanup()

    def check_file(self, path):
        expected = bits(float(exact_reference(path)))
        for args, ranks in [(["--backend", "serial"], None), (["--threads", "4"], None),
                            ([], 1), ([], 3), (["--threads", "2"], 2)]:
            r = run(["sum", "--input", path, "--mode", "exact", "--json"] + args, ranks=ranks)
            self.assertEqual(r.code, 0, r.err)
            self.assertEqual(bits(r.json()["sum"]), expected, (path, args, ranks))
        return expected

    def test_fast_mode_on_files_within_its_bound(self):
        """--mode fast on file input against the independent exact sum of the file."""
        rng = random.Random(5)
        plain = [rng.uniform(-1, 1) for _ in range(100003)]
        for name, values in [("wide", self.values), ("plain", plain)]:
            path = os.path.join(self.dir, f"{name}.npy")
            write_npy(path, values)
            exact, sum_abs = exact_reference(path, with_abs=True)
            for args, ranks, workers in [(["--backend", "serial"], None, 1),
                                         (["--threads", "4"], None, 4), ([], 3, 3),
                                         (["--threads", "2"], 2, 4)]:
                r = run(["sum", "--input", path, "--mode", "fast", "--json"] + args, ranks=ranks)
                self.assertEqual(r.code, 0, r.err)
                self.assertEqual(r.json()["workers"], workers)
                error = abs(as_float(r.json()["sum"]) - exact)
                bound = fast_sum_bound(len(values), workers, sum_abs)
                self.assertLessEqual(error, bound, f"{name} {args} ranks={ranks}")

    def test_npy_float64_any_shape(self):
        path = os.path.join(self.dir, "a.npy")
        write_npy(path, self.values[:50000], shape=(100, 500))
        self.check_file(path)

    def test_npy_float32(self):
        path = os.path.join(self.dir, "f.npy")
        small = [float(struct.unpack("<f", struct.pack("<f", v))[0]) for v in self.values[:40000]
                 if abs(v) < 1e30 and (v == 0 or abs(v) > 1e-30)]
        write_npy(path, small, dtype="<f4")
        r = run(["sum", "--input", path, "--json"], ranks=2)
        self.assertEqual(r.json()["dtype"], "float32")
        self.check_file(path)

    def test_raw_bin(self):
        path = os.path.join(self.dir, "raw.bin")
        with open(path, "wb") as f:
            f.write(struct.pack(f"<{len(self.values)}d", *self.values))
        self.check_file(path)

    def test_npy_version2_header(self):
        path = os.path.join(self.dir, "v2.npy")
        write_npy(path, self.values[:1000], version=2)
        self.check_file(path)

    def test_nonfinite_written_as_strings(self):
        cases = {"inf": [1.0, math.inf], "-inf": [-math.inf, 5.0], "nan": [math.inf, -math.inf]}
        for expected, values in cases.items():
            path = os.path.join(self.dir, f"{expected}.npy")
            write_npy(path, values)
            for mode in ["fast", "exact"]:
                r = run(["sum", "--input", path, "--mode", mode, "--json"], ranks=2)
                self.assertEqual(r.code, 0, r.err)
                self.assertEqual(r.json()["sum"], expected)


class SumTables(unittest.TestCase):
    """HDF5 datasets and CSV through the input layer, loaded and streamed (a memory budget
    below every rank's share): exact sums equal the independent reference of the same values
    bit for bit at every rank and thread count; fast sums stay within their bound."""

    CONFIGS = [(["--backend", "serial"], None), (["--threads", "3"], None), ([], 1), ([], 3),
               (["--threads", "2"], 2)]

    def setUp(self):
        need_h5py(self)
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name
        rng = np.random.default_rng(17)
        self.values = rng.standard_normal(60001) * np.exp2(rng.integers(-50, 50, 60001))
        self.values[:3] = [1e300, -1e300, 2.0 ** -1074]
        self.reference = os.path.join(self.dir, "reference.npy")

    def tearDown(self):
        self.tmp.cleanup()

    def expected(self, values):
        np.save(self.reference, np.asarray(values, dtype=np.float64))
        return bits(float(exact_reference(self.reference)))

    def check(self, args, values, dtype="float64"):
        want = self.expected(values)
        for budget, streamed in [([], False), (["--memory-budget", "1KiB"], True)]:
            for extra, ranks in self.CONFIGS:
                r = run(["sum", "--mode", "exact", "--json"] + args + budget + extra, ranks=ranks)
                self.assertEqual(r.code, 0, r.err)
                doc = r.json()
                where = (args, budget, extra, ranks)
                self.assertEqual(bits(doc["sum"]), want, where)
                self.assertEqual((doc["n"], doc["streamed"]), (len(values), streamed), where)
                if streamed:
                    self.assertEqual(doc["dtype"], dtype, where)

    def test_hdf5_datasets(self):
        path = os.path.join(self.dir, "t.h5")
        table = self.values[:60000].reshape(20000, 3)
        with h5py.File(path, "w") as f:
            f.create_dataset("plain", data=table)
            f.create_dataset("run/deflated", data=table, chunks=(999, 3), compression="gzip",
                             shuffle=True)
            f.create_dataset("single", data=self.values.astype(np.float32))
        self.check(["--input", path, "--dataset", "plain"], table.ravel())
        self.check(["--input", path, "--dataset", "/run/deflated"], table.ravel())
        self.check(["--input", path, "--dataset", "single"],
                   self.values.astype(np.float32).astype(np.float64), dtype="float32")

    def test_csv(self):
        path = os.path.join(self.dir, "t.csv")
        table = self.values[:60000].reshape(30000, 2)
        with open(path, "w") as f:
            f.write("# two columns\nx,y\n")
            f.writelines(f"{a!r},{b!r}\r\n" for a, b in table)
        self.check(["--input", path], table.ravel())

    def test_npy_streamed_equals_loaded_and_fast_keeps_its_bound(self):
        path = os.path.join(self.dir, "t.npy")
        np.save(path, self.values)
        self.check(["--input", path], self.values)
        exact, sum_abs = exact_reference(path, with_abs=True)
        for extra, ranks in self.CONFIGS:
            r = run(["sum", "--input", path, "--memory-budget", "1KiB", "--json"] + extra,
                    ranks=ranks)
            self.assertEqual(r.code, 0, r.err)
            bound = fast_sum_bound(len(self.values), r.json()["workers"], sum_abs)
            self.assertLessEqual(abs(as_float(r.json()["sum"]) - exact), bound, (extra, ranks))


class SumStreamingMemory(unittest.TestCase):
    """A 3 GiB file summed with a 256 MiB budget is streamed: every rank's peak resident set
    stays under 150 MB, whatever the file size, and the exact sum is the closed form."""

    BLOCKS = 384  # of 8 MiB

    def test_few_gigabytes_stream_in_bounded_memory(self):
        block = [float(i % 1000) - 499.75 for i in range(1 << 20)]
        block_sum = math.fsum(block)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "big.npy")
            write_npy(path, [0.0], shape=(len(block) * self.BLOCKS,))
            payload = struct.pack(f"<{len(block)}d", *block)
            with open(path, "r+b") as f:
                f.seek(-8, os.SEEK_END)
                for _ in range(self.BLOCKS):
                    f.write(payload)
            want = bits(block_sum * self.BLOCKS)
            for extra, ranks in [(["--threads", "2"], None), ([], 2)]:
                r = run(["sum", "--input", path, "--mode", "exact", "--memory-budget", "256MiB",
                         "--json"] + extra, ranks=ranks, timeout=HANG_SECONDS)
                self.assertEqual(r.code, 0, r.err)
                doc = r.json()
                self.assertTrue(doc["streamed"])
                self.assertEqual(doc["n"], len(block) * self.BLOCKS)
                self.assertEqual(bits(doc["sum"]), want)
                for rank, peak in enumerate(doc["peak_rss_bytes"]):
                    self.assertLess(peak, 150e6, f"rank {rank} peaked at {peak / 1e6:.0f} MB")


class SumErrors(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def expect_usage_error(self, args, ranks=None, mention=None, env=None, code=2):
        r = run(args, ranks=ranks, timeout=60, env=env)
        self.assertEqual(r.code, code, f"{args}: {r.err}")
        lines = r.error_lines()
        self.assertEqual(len(lines), 1, f"{args} under {ranks} ranks: {r.err!r}")
        if mention:
            self.assertIn(mention, lines[0])
        self.assertEqual(r.out.strip(), "")
        return r

    def bad_files(self):
        truncated = os.path.join(self.dir, "trunc.npy")
        write_npy(truncated, [1.0] * 100)
        with open(truncated, "r+b") as f:
            f.truncate(os.path.getsize(truncated) - 12)
        ints = os.path.join(self.dir, "ints.npy")
        write_npy(ints, [1, 2, 3], dtype="<i4")
        big_endian = os.path.join(self.dir, "be.npy")
        write_npy(big_endian, [1.0, 2.0], dtype=">f8")
        odd = os.path.join(self.dir, "odd.bin")
        with open(odd, "wb") as f:
            f.write(b"\0" * 12)
        return {"missing": os.path.join(self.dir, "nope.npy"), "truncated": truncated,
                "<i4": ints, ">f8": big_endian, "odd": odd}

    def test_bad_arguments_threads(self):
        for args, mention in [
            (["sum", "--n", "-5"], "--n"),
            (["sum", "--n", "abc"], "--n"),
            (["sum", "--n", "1.5"], "--n"),
            (["sum", "--n", "1e15"], "memory"),
            (["sum", "--n", "2^61"], "--n 2305843009213693952"),
            (["sum", "--n", "2^63"], "--n"),
            (["sum", "--n", "9223372036854775809"], "--n"),
            (["sum", "--mode", "sloppy"], "--mode"),
            (["sum", "--dist", "cauchy"], "cauchy"),
            (["sum", "--frobnicate"], "frobnicate"),
            (["sum", "--threads", "0"], "--threads"),
            (["sum", "--backend", "gpu"], "gpu"),
            (["nosuchcommand"], "nosuchcommand"),
        ]:
            self.expect_usage_error(args, mention=mention)

    def test_bad_files(self):
        for name, path in self.bad_files().items():
            r = self.expect_usage_error(["sum", "--input", path], mention=os.path.basename(path))
            self.assertTrue(r.error_lines()[0].startswith("parakit: error: "), name)

    def test_errors_under_mpirun_print_once_and_end_quickly(self):
        files = self.bad_files()
        for args in [["sum", "--n", "-1"], ["sum", "--n", "1e15"], ["sum", "--bogus"],
                     ["sum", "--input", files["truncated"]], ["sum", "--input", files["<i4"]],
                     ["sum", "--input", files["missing"]]]:
            r = run(args, ranks=4, timeout=HANG_SECONDS)
            self.assertNotEqual(r.code, 0, args)
            self.assertEqual(len(r.error_lines()), 1, f"{args}: {r.err!r}")
            assert_took_less(self, r.seconds, HANG_SECONDS, args)

    def test_one_rank_error_ends_the_whole_job(self):
        # Only rank 3 fails while loading; the others must not wait for it forever.
        tag = uuid.uuid4().hex
        r = run(["sum", "--n", "1e6"], ranks=4, timeout=HANG_SECONDS,
                env={"PARAKIT_FAULT": "load:error@3", "PARAKIT_TEST_TAG": tag})
        self.assertEqual(r.code, 2, r.err)
        self.assertEqual(len(r.error_lines()), 1, r.err)
        self.assertIn("rank 3", r.error_lines()[0])
        assert_took_less(self, r.seconds, HANG_SECONDS, "one rank's error")
        self.assertEqual(processes_left("PARAKIT_TEST_TAG", tag), {})

    def test_one_rank_crash_aborts_every_rank(self):
        """Rank 2 dies of SIGSEGV: mpirun ends the job, and no rank or helper survives it."""
        tag = uuid.uuid4().hex
        r = run(["sum", "--n", "1e6"], ranks=4, timeout=HANG_SECONDS,
                env={"PARAKIT_FAULT": "load:crash@2", "PARAKIT_TEST_TAG": tag})
        self.assertNotEqual(r.code, 0)
        self.assertGreaterEqual(len(r.error_lines()), 1, r.err)
        assert_took_less(self, r.seconds, HANG_SECONDS, "a rank's crash")
        left = processes_left("PARAKIT_TEST_TAG", tag, timeout=STOP_SECONDS)
        self.assertEqual(left, {}, f"processes left after the crash: {sorted(left)}")



class SumProgress(unittest.TestCase):
    """--progress on a streamed --input: bytes read of this rank's part (all repeats), MB/s or
    GB/s, on stderr only; the loaded and generated sums print none."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.tmp.name, "ones.npy")
        write_npy(self.path, [1.0] * (1 << 20))

    def tearDown(self):
        self.tmp.cleanup()

    def test_streamed_bytes_and_json_unchanged(self):
        args = ["sum", "--input", self.path, "--memory-budget", "1KiB", "--repeat", "3", "--json"]
        for ranks, share in [(None, 1 << 23), (2, 1 << 22)]:
            plain = run(args, ranks=ranks)
            r = run(args + FAST_PROGRESS, ranks=ranks)
            self.assertEqual(r.code, 0, r.err)
            for key in ["sum", "n", "dtype", "bytes", "streamed"]:
                self.assertEqual(r.json()[key], plain.json()[key], key)
            lines = progress_lines(self, r.err, "sum")
            total = f"{3 * share / 1e6:.2f}"
            self.assertRegex(lines[-1], rf"^sum: finished streaming {self.path}: {total}/{total} "
                                        r"MB \(100\.0%\)  \S+ [MG]B/s  in \d+:\d\d$")
            self.assertEqual(r.err.count("finished streaming"), 1, r.err)

    def test_nothing_when_loaded_or_generated(self):
        for args in [["--input", self.path], ["--n", "2^20"]]:
            r = run(["sum"] + args + FAST_PROGRESS)
            self.assertEqual(r.code, 0, r.err)
            self.assertEqual(r.err, "")
            self.assertIn("sum", r.out)


if __name__ == "__main__":
    unittest.main()
