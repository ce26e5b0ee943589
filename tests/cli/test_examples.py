"""The library examples in examples/, built with the project, most run on threads
(PARAKIT_THREADS 1, 2, 3) and under mpirun -np 1..4 with the output checked against an
independent computation: stream_sum and exact_sum against math.fsum (bitwise), monte_carlo_pi
against pi within 5 standard errors, prefix_max against NumPy's cumsum, power_iteration
against NumPy's eigvalsh, kde_cv against a NumPy leave-one-out curve and brute-force
densities, histogram against NumPy's histogram, shell_farm against the sum of the squares its
commands print, prime_farm against NumPy's sieve after a SIGKILL and a resume; kde_blocks prints the same densities on 1 and 3 ranks, and they integrate to the
mass of N(0, I) on the grid's square."""
import math
import os
import signal
import subprocess
import tempfile
import time
import unittest

from parakit_cli import ENV, MPIEXEC

try:
    import h5py
    import numpy as np
except ImportError:  # the tests that need them skip (and fail under CI=true)
    h5py = np = None

EXAMPLES = os.environ.get("PARAKIT_EXAMPLES", "examples")


def run_example(name, args, ranks=None, threads=None):
    cmd = [os.path.join(EXAMPLES, name)] + args
    env = dict(ENV)
    if threads:
        env["PARAKIT_THREADS"] = str(threads)
    if ranks:
        cmd = [MPIEXEC, "-np", str(ranks), "--oversubscribe"] + cmd
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)


def every_launch(test, name, args, same=lambda out: out):
    """The example's stdout on threads 1, 2, 3 and under mpirun -np 1..4 (hybrid with 2 threads
    at 2 ranks), asserting each succeeded and all printed the same (what `same` keeps of it)."""
    outputs = []
    for ranks, threads in [(None, 1), (None, 2), (None, 3), (1, None), (2, 2), (3, None),
                           (4, None)]:
        r = run_example(name, args, ranks, threads)
        test.assertEqual(r.returncode, 0, f"{name} ranks={ranks} threads={threads}: {r.stderr}")
        outputs.append(r.stdout)
    for out in outputs[1:]:
        test.assertEqual(same(out), same(outputs[0]), name)
    return outputs[0]


class LibraryExamples(unittest.TestCase):
    def test_monte_carlo_pi(self):
        n, k, estimate = every_launch(self, "monte_carlo_pi", ["400000", "7"]).split()
        n, k = int(n), int(k)
        self.assertEqual(float(estimate), 4 * k / n)
        p = math.pi / 4
        self.assertLess(abs(4 * k / n - math.pi), 5 * 4 * math.sqrt(p * (1 - p) / n))
        r = run_example("monte_carlo_pi", ["lots"], 3)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertEqual(r.stderr.count("monte_carlo_pi: N must be"), 1, r.stderr)

    def test_exact_sum(self):
        n = 300007
        # the plain double reduction's bits depend on the split: only the exact sum is kept
        count, exact, plain = every_launch(self, "exact_sum", [str(n)],
                                           same=lambda out: out.split()[:2]).split()
        values = [(-1) ** i * math.ldexp(1 + (i % 7) * 2.0 ** -52, (i % 64) - 32)
                  for i in range(n)]
        self.assertEqual(int(count), n)
        self.assertEqual(float.fromhex(exact), math.fsum(values))
        self.assertLess(abs(float.fromhex(plain) - math.fsum(values)), 1e-6 * 2 ** 31)

    def test_prefix_max(self):
        if np is None:
            self.skipTest("numpy is not installed (apt-get install python3-numpy)")
        steps = 200003
        out = every_launch(self, "prefix_max", [str(steps), "1000"])
        self.assertEqual(out, every_launch(self, "prefix_max", [str(steps), "77"]))
        with np.errstate(over="ignore"):
            z = np.arange(steps, dtype=np.uint64) + np.uint64(0x9E3779B97F4A7C15)
            z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            z = z ^ (z >> np.uint64(31))
        walk = np.cumsum(np.where(z >> np.uint64(63), 1, -1))
        self.assertEqual([int(v) for v in out.split()],
                         [steps, int(walk[-1]), int(walk.max()), int(walk.argmax()) + 1])

    def test_power_iteration(self):
        if np is None:
            self.skipTest("numpy is not installed (apt-get install python3-numpy)")
        n, estimate = every_launch(self, "power_iteration", ["300"]).split()
        i = np.arange(int(n))
        a = 4 / int(n) + 0.5 ** np.abs(i[:, None] - i[None, :])
        want = np.linalg.eigvalsh(a).max()
        self.assertLess(abs(float(estimate) - want), 1e-12 * want)

    def test_prime_farm_resumes_after_a_kill(self):
        if np is None:
            self.skipTest("numpy is not installed (apt-get install python3-numpy)")
        limit, segment = 6_000_000, 5000
        sieve = np.ones(limit, bool)
        sieve[:2] = False
        for k in range(2, int(limit ** 0.5) + 1):
            if sieve[k]:
                sieve[k * k::k] = False
        with tempfile.TemporaryDirectory() as tmp:
            whole = os.path.join(tmp, "whole.journal")
            r = run_example("prime_farm", [whole, str(limit), str(segment)], 3)
            self.assertEqual(r.returncode, 0, r.stderr)
            tasks, ok, resumed, primes, checksum = r.stdout.split()
            self.assertEqual((int(tasks), int(ok), int(resumed)), (1200, 1200, 0))
            self.assertEqual(int(primes), int(sieve.sum()))
            # Killed (SIGKILL: no chance to clean up) once part of the journal is written,
            # then resumed on another backend: the same primes and checksum.
            path = os.path.join(tmp, "killed.journal")
            env = dict(ENV, PARAKIT_THREADS="1")
            proc = subprocess.Popen([os.path.join(EXAMPLES, "prime_farm"), path, str(limit),
                                     str(segment)], env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and proc.poll() is None:
                if os.path.exists(path) and os.path.getsize(path) > 4096:
                    break
                time.sleep(0.01)
            proc.send_signal(signal.SIGKILL)
            proc.communicate()
            r = run_example("prime_farm", [path, str(limit), str(segment), "--resume"], 3)
            self.assertEqual(r.returncode, 0, r.stderr)
            fields = r.stdout.split()
            self.assertEqual(fields[3:], [primes, checksum])
            self.assertGreater(int(fields[2]), 0)      # some tasks came from the journal
            self.assertLess(int(fields[2]), 1200)      # and some ran now
            r = run_example("prime_farm", [path, str(limit), str(segment)])
            self.assertEqual(r.returncode, 2, "an existing journal without --resume is refused")

    def test_shell_farm(self):
        n = 40
        with tempfile.TemporaryDirectory() as tmp:
            out = every_launch(self, "shell_farm", [os.path.join(tmp, "logs"), str(n)])
            self.assertEqual(out.split(), [str(n), str(n), str(sum(i * i for i in range(n)))])
            with open(os.path.join(tmp, "logs", "0", "7.out")) as f:
                self.assertEqual(f.read(), "49\n")
            r = run_example("shell_farm", ["/proc/no-such-dir/logs"], 2)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertEqual(r.stderr.count("shell_farm:"), 1, r.stderr)

    def test_histogram(self):
        if np is None or h5py is None:
            self.skipTest("numpy or h5py is not installed (apt-get install python3-h5py)")
        values = np.random.default_rng(6).standard_normal(50001) * 2
        with tempfile.TemporaryDirectory() as tmp:
            np.save(os.path.join(tmp, "v.npy"), values)
            np.save(os.path.join(tmp, "f.npy"), values.astype(np.float32))
            with h5py.File(os.path.join(tmp, "v.h5"), "w") as f:
                f.create_dataset("run/v", data=values, chunks=(1000,))
            for name, extra, data in [("v.npy", [], values),
                                      ("f.npy", [], values.astype(np.float32)),
                                      ("v.h5", ["/run/v"], values)]:
                args = [os.path.join(tmp, name), "-3", "4", "9"] + extra
                got = [int(c) for c in every_launch(self, "histogram", args).split()]
                want = np.histogram(data, bins=9, range=(-3.0, 4.0))[0]
                self.assertEqual(got, [int(c) for c in want], name)

    def test_kde_cv(self):
        if np is None:
            self.skipTest("numpy is not installed (apt-get install python3-numpy)")
        rng = np.random.default_rng(12)
        x = np.concatenate([rng.normal(0, 1, (500, 2)), rng.normal(2.5, 0.5, (300, 2))])
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "s.npy")
            np.save(path, x)
            out = every_launch(self, "kde_cv", [path]).splitlines()
        h, score = map(float, out[0].split())
        d2 = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
        np.fill_diagonal(d2, np.inf)

        def loo(width):
            k = np.exp(-d2 / (2 * width * width)).sum(1) / (len(x) - 1)
            return float(np.mean(np.log(k / (2 * np.pi * width * width))))

        self.assertLess(abs(score - loo(h)), 1e-10 * abs(score))
        self.assertGreaterEqual(score, max(loo(h * 1.01), loo(h / 1.01)))
        grid = np.array([[float(v) for v in line.split()] for line in out[1:]])
        self.assertEqual(len(grid), 21 * 21)
        r2 = ((grid[:, None, :2] - x[None, :, :]) ** 2).sum(-1)
        want = np.exp(-r2 / (2 * h * h)).sum(1) / (len(x) * 2 * np.pi * h * h)
        self.assertLess(np.abs(grid[:, 2] - want).max(), 1e-12 * want.max())


class StreamSum(unittest.TestCase):
    def test_files_sum_exactly_everywhere(self):
        if np is None or h5py is None:
            self.skipTest("numpy or h5py is not installed (apt-get install python3-h5py)")
        rng = np.random.default_rng(4)
        values = rng.standard_normal(30001) * np.exp2(rng.integers(-40, 40, 30001))
        want = math.fsum(values)
        with tempfile.TemporaryDirectory() as tmp:
            np.save(os.path.join(tmp, "v.npy"), values)
            with h5py.File(os.path.join(tmp, "v.h5"), "w") as f:
                f.create_dataset("run/v", data=values.reshape(-1, 1), chunks=(1000, 1),
                                 compression="gzip")
            with open(os.path.join(tmp, "v.csv"), "w") as f:
                f.writelines(f"{v!r}\n" for v in values)
            for args in [["v.npy"], ["v.h5", "/run/v"], ["v.csv"]]:
                path = [os.path.join(tmp, args[0])] + args[1:]
                for ranks in [None, 3]:
                    r = run_example("stream_sum", path, ranks)
                    self.assertEqual(r.returncode, 0, r.stderr)
                    count, text = r.stdout.split()[0], r.stdout.split()[3]
                    self.assertEqual(int(count), len(values), (args, ranks))
                    self.assertEqual(float(text), want, (args, ranks))
            r = run_example("stream_sum", [os.path.join(tmp, "missing.npy")], 2)
            self.assertNotEqual(r.returncode, 0)
            self.assertEqual(r.stderr.count("stream_sum:"), 1, r.stderr)


class KdeBlocks(unittest.TestCase):
    def test_same_densities_on_any_rank_count(self):
        one = run_example("kde_blocks", ["20000"])
        three = run_example("kde_blocks", ["20000"], 3)
        self.assertEqual(one.returncode, 0, one.stderr)
        self.assertEqual(three.returncode, 0, three.stderr)
        self.assertEqual(one.stdout, three.stdout)
        rows = [line.split(",") for line in one.stdout.splitlines()]
        self.assertEqual(len(rows), 41 * 41)
        cell = (6 / 40) ** 2
        mass = sum(float(row[2]) for row in rows) * cell
        inside = math.erf(3 / math.sqrt(2)) ** 2  # N(0, I) on [-3, 3]^2, before smoothing
        self.assertAlmostEqual(mass, inside, delta=0.02)


if __name__ == "__main__":
    unittest.main()
