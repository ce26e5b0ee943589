"""CLI tests of `parakit kde`: the seed notebook's numbers (its defaults, its worked example and
its own Parzen loop, carried here verbatim), scikit-learn's gaussian and epanechnikov densities,
bitwise identity of counts, densities and CV curves on every backend and worker count, CV edge
cases, --compare-naive, --out/--plot files, the rules of thumb, and bad input (one error line,
exit 2, no file left behind), some of it under mpirun.

NumPy and scikit-learn are the independent references. CMake runs this with the interpreter
that has them (cmake/parakitPython.cmake); where one is missing the tests that need it skip
with the reason, and under CI=true the skip policy (tests/support/run_tests.py) fails them."""
import csv
import json
import math
import os
import re
import shutil
import struct
import tempfile
import unittest

from parakit_cli import (FAST_PROGRESS, HANG_SECONDS, progress_lines, run, run_on_terminal,
                         write_npy)

try:
    import numpy as np
except ImportError:
    np = None
try:
    from sklearn.neighbors import KernelDensity
except ImportError:
    KernelDensity = None

THREADS = [1, 2, 3]
RANKS = [1, 2, 3, 4]
# A hang detector for runs that should end at once (parakit_cli.HANG_SECONDS).
ENDS_WITHIN = HANG_SECONDS
# Keys that legitimately differ between backends and runs.
VOLATILE = {"backend", "ranks", "threads", "workers", "seconds", "cv_seconds", "naive_seconds",
            "speedup", "peak_rss_bytes"}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def need_numpy(test):
    if np is None:
        test.skipTest("numpy is not installed (apt-get install python3-numpy): "
                      "reference check skipped")


def need_sklearn(test):
    need_numpy(test)
    if KernelDensity is None:
        test.skipTest("scikit-learn is not installed (apt-get install python3-sklearn): "
                      "reference check skipped")


def need_gnuplot(test):
    if shutil.which("gnuplot") is None:
        test.skipTest("gnuplot is not installed (apt-get install gnuplot-nox): plot test skipped")


def as_float(value):
    if isinstance(value, str):
        return {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}[value]
    return float(value)


def stable(doc):
    """The JSON object less what may differ between backends (timings, the team)."""
    return {k: v for k, v in doc.items() if k not in VOLATILE}


def kde_json(test, args, ranks=None):
    r = run(["kde"] + list(args) + ["--json"], ranks=ranks)
    test.assertEqual(r.code, 0, f"parakit kde {' '.join(args)} (ranks={ranks}): {r.err}")
    return r.json()


def write_csv(path, rows):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        for row in rows:
            writer.writerow([repr(float(x)) for x in row])


# ---------------------------------------------------------------------------------------------
# The seed notebook's function, verbatim. point_x is a d x 1 column vector. Its normalisation
# divides by h**point_x.shape[1] = h**1 (wrong for d > 1), so the tests compare COUNTS:
# k_n = round(p * n * h).
# ---------------------------------------------------------------------------------------------
def parzen_estimation(x_samples, point_x, h):
    k_n = 0
    for row in x_samples:
        x_i = (point_x - row[:, np.newaxis]) / (h)
        for row in x_i:
            if np.abs(row) > (1 / 2):
                break
        else:
            k_n += 1
    return (h, (k_n / len(x_samples)) / (h**point_x.shape[1]))


def seed_count(x_samples, point, h):
    point_x = np.array(point, dtype=float).reshape(-1, 1)
    _, p = parzen_estimation(x_samples, point_x, h)
    return int(round(p * len(x_samples) * h))


def seed_samples(n, d, seed=123):
    """The notebook's samples: NumPy's legacy generator, standard normal."""
    np.random.seed(seed)
    return np.random.multivariate_normal(np.zeros(d), np.eye(d), n)


class KdeSeedNumbers(unittest.TestCase):
    def test_default_run_prints_the_notebooks_counts(self):
        doc = kde_json(self, [])
        self.assertEqual((doc["n"], doc["dim"], doc["rng"], doc["seed"]), (10000, 2, "numpy", 123))
        self.assertEqual(doc["kernel"], "hypercube")
        self.assertEqual(doc["point"], [0.0, 0.0])
        results = doc["results"]
        self.assertEqual(len(results), 100)
        self.assertEqual((results[0]["h"], results[0]["count"]), (1.0, 1445))
        self.assertEqual((results[-1]["h"], results[-1]["count"]), (1.2, 2022))
        for entry in results:
            self.assertEqual(entry["density"], entry["count"] / 10000 / entry["h"] ** 2)
        # The same numbers when the defaults are spelled out.
        explicit = kde_json(self, ["--rng", "numpy", "--seed", "123", "--samples", "10000",
                                   "--dim", "2", "--widths", "1.0:1.2:100", "--point", "0,0"])
        self.assertEqual(explicit["results"], results)

    def test_default_widths_are_numpy_linspace_bitwise(self):
        need_numpy(self)
        doc = kde_json(self, [])
        expected = np.linspace(1.0, 1.2, 100)
        got = [entry["h"] for entry in doc["results"]]
        self.assertEqual([struct.pack("<d", h) for h in got],
                         [struct.pack("<d", float(h)) for h in expected])
        # A linspace given on the command line, and a grid axis, are numpy.linspace too.
        doc = kde_json(self, ["--widths", "0.13:2.71:37", "--grid", "7x11:-1.3:2.9:-0.7:3.1"])
        self.assertEqual(doc["widths"], [float(h) for h in np.linspace(0.13, 2.71, 37)])
        xs, ys = np.linspace(-1.3, 2.9, 7), np.linspace(-0.7, 3.1, 11)
        self.assertEqual(doc["points"], [[float(x), float(y)] for x in xs for y in ys])
        self.assertEqual(doc["grid"], [7, 11])

    def test_seeds_numpy_samples_are_parakits_samples(self):
        """--rng numpy reproduces np.random.seed(S); multivariate_normal(...): the counts from
        generated samples equal those from the same samples read back from a .npy file."""
        need_numpy(self)
        with tempfile.TemporaryDirectory() as tmp:
            for n, d, seed in [(2000, 2, 123), (777, 3, 5)]:
                path = os.path.join(tmp, f"s{d}.npy")
                np.save(path, seed_samples(n, d, seed))
                args = ["--widths", "0.3,0.7,1.1", "--point", ",".join(["0.1"] * d)]
                generated = kde_json(self, args + ["--samples", str(n), "--dim", str(d),
                                                   "--seed", str(seed)])
                read = kde_json(self, args + ["--input", path])
                self.assertEqual(generated["results"], read["results"])

    def test_worked_example(self):
        x_inside = [[0, 0, 0], [0.2, 0.2, 0.2], [0.1, -0.1, -0.3]]
        x_outside = [[-1.2, 0.3, -0.3], [0.8, -0.82, -0.9], [1, 0.6, -0.7], [0.8, 0.7, 0.2],
                     [0.7, -0.8, -0.45], [-0.3, 0.6, 0.9], [0.7, -0.6, -0.8]]
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "x_all.csv")
            write_csv(path, x_inside + x_outside)
            doc = kde_json(self, ["--input", path, "--point", "0,0,0", "--widths", "1"])
            self.assertEqual((doc["n"], doc["dim"]), (10, 3))
            self.assertEqual(doc["results"], [{"h": 1.0, "count": 3, "density": 0.3}])
            need_numpy(self)  # the seed's own function runs on NumPy arrays
            x_all = np.vstack((np.array(x_inside, dtype=float), np.array(x_outside, dtype=float)))
            self.assertEqual(parzen_estimation(x_all, np.array([[0], [0], [0]]), 1), (1, 0.3))


class KdeAgainstSeedLoop(unittest.TestCase):
    """Counts equal the seed's own loop exactly, including boundary ties."""

    def check(self, samples, points, widths):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "samples.npy")
            np.save(path, samples)
            for point in points:
                doc = kde_json(self, ["--input", path, "--point", ",".join(repr(x) for x in point),
                                      "--widths", ",".join(repr(h) for h in widths)])
                got = [entry["count"] for entry in doc["results"]]
                want = [seed_count(samples, point, h) for h in widths]
                self.assertEqual(got, want, f"point {point}")
            # The same counts by the points file path (the sweep over many points).
            points_path = os.path.join(tmp, "points.npy")
            np.save(points_path, np.array(points, dtype=float))
            doc = kde_json(self, ["--input", path, "--points", points_path,
                                  "--widths", ",".join(repr(h) for h in widths)])
            self.assertEqual(doc["counts"],
                             [[seed_count(samples, p, h) for h in widths] for p in points])

    def test_2d(self):
        need_numpy(self)
        samples = seed_samples(2000, 2)
        self.check(samples, [(0.0, 0.0), (0.5, -0.25), (-1.3, 0.8)], [0.25, 0.5, 1.0, 1.7])

    def test_2d_ties_on_a_tenth_grid(self):
        need_numpy(self)
        samples = np.round(seed_samples(2000, 2), 1)
        points = [(0.0, 0.0), (0.3, -0.1), (0.1, 0.2), (-0.7, 0.5)]
        self.check(samples, points, [0.2, 0.4, 0.6, 1.0, 0.30000000000000004])

    def test_3d(self):
        need_numpy(self)
        samples = seed_samples(1000, 3, seed=7)
        self.check(samples, [(0.0, 0.0, 0.0), (0.2, -0.4, 0.1)], [0.5, 1.0, 1.5])

    def test_3d_ties_on_a_tenth_grid(self):
        need_numpy(self)
        samples = np.round(seed_samples(1000, 3, seed=7), 1)
        self.check(samples, [(0.0, 0.0, 0.0), (0.1, -0.3, 0.2)], [0.2, 0.4, 1.0])


class KdeAgainstScikitLearn(unittest.TestCase):
    WIDTHS = [0.3, 0.6, 1.1]

    def check(self, kernel, d):
        need_sklearn(self)
        samples = seed_samples(1500, d, seed=11)
        rng = np.random.RandomState(3)
        points = rng.uniform(-2.0, 2.0, size=(20, d))
        with tempfile.TemporaryDirectory() as tmp:
            sample_path = os.path.join(tmp, "samples.npy")
            points_path = os.path.join(tmp, "points.csv")
            np.save(sample_path, samples)
            write_csv(points_path, points)
            doc = kde_json(self, ["--input", sample_path, "--points", points_path,
                                  "--kernel", kernel,
                                  "--widths", ",".join(repr(h) for h in self.WIDTHS)])
        self.assertNotIn("counts", doc)
        self.assertEqual(doc["points"], points.tolist())
        density = np.array([[as_float(v) for v in row] for row in doc["density"]])
        for j, h in enumerate(self.WIDTHS):
            kd = KernelDensity(kernel=kernel, bandwidth=h, atol=0, rtol=0).fit(samples)
            want = np.exp(kd.score_samples(points))
            self.assertTrue(np.all(want > 0), "choose points where the reference is non-zero")
            worst = float(np.max(np.abs(density[:, j] - want) / want))
            self.assertLessEqual(worst, 1e-12,
                                 f"{kernel} d={d} h={h}: worst relative difference {worst:.3e}")

    def test_gaussian_2d(self):
        self.check("gaussian", 2)

    def test_gaussian_3d(self):
        self.check("gaussian", 3)

    def test_epanechnikov_2d(self):
        self.check("epanechnikov", 2)

    def test_single_point_gaussian(self):
        need_sklearn(self)
        samples = seed_samples(3000, 2, seed=4)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "samples.npy")
            np.save(path, samples)
            doc = kde_json(self, ["--input", path, "--point", "0.25,-0.5", "--kernel", "gaussian",
                                  "--widths", "0.2,0.5"])
        self.assertNotIn("count", doc["results"][0])
        for entry in doc["results"]:
            kd = KernelDensity(kernel="gaussian", bandwidth=entry["h"], atol=0, rtol=0).fit(samples)
            want = float(np.exp(kd.score_samples(np.array([[0.25, -0.5]])))[0])
            self.assertLessEqual(abs(entry["density"] - want) / want, 1e-12)


def gaussian_log_density(samples, points, h):
    """log p(x) of the Gaussian KDE by NumPy: a log-sum-exp over every sample (the reference)."""
    n, d = samples.shape
    log_norm = -0.5 * d * math.log(2 * math.pi) - d * math.log(h) - math.log(n)
    out = np.empty(len(points))
    for b in range(0, len(points), 128):
        r2 = ((points[b:b + 128, None, :] - samples[None, :, :]) ** 2).sum(axis=2)
        a = -r2 / (2 * h * h)
        top = a.max(axis=1)
        out[b:b + 128] = log_norm + top + np.log(np.exp(a - top[:, None]).sum(axis=1))
    return out


class KdeErrorBound(unittest.TestCase):
    """The smooth kernels' exact mode: every density within atol + rtol x density of a NumPy
    sum over all samples, whatever is skipped, in the far tails too (through log densities),
    on random sizes, dimensions, widths and points (near, far, on duplicated samples)."""

    def run_points(self, samples, points, widths, extra, ranks=None):
        with tempfile.TemporaryDirectory() as tmp:
            np.save(os.path.join(tmp, "s.npy"), samples)
            np.save(os.path.join(tmp, "p.npy"), points)
            args = ["--input", os.path.join(tmp, "s.npy"), "--points", os.path.join(tmp, "p.npy"),
                    "--widths", ",".join(repr(h) for h in widths)] + extra
            if ranks:
                args += ["--backend", "mpi"]
            return kde_json(self, args, ranks=ranks)

    def problem(self, rng, d):
        n = int(rng.integers(300, 5000))
        centres = rng.normal(0, 3, size=(3, d))
        samples = centres[rng.integers(0, 3, n)] + rng.normal(0, 0.6, size=(n, d))
        samples[: n // 20] = samples[n // 20: 2 * (n // 20)]  # duplicated rows
        near = samples[rng.integers(0, n, 12)]                # on samples
        middle = rng.normal(0, 3, size=(12, d))
        far = rng.normal(0, 1, size=(6, d)) * 40             # densities far below 1e-300
        return samples, np.vstack([near, middle, far])

    def test_random_problems_within_the_bound(self):
        need_numpy(self)
        rng = np.random.default_rng(2026)
        for d in [1, 2, 3, 5]:
            samples, points = self.problem(rng, d)
            widths = [0.05, 0.4, 1.5]
            ref = np.column_stack([gaussian_log_density(samples, points, h) for h in widths])
            for rtol, atol in [(1e-12, 0.0), (1e-6, 0.0), (1e-3, 0.0), (1e-9, 1e-6)]:
                doc = self.run_points(samples, points, widths,
                                      ["--kernel", "gaussian", "--rtol", repr(rtol),
                                       "--atol", repr(atol), "--log-density"])
                self.assertEqual(doc["bound"], {"rtol": rtol, "atol": atol, "pruned": True})
                got = np.array([[as_float(v) for v in row] for row in doc["density"]])
                logs = np.array([[as_float(v) for v in row] for row in doc["log_density"]])
                want = np.exp(ref)
                # Rounding on both sides: parakit's stated 1e-13 and NumPy's own.
                allowed = atol + (rtol + 2e-13) * want + 1e-300
                worst = np.max(np.abs(got - want) - allowed)
                self.assertLessEqual(worst, 0, f"d={d} rtol={rtol} atol={atol}")
                if atol == 0:
                    # Far tails: the logs hold the bound where the densities underflow (the
                    # exponent itself carries a relative rounding of a few ulp).
                    self.assertTrue(np.all(np.isfinite(logs)), f"d={d}")
                    self.assertTrue(np.any(ref < -745), "some densities must underflow")
                    err = np.abs(logs - ref) - (1.01 * rtol + 2e-13 + 4e-16 * np.abs(ref))
                    self.assertLessEqual(np.max(err), 0, f"log density d={d} rtol={rtol}")

    def test_pruning_is_at_work(self):
        # A loose bound must not give the exact answer everywhere: if nothing were skipped the
        # bound test above could not tell.
        need_numpy(self)
        rng = np.random.default_rng(5)
        samples = rng.normal(0, 1, size=(4000, 2))
        points = rng.normal(0, 1, size=(40, 2))
        ref = np.exp(gaussian_log_density(samples, points, 0.5))
        loose = self.run_points(samples, points, [0.5], ["--kernel", "gaussian", "--rtol", "1e-2"])
        got = np.array([as_float(row[0]) for row in loose["density"]])
        rel = np.abs(got - ref) / ref
        self.assertLessEqual(rel.max(), 1e-2)
        self.assertGreater(rel.max(), 1e-9, "rtol 1e-2 skipped nothing")

    def test_epanechnikov_samples_on_the_window_boundary(self):
        # Samples on an integer lattice, points on it and h = 1: neighbours lie exactly on the
        # support's edge and add exactly 0; the skipped pieces must not change that.
        need_numpy(self)
        axis = np.arange(-6.0, 7.0)
        samples = np.array([(x, y) for x in axis for y in axis] * 3)
        points = np.array([(0.0, 0.0), (6.0, 6.0), (-6.0, 2.0), (7.0, 0.0), (3.5, 0.5)])
        for h in [1.0, 2.0, 0.5]:
            r2 = ((points[:, None, :] - samples[None, :, :]) ** 2).sum(axis=2)
            norm = 4 / (2 * math.pi) / h ** 2  # (d + 2) / (2 V_2 h^2)
            want = norm * np.maximum(0, 1 - r2 / h ** 2).sum(axis=1) / len(samples)
            for algo in ["auto", "naive"]:
                doc = self.run_points(samples, points, [h], ["--kernel", "epanechnikov",
                                                             "--algo", algo])
                got = np.array([as_float(row[0]) for row in doc["density"]])
                np.testing.assert_allclose(got, want, rtol=1e-13, atol=0,
                                           err_msg=f"h={h} algo={algo}")

    def test_leave_one_out_loglik_within_the_bound(self):
        # Each leave-one-out density within the bound, so each log term within about rtol, and
        # their mean too; tiny widths included (their densities underflow).
        need_numpy(self)
        rng = np.random.default_rng(17)
        for d, kernel in [(1, "gaussian"), (2, "gaussian"), (3, "gaussian"), (5, "gaussian"),
                          (2, "epanechnikov")]:
            samples, _ = self.problem(rng, d)
            samples = samples[:1500]
            n = len(samples)
            widths = [0.002, 0.05, 0.3, 1.2]
            r2 = ((samples[:, None, :] - samples[None, :, :]) ** 2).sum(axis=2)
            want = []
            for h in widths:
                if kernel == "gaussian":
                    a = -r2 / (2 * h * h)
                    np.fill_diagonal(a, -np.inf)
                    top = a.max(axis=1)
                    loo = top + np.log(np.exp(a - top[:, None]).sum(axis=1))
                    log_norm = -0.5 * d * math.log(2 * math.pi) - d * math.log(h)
                else:
                    k = np.maximum(0, 1 - r2 / (h * h))
                    np.fill_diagonal(k, 0)
                    with np.errstate(divide="ignore"):
                        loo = np.log(k.sum(axis=1))
                    volume = math.pi ** (d / 2) / math.gamma(d / 2 + 1)
                    log_norm = math.log((d + 2) / (2 * volume)) - d * math.log(h)
                want.append(loo.mean() + log_norm - math.log(n - 1))
            for rtol in [1e-12, 1e-4]:
                with tempfile.TemporaryDirectory() as tmp:
                    np.save(os.path.join(tmp, "s.npy"), samples)
                    doc = kde_json(self, ["--input", os.path.join(tmp, "s.npy"), "--kernel",
                                          kernel, "--cv", "loglik", "--rtol", repr(rtol),
                                          "--widths", ",".join(repr(h) for h in widths)])
                got = [as_float(e["score"]) for e in doc["cv"]["curve"]]
                for j, h in enumerate(widths):
                    if not math.isfinite(want[j]):
                        self.assertEqual(got[j], want[j], f"{kernel} d={d} h={h}")
                        continue
                    allowed = 1.01 * rtol + 1e-13 + 1e-15 * abs(want[j])
                    self.assertLessEqual(abs(got[j] - want[j]), allowed,
                                         f"{kernel} d={d} h={h} rtol={rtol}")

    def test_bad_tolerances(self):
        for args, expect in [(["--rtol", "-1e-3"], "--rtol"), (["--atol", "-1"], "--atol"),
                             (["--rtol", "inf"], "--rtol"), (["--atol", "nan"], "--atol"),
                             (["--log-density"], "--log-density")]:
            kernel = ["--kernel", "hypercube" if "--log-density" in args else "gaussian"]
            r = run(["kde"] + kernel + args)
            self.assertEqual(r.code, 2, args)
            self.assertIn(expect, r.err)
            self.assertEqual(len(r.err.strip().splitlines()), 1, r.err)


class KdeBinned(unittest.TestCase):
    """--approx binned: linear binning and an FFT convolution, within its error of the sums
    over all samples (NumPy), on smooth and multimodal data, in 1-D to 3-D."""

    def run_binned(self, samples, points, h, kernel, extra=()):
        with tempfile.TemporaryDirectory() as tmp:
            np.save(os.path.join(tmp, "s.npy"), samples)
            np.save(os.path.join(tmp, "p.npy"), points)
            return kde_json(self, ["--input", os.path.join(tmp, "s.npy"), "--points",
                                   os.path.join(tmp, "p.npy"), "--kernel", kernel,
                                   "--widths", repr(h)] + (list(extra) or ["--approx", "binned"]))

    def reference(self, samples, points, h, kernel):
        n, d = samples.shape
        r2 = ((points[:, None, :] - samples[None, :, :]) ** 2).sum(axis=2)
        if kernel == "gaussian":
            return np.exp(-r2 / (2 * h * h)).sum(axis=1) / n / (2 * math.pi) ** (d / 2) / h ** d
        volume = math.pi ** (d / 2) / math.gamma(d / 2 + 1)
        return np.maximum(0, 1 - r2 / (h * h)).sum(axis=1) / n * (d + 2) / (2 * volume) / h ** d

    def test_within_its_error_of_the_exact_sums(self):
        need_numpy(self)
        rng = np.random.default_rng(3)
        # (d, kernel, width, the error allowed where the density is >= 1e-3 of its largest):
        # 1e-3 for the Gaussian at the default grid; Epanechnikov's edge costs O(step / h).
        # 3-D at the default step would need a grid of 10^8 points: 96 cells, and the error
        # allowed is what the estimate states, within a factor 3 (it checks 128 points).
        for d, kernel, h, allowed, cells in [
                (1, "gaussian", 0.4, 1e-3, []), (2, "gaussian", 0.4, 1e-3, []),
                (3, "gaussian", 0.8, None, ["--approx", "binned:96"]),
                (1, "epanechnikov", 0.4, 1e-2, []), (2, "epanechnikov", 0.5, 3e-2, [])]:
            n = 3000
            samples = np.concatenate([rng.normal(0, 1, (n // 2, d)),
                                      rng.normal(3, 0.3, (n - n // 2, d))])
            points = rng.uniform(-3, 5, (300, d))
            doc = self.run_binned(samples, points, h, kernel, cells)
            if allowed is None:
                allowed = 3 * doc["approx"]["error_estimate"]
            want = self.reference(samples, points, h, kernel)
            got = np.array([as_float(row[0]) for row in doc["density"]])
            mask = want >= 1e-3 * want.max()
            worst = float(np.max(np.abs(got[mask] - want[mask]) / want[mask]))
            self.assertLessEqual(worst, allowed, f"d={d} {kernel}")
            self.assertGreater(worst, 0, "an approximation is never exact")
            approx = doc["approx"]
            self.assertEqual(approx["method"], "binned")
            self.assertEqual(len(approx["cells"][0]), d)
            self.assertGreater(approx["error_estimate"], 0)
            self.assertLessEqual(approx["error_estimate"], allowed)
            self.assertNotIn("bound", doc)

    def test_more_cells_less_error(self):
        need_numpy(self)
        rng = np.random.default_rng(8)
        samples = rng.normal(0, 1, (2000, 2))
        points = rng.normal(0, 1, (200, 2))
        want = self.reference(samples, points, 0.3, "gaussian")
        errors = []
        for cells in [64, 256, 1024]:
            doc = self.run_binned(samples, points, 0.3, "gaussian", ["--approx",
                                                                    f"binned:{cells}"])
            self.assertEqual(doc["approx"]["cells"], [[cells, cells]])
            got = np.array([as_float(row[0]) for row in doc["density"]])
            errors.append(float(np.max(np.abs(got - want) / want)))
        self.assertGreater(errors[0], 4 * errors[1])
        self.assertGreater(errors[1], 4 * errors[2])

    def test_cross_validation_agrees_with_the_exact_curve(self):
        need_numpy(self)
        args = ["--samples", "3000", "--kernel", "gaussian", "--cv", "loglik",
                "--widths", "0.15,0.25,0.4,0.6"]
        exact = kde_json(self, args)
        binned = kde_json(self, args + ["--approx", "binned"])
        self.assertEqual(binned["cv"]["h"], exact["cv"]["h"])
        for a, b in zip(binned["cv"]["curve"], exact["cv"]["curve"]):
            self.assertLess(abs(a["score"] - b["score"]), 1e-3, (a, b))

    def test_bad_requests(self):
        for args, expect in [
                (["--kernel", "gaussian", "--dim", "4", "--approx", "binned"], "4-D"),
                (["--kernel", "gaussian", "--approx", "binned:1"], "--approx"),
                (["--kernel", "gaussian", "--approx", "binned:x"], "--approx"),
                (["--kernel", "gaussian", "--approx", "fft"], "--approx"),
                (["--kernel", "hypercube", "--approx", "binned"], "--approx"),
                (["--kernel", "gaussian", "--approx", "binned", "--cv", "lsq"], "loglik"),
                (["--kernel", "gaussian", "--approx", "binned", "--widths", "1e-6"], "memory"),
                (["--kernel", "gaussian", "--approx", "binned:100000000"], "memory")]:
            r = run(["kde", "--samples", "500"] + args)
            self.assertEqual(r.code, 2, (args, r.err))
            self.assertIn(expect, r.err)
            self.assertEqual(len(r.err.strip().splitlines()), 1, r.err)


class KdeBandwidthMatrix(unittest.TestCase):
    """--kernel-cov data (SciPy gaussian_kde's convention) and --dim-scale, against SciPy and
    NumPy."""

    def densities(self, samples, points, extra):
        with tempfile.TemporaryDirectory() as tmp:
            np.save(os.path.join(tmp, "s.npy"), samples)
            np.save(os.path.join(tmp, "p.npy"), points)
            doc = kde_json(self, ["--input", os.path.join(tmp, "s.npy"), "--points",
                                  os.path.join(tmp, "p.npy")] + extra)
        return doc, np.array([[as_float(v) for v in row] for row in doc["density"]])

    def correlated(self, n, d, seed):
        rng = np.random.default_rng(seed)
        mix = rng.normal(0, 1, (d, d)) + np.eye(d) * 1.5
        return rng.normal(0, 1, (n, d)) @ mix.T + rng.normal(0, 3, d)

    def test_data_covariance_reproduces_scipy(self):
        need_numpy(self)
        try:
            from scipy import stats
        except ImportError:
            self.skipTest("SciPy is not installed (apt-get install python3-scipy)")
        for d in [1, 2, 3]:
            samples = self.correlated(1200, d, d)
            points = samples[:40] + 0.3
            for extra, bw in [(["--widths", "0.35"], 0.35), (["--bandwidth", "scott"], "scott"),
                              (["--bandwidth", "silverman"], "silverman")]:
                doc, got = self.densities(samples, points, ["--kernel", "gaussian",
                                                            "--kernel-cov", "data"] + extra)
                self.assertEqual(doc["kernel_cov"], "data")
                want = stats.gaussian_kde(samples.T, bw_method=bw)(points.T)
                np.testing.assert_allclose(got[:, 0], want, rtol=1e-12, atol=0,
                                           err_msg=f"d={d} bw={bw}")

    def test_data_covariance_loglik_against_numpy(self):
        need_numpy(self)
        samples = self.correlated(600, 2, 9)
        n, d = samples.shape
        widths = [0.2, 0.5]
        with tempfile.TemporaryDirectory() as tmp:
            np.save(os.path.join(tmp, "s.npy"), samples)
            doc = kde_json(self, ["--input", os.path.join(tmp, "s.npy"), "--kernel", "gaussian",
                                  "--kernel-cov", "data", "--cv", "loglik", "--widths",
                                  ",".join(map(repr, widths))])
        cov = np.cov(samples.T)
        for entry, h in zip(doc["cv"]["curve"], widths):
            inv = np.linalg.inv(cov * h * h)
            diff = samples[:, None, :] - samples[None, :, :]
            a = -0.5 * np.einsum("ijk,kl,ijl->ij", diff, inv, diff)
            np.fill_diagonal(a, -np.inf)
            top = a.max(axis=1)
            loo = top + np.log(np.exp(a - top[:, None]).sum(axis=1))
            log_norm = -0.5 * d * math.log(2 * math.pi) - 0.5 * math.log(np.linalg.det(cov * h * h))
            want = loo.mean() + log_norm - math.log(n - 1)
            self.assertLess(abs(as_float(entry["score"]) - want), 1e-11, (entry, want))

    def test_dim_scale_against_numpy(self):
        need_numpy(self)
        rng = np.random.default_rng(4)
        samples = rng.normal(0, 1, (1500, 2)) * [1.0, 4.0]
        points = rng.normal(0, 1, (30, 2)) * [1.0, 4.0]
        scale = [0.5, 2.0]
        h = 0.4
        widths = h * np.array(scale)
        diff = points[:, None, :] - samples[None, :, :]
        gauss = np.exp(-0.5 * ((diff / widths) ** 2).sum(axis=2)).sum(axis=1) / len(samples) / (
            2 * math.pi * widths.prod())
        doc, got = self.densities(samples, points, ["--kernel", "gaussian", "--widths", repr(h),
                                                    "--dim-scale", "0.5,2"])
        self.assertEqual(doc["dim_scale"], scale)
        np.testing.assert_allclose(got[:, 0], gauss, rtol=1e-12, atol=0)
        # The hypercube: a window of side h s_t along each axis.
        inside = (np.abs(diff) <= widths / 2).all(axis=2).sum(axis=1)
        doc, got = self.densities(samples, points, ["--kernel", "hypercube", "--widths", repr(h),
                                                    "--dim-scale", "0.5,2"])
        counts = np.array([row[0] for row in doc["counts"]])
        # (the seed's test |x/h - p/h| <= 1/2 may differ from NumPy's at the edge by rounding)
        self.assertLessEqual(int(np.abs(counts - inside).max()), 1)
        np.testing.assert_allclose(got[:, 0], counts / len(samples) / widths.prod(), rtol=1e-14)

    def test_bad_matrices(self):
        for args, expect in [
                (["--kernel", "gaussian", "--kernel-cov", "data", "--input", "{singular}"],
                 "singular"),
                (["--kernel", "epanechnikov", "--kernel-cov", "data"], "--kernel-cov"),
                (["--kernel", "gaussian", "--kernel-cov", "identity"], "--kernel-cov"),
                (["--kernel", "gaussian", "--dim-scale", "1,2,3"], "--dim-scale"),
                (["--kernel", "gaussian", "--dim-scale", "1,-2"], "--dim-scale")]:
            with tempfile.TemporaryDirectory() as tmp:
                singular = os.path.join(tmp, "singular.csv")
                with open(singular, "w") as f:
                    for i in range(50):
                        f.write("%d,%d\n" % (i, 2 * i))  # the second column twice the first
                argv = [a.replace("{singular}", singular) for a in args]
                r = run(["kde", "--samples", "300"] + argv if "--input" not in argv
                        else ["kde"] + argv)
            self.assertEqual(r.code, 2, (args, r.err))
            self.assertIn(expect, r.err)
            self.assertEqual(len(r.err.strip().splitlines()), 1, r.err)


class KdeOptimize(unittest.TestCase):
    """--cv --optimize: Brent's method between the sweep's neighbours finds the maximum of the
    leave-one-out log-likelihood that NumPy computes, to 1e-6 in h."""

    def test_finds_numpys_optimum(self):
        need_numpy(self)
        try:
            from scipy.optimize import minimize_scalar
        except ImportError:
            self.skipTest("SciPy is not installed (apt-get install python3-scipy)")
        rng = np.random.default_rng(12)
        samples = np.concatenate([rng.normal(0, 1, (400, 2)), rng.normal(3, 0.4, (200, 2))])
        n, d = samples.shape
        r2 = ((samples[:, None, :] - samples[None, :, :]) ** 2).sum(axis=2)

        def loglik(h):
            a = -r2 / (2 * h * h)
            np.fill_diagonal(a, -np.inf)
            top = a.max(axis=1)
            loo = top + np.log(np.exp(a - top[:, None]).sum(axis=1))
            return loo.mean() - 0.5 * d * math.log(2 * math.pi) - d * math.log(h) - math.log(n - 1)

        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "s.npy")
            np.save(path, samples)
            doc = kde_json(self, ["--input", path, "--kernel", "gaussian", "--cv", "loglik",
                                  "--widths", "0.05:0.8:6", "--optimize"])
        cv = doc["cv"]
        self.assertIsNone(cv["index"])
        sweep = [e["h"] for e in cv["curve"]]
        j = sweep.index(cv["refined"]["sweep_h"])
        lo, hi = sweep[max(j - 1, 0)], sweep[min(j + 1, len(sweep) - 1)]
        want = minimize_scalar(lambda x: -loglik(math.exp(x)), bounds=(math.log(lo), math.log(hi)),
                               method="bounded", options={"xatol": 1e-10}).x
        self.assertLess(abs(cv["h"] - math.exp(want)), 1e-6, (cv["h"], math.exp(want)))
        self.assertLess(abs(cv["score"] - loglik(cv["h"])), 1e-12)
        self.assertGreaterEqual(cv["score"], max(e["score"] for e in cv["curve"]))

    def test_needs_a_smooth_cv(self):
        for args, expect in [(["--kernel", "gaussian", "--optimize"], "--cv"),
                             (["--cv", "--optimize"], "--optimize")]:
            r = run(["kde", "--samples", "300"] + args)
            self.assertEqual(r.code, 2, (args, r.err))
            self.assertIn(expect, r.err)


class KdeBareCv(unittest.TestCase):
    def test_bare_cv_means_loglik_and_plots_the_curve(self):
        doc = kde_json(self, ["--samples", "500", "--cv", "--widths", "1.0:3.0:5"])
        self.assertEqual(doc["cv"]["method"], "loglik")
        lsq = kde_json(self, ["--samples", "500", "--cv", "lsq", "--widths", "1.0:3.0:5"])
        self.assertEqual(lsq["cv"]["method"], "lsq")


class KdeShardedMemory(unittest.TestCase):
    """Each rank holds only its shard of the samples: with 4 ranks every rank's peak resident
    set is under half the single process's, generated (philox: each rank its rows; numpy: rank
    0 draws them all and sends blocks) or read from a .npy file. n = 1.2e7 2-D samples (192 MB)
    dominate the process."""

    N = 12_000_000
    ARGS = ["--grid", "20x20", "--widths", "0.5"]

    def peaks(self, args, ranks):
        doc = kde_json(self, args + self.ARGS + ["--backend", "mpi"], ranks=ranks)
        self.assertEqual((doc["ranks"], doc["n"]), (ranks, self.N))
        self.assertEqual(len(doc["peak_rss_bytes"]), ranks)
        return doc

    def check(self, args):
        one = self.peaks(args, 1)
        four = self.peaks(args, 4)
        self.assertEqual(four["counts"], one["counts"])
        single = one["peak_rss_bytes"][0]
        self.assertGreater(single, 8 * 2 * self.N, "the single process holds every sample")
        for rank, peak in enumerate(four["peak_rss_bytes"]):
            self.assertLess(peak, single / 2,
                            f"rank {rank} of 4 peaked at {peak / 1e6:.0f} MB, the single "
                            f"process at {single / 1e6:.0f} MB")

    def test_generated_philox(self):
        self.check(["--samples", str(self.N), "--rng", "philox"])

    def test_generated_numpy_stream(self):
        self.check(["--samples", str(self.N), "--rng", "numpy"])

    def test_npy_file(self):
        need_numpy(self)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "big.npy")
            np.save(path, np.random.default_rng(3).standard_normal((self.N, 2)))
            self.check(["--input", path])


class KdeBackends(unittest.TestCase):
    """The JSON is the same, bit for bit, on threads 1..3 and mpirun -np 1..4."""

    def check_identical(self, args, mpi=True):
        reference = stable(kde_json(self, args + ["--backend", "serial"]))
        for threads in THREADS:
            doc = kde_json(self, args + ["--backend", "threads", "--threads", str(threads)])
            self.assertEqual(doc["workers"], threads)
            self.assertEqual(stable(doc), reference, f"threads {threads}")
        if mpi:
            for ranks in RANKS:
                doc = kde_json(self, args + ["--backend", "mpi"], ranks=ranks)
                self.assertEqual((doc["backend"], doc["ranks"]), ("mpi", ranks))
                self.assertEqual(stable(doc), reference, f"mpirun -np {ranks}")
            # Hybrid: 2 ranks x 2 threads.
            doc = kde_json(self, args + ["--backend", "mpi", "--threads", "2"], ranks=2)
            self.assertEqual((doc["ranks"], doc["threads"]), (2, 2))
            self.assertEqual(stable(doc), reference, "mpirun -np 2 x 2 threads")
        return reference

    def test_hypercube_single_point(self):
        doc = self.check_identical([])
        self.assertEqual(doc["results"][0]["count"], 1445)

    def test_hypercube_grid(self):
        doc = self.check_identical(["--grid", "25x25", "--widths", "0.3,0.8,1.5"])
        self.assertEqual(len(doc["counts"]), 625)

    def test_hypercube_cv_loglik(self):
        doc = self.check_identical(["--samples", "1500", "--widths", "0.2:1.0:9", "--cv", "loglik"])
        self.assertEqual(len(doc["cv"]["curve"]), 9)

    def test_hypercube_cv_lsq(self):
        doc = self.check_identical(["--samples", "1500", "--widths", "0.2:1.0:9", "--cv", "lsq"])
        self.assertIsNotNone(doc["cv"]["h"])

    def test_gaussian_grid(self):
        self.check_identical(["--samples", "3000", "--kernel", "gaussian", "--grid", "12x12",
                              "--widths", "0.2,0.5"])

    def test_gaussian_pruned_and_log_density(self):
        # A loose bound skips many pieces: what is skipped must not depend on the layout.
        self.check_identical(["--samples", "6000", "--rng", "philox", "--kernel", "gaussian",
                              "--grid", "10x10", "--widths", "0.1,0.4", "--rtol", "1e-4",
                              "--log-density"])

    def test_pruned_cross_validation(self):
        self.check_identical(["--samples", "5000", "--rng", "philox", "--kernel", "gaussian",
                              "--cv", "loglik", "--widths", "0.01,0.1,0.5", "--rtol", "1e-4"])
        self.check_identical(["--samples", "3000", "--kernel", "epanechnikov", "--cv", "loglik",
                              "--widths", "0.1,0.5"], mpi=False)

    def test_binned_grid_and_cv(self):
        self.check_identical(["--samples", "6000", "--rng", "philox", "--kernel", "gaussian",
                              "--grid", "12x12", "--widths", "0.3,0.6", "--approx", "binned",
                              "--cv", "loglik"])
        self.check_identical(["--samples", "4000", "--dim", "1", "--kernel", "epanechnikov",
                              "--grid", "50", "--widths", "0.2", "--approx", "binned:300"],
                             mpi=False)

    def test_optimize(self):
        self.check_identical(["--samples", "3000", "--rng", "philox", "--kernel", "gaussian",
                              "--cv", "loglik", "--widths", "0.1:0.7:4", "--optimize"])

    def test_bandwidth_matrices(self):
        self.check_identical(["--samples", "4000", "--rng", "philox", "--kernel", "gaussian",
                              "--kernel-cov", "data", "--grid", "8x8", "--bandwidth", "scott",
                              "--dim-scale", "1,3", "--cv", "loglik", "--widths", "0.3,0.6"])

    def test_epanechnikov_grid(self):
        self.check_identical(["--samples", "5000", "--kernel", "epanechnikov", "--grid", "9x9",
                              "--widths", "0.3,1.0", "--dim", "2"])

    def test_gaussian_single_point_and_cv(self):
        # n > one row chunk (4096), so the sums are folded over several chunks.
        self.check_identical(["--samples", "9000", "--kernel", "gaussian", "--widths", "0.2,0.5"])
        self.check_identical(["--samples", "800", "--kernel", "gaussian", "--cv", "loglik",
                              "--widths", "0.2:0.8:4"], mpi=False)

    def test_naive_and_sweep_agree(self):
        for extra in [[], ["--grid", "9x9", "--widths", "0.2,0.6,1.0"]]:
            sweep = stable(kde_json(self, extra + ["--algo", "sweep"]))
            naive = stable(kde_json(self, extra + ["--algo", "naive"]))
            sweep.pop("algo"), naive.pop("algo")
            self.assertEqual(sweep, naive)


class KdeCrossValidationReference(unittest.TestCase):
    """The hypercube CV curves against plain numpy (leave-one-out, the seed's predicate)."""

    def setUp(self):
        need_numpy(self)
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        self.samples = seed_samples(300, 2, seed=9)
        self.path = os.path.join(self.tmp.name, "s.npy")
        np.save(self.path, self.samples)
        self.widths = [0.6, 0.9, 1.3, 2.0]

    def inside(self, h):
        """inside[i, j]: sample j lies in the window of width h around sample i (i != j)."""
        x = self.samples
        diff = (x[:, np.newaxis, :] - x[np.newaxis, :, :]) / h
        inside = np.all(np.abs(diff) <= 0.5, axis=2)
        np.fill_diagonal(inside, False)
        return inside

    def run_cv(self, method):
        return kde_json(self, ["--input", self.path, "--cv", method,
                               "--widths", ",".join(repr(h) for h in self.widths)])["cv"]

    def test_loglik(self):
        cv = self.run_cv("loglik")
        n, d = self.samples.shape
        for entry, h in zip(cv["curve"], self.widths):
            counts = self.inside(h).sum(axis=1)
            self.assertEqual(entry["lonely"], int(np.sum(counts == 0)), f"h={h}")
            if np.any(counts == 0):
                self.assertEqual(entry["score"], "-inf")
            else:
                want = float(np.mean(np.log(counts / ((n - 1) * h ** d))))
                self.assertAlmostEqual(entry["score"] / want, 1.0, delta=1e-12)

    def test_lsq(self):
        cv = self.run_cv("lsq")
        x = self.samples
        n, d = x.shape
        scores = []
        for entry, h in zip(cv["curve"], self.widths):
            overlap = np.prod(np.clip(h - np.abs(x[:, np.newaxis, :] - x[np.newaxis, :, :]),
                                      0, None), axis=2)
            integral = overlap.sum() / (n * n * h ** (2 * d))
            loo = self.inside(h).sum(axis=1) / ((n - 1) * h ** d)
            want = integral - 2.0 * loo.mean()
            self.assertAlmostEqual(entry["score"], want, delta=1e-12 * abs(want), msg=f"h={h}")
            scores.append(entry["score"])
        self.assertEqual(cv["index"], int(np.argmin(scores)))


    def gaussian_sums(self, h):
        """Per sample, the sum over the other samples of exp(-|x_i - x_j|^2 / (2 h^2))."""
        x = self.samples
        r2 = np.sum((x[:, np.newaxis, :] - x[np.newaxis, :, :]) ** 2, axis=2)
        terms = np.exp(-r2 / (2 * h * h))
        np.fill_diagonal(terms, 0.0)
        return terms.sum(axis=1)

    def test_gaussian_loglik_and_lsq(self):
        n, d = self.samples.shape
        widths = [0.2, 0.35, 0.6, 1.0]
        args = ["--input", self.path, "--kernel", "gaussian",
                "--widths", ",".join(repr(h) for h in widths)]
        loglik = kde_json(self, args + ["--cv", "loglik"])["cv"]
        lsq = kde_json(self, args + ["--cv", "lsq"])["cv"]
        norm = lambda h: (2 * math.pi * h * h) ** (-d / 2)  # noqa: E731
        for j, h in enumerate(widths):
            loo = norm(h) * self.gaussian_sums(h) / (n - 1)
            want = float(np.mean(np.log(loo)))
            self.assertAlmostEqual(loglik["curve"][j]["score"], want, delta=1e-12 * abs(want))
            wide = math.sqrt(2) * h
            integral = norm(wide) * (n + self.gaussian_sums(wide).sum()) / (n * n)
            want = integral - 2.0 * float(loo.mean())
            self.assertAlmostEqual(lsq["curve"][j]["score"], want, delta=1e-12 * abs(want))
        self.assertEqual(loglik["index"], int(np.argmax([e["score"] for e in loglik["curve"]])))
        self.assertEqual(lsq["index"], int(np.argmin([e["score"] for e in lsq["curve"]])))


class KdeCrossValidationEdges(unittest.TestCase):
    def test_tiny_width_scores_minus_inf_and_is_never_chosen(self):
        # Hypercube, n = 200: windows below ~3 leave some sample alone.
        doc = kde_json(self, ["--samples", "200", "--widths", "0.001,0.5,3.0,4.0", "--cv", "loglik"])
        cv = doc["cv"]
        self.assertEqual(cv["method"], "loglik")
        scores = [as_float(e["score"]) for e in cv["curve"]]
        self.assertEqual(cv["curve"][0]["score"], "-inf")
        self.assertEqual(cv["curve"][0]["lonely"], 200)
        finite = [(s, i) for i, s in enumerate(scores) if math.isfinite(s)]
        self.assertTrue(finite)
        best_score, best = max(finite, key=lambda t: (t[0], -t[1]))
        self.assertEqual((cv["index"], cv["h"], cv["score"]),
                         (best, [0.001, 0.5, 3.0, 4.0][best], best_score))
        self.assertNotEqual(cv["h"], 0.001)

    def test_gaussian_tiny_width_underflows_and_is_not_chosen(self):
        doc = kde_json(self, ["--samples", "200", "--kernel", "gaussian",
                              "--widths", "1e-6,0.3,0.5,1.0", "--cv", "loglik"])
        cv = doc["cv"]
        scores = [as_float(e["score"]) for e in cv["curve"]]
        self.assertFalse(math.isfinite(scores[0]) and scores[0] > max(scores[1:]))
        finite = [s for s in scores if math.isfinite(s)]
        self.assertEqual(cv["score"], max(finite))
        self.assertNotEqual(cv["h"], 1e-6)

    # Regression: Eigen 3.4's vectorised exp() stops at about exp(-708.4) = 2.2e-308 instead of
    # underflowing to 0, which once gave a far too small width a wrong finite loglik score
    # (2-D, n = 200, h = 1e-6: -684) and, in 51 dimensions, the best one. The sums over all
    # samples (--algo naive) underflow to 0 there: -inf. The default sums are relative to each
    # sample's nearest neighbour (log-sum-exp), so the score is the true, finite one, which
    # NumPy's log-sum-exp confirms.
    def test_gaussian_tiny_width_scores(self):
        need_numpy(self)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "s.npy")
            samples = seed_samples(200, 2)
            np.save(path, samples)
            args = ["--input", path, "--kernel", "gaussian", "--widths", "1e-6,0.5",
                    "--cv", "loglik"]
            naive = kde_json(self, args + ["--algo", "naive"])
            self.assertEqual(naive["cv"]["curve"][0]["score"], "-inf")
            doc = kde_json(self, args)
        h, n = 1e-6, len(samples)
        r2 = ((samples[:, None, :] - samples[None, :, :]) ** 2).sum(axis=2)
        a = -r2 / (2 * h * h)
        np.fill_diagonal(a, -np.inf)
        top = a.max(axis=1)
        loo = top + np.log(np.exp(a - top[:, None]).sum(axis=1))
        want = loo.mean() - math.log(2 * math.pi) - 2 * math.log(h) - math.log(n - 1)
        got = as_float(doc["cv"]["curve"][0]["score"])
        self.assertLess(abs(got - want), 1e-12 * abs(want), (got, want))
        self.assertEqual(doc["cv"]["h"], 0.5)

    def test_gaussian_tiny_width_is_not_chosen_in_51_dimensions(self):
        doc = kde_json(self, ["--samples", "200", "--dim", "51", "--kernel", "gaussian",
                              "--widths", "1e-6,0.5,1.0,2.0", "--cv", "loglik"])
        self.assertNotEqual(doc["cv"]["h"], 1e-6)

    def test_all_widths_tiny_gives_null_and_a_warning(self):
        for ranks in [None, 2]:
            r = run(["kde", "--samples", "200", "--widths", "1e-6", "--cv", "loglik", "--json"],
                    ranks=ranks, timeout=60)
            self.assertEqual(r.code, 0, r.err)
            cv = r.json()["cv"]
            self.assertIsNone(cv["h"])
            self.assertNotIn("index", cv)
            self.assertEqual(cv["curve"], [{"h": 1e-06, "lonely": 200, "score": "-inf"}])
            warnings = [line for line in r.err.splitlines() if line.startswith("parakit: warning:")]
            self.assertEqual(len(warnings), 1, r.err)
            self.assertEqual(r.error_lines(), [])


class KdeCompareNaive(unittest.TestCase):
    def test_single_point_and_grid(self):
        for args in [[], ["--grid", "15x15", "--widths", "0.2,0.7,1.2"],
                     ["--grid", "8x8", "--widths", "0.3,0.9", "--kernel", "gaussian",
                      "--samples", "2000"],
                     ["--samples", "9000", "--kernel", "epanechnikov", "--widths", "0.5,1.0"],
                     ["--grid", "8x8", "--widths", "0.3,0.9", "--kernel", "gaussian",
                      "--samples", "5000", "--rtol", "1e-5"]]:
            doc = kde_json(self, args + ["--compare-naive"])
            self.assertIs(doc["naive_equal"], True, args)
            self.assertIn("naive_seconds", doc)
            self.assertIn("speedup", doc)
            # Text mode says so too.
            r = run(["kde"] + args + ["--compare-naive"])
            self.assertEqual(r.code, 0, r.err)
            self.assertIn("results equal", r.out)


    # Regression (see KdeCrossValidationEdges): far from every sample the gaussian density is
    # exactly 0, as with std::exp and scikit-learn, not n * exp(-708.4).
    def test_gaussian_far_from_every_sample(self):
        r = run(["kde", "--samples", "100", "--kernel", "gaussian", "--widths", "0.001",
                 "--point", "5,5", "--compare-naive", "--json"])
        self.assertEqual(r.code, 0, r.err)
        doc = r.json()
        self.assertEqual(doc["results"][0]["density"], 0.0)
        self.assertIs(doc["naive_equal"], True)


class KdeOutputFiles(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        self.dir = self.tmp.name

    def read_csv(self, path):
        with open(path, newline="") as f:
            return list(csv.reader(f))

    def check_csv(self, path, doc, d, hypercube):
        rows = self.read_csv(path)
        header = [f"x{t}" for t in range(d)] + (["h", "count", "density"] if hypercube
                                                else ["h", "density"])
        self.assertEqual(rows[0], header)
        body = rows[1:]
        if "results" in doc:
            points, widths = [doc["point"]], [e["h"] for e in doc["results"]]
            density = [[e["density"] for e in doc["results"]]]
            counts = [[e.get("count") for e in doc["results"]]]
        else:
            points, widths, density = doc["points"], doc["widths"], doc["density"]
            counts = doc.get("counts")
        self.assertEqual(len(body), len(points) * len(widths))
        k = 0
        for p, point in enumerate(points):
            for j, h in enumerate(widths):
                row = body[k]
                k += 1
                self.assertEqual([float(v) for v in row[:d]], point)
                self.assertEqual(float(row[d]), h)
                if hypercube:
                    self.assertEqual(int(row[d + 1]), counts[p][j])
                self.assertEqual(float(row[-1]), as_float(density[p][j]))

    def test_csv_and_json_match_stdout(self):
        cases = [(["--widths", "0.5:1.5:7"], 2, True),
                 (["--grid", "6x5", "--widths", "0.4,0.9"], 2, True),
                 (["--grid", "4x3x2", "--dim", "3", "--widths", "0.7,1.4", "--samples", "3000"],
                  3, True),
                 (["--grid", "5x5", "--widths", "0.3,0.6", "--kernel", "gaussian"], 2, False),
                 (["--kernel", "epanechnikov", "--widths", "0.8"], 2, False)]
        for args, d, hypercube in cases:
            csv_path = os.path.join(self.dir, "out.csv")
            json_path = os.path.join(self.dir, "out.json")
            doc = kde_json(self, args + ["--out", csv_path])
            self.check_csv(csv_path, doc, d, hypercube)
            doc2 = kde_json(self, args + ["--out", json_path])
            with open(json_path) as f:
                written = json.load(f)
            self.assertEqual(stable(written), stable(doc2))
            self.assertEqual(stable(doc), stable(doc2))
            os.remove(csv_path)
            os.remove(json_path)
            self.assertEqual(os.listdir(self.dir), [], "temporary files left behind")

    def test_out_under_mpirun(self):
        path = os.path.join(self.dir, "out.csv")
        doc = kde_json(self, ["--grid", "6x6", "--widths", "0.5,1.0", "--out", path], ranks=3)
        self.check_csv(path, doc, 2, True)
        self.assertEqual(os.listdir(self.dir), ["out.csv"])

    def png_size(self, path):
        with open(path, "rb") as f:
            head = f.read(24)
        self.assertEqual(head[:8], PNG_SIGNATURE, f"{path} is not a PNG")
        self.assertEqual(head[12:16], b"IHDR")
        return struct.unpack(">II", head[16:24])

    def test_plots(self):
        need_gnuplot(self)
        for name, args in [("map.png", ["--grid", "30x30", "--widths", "0.5"]),
                           ("cv.png", ["--samples", "1000", "--cv", "loglik"]),
                           ("cvmap.png", ["--samples", "1000", "--cv", "lsq", "--grid", "20x20",
                                          "--widths", "0.4:1.2:5"]),
                           ("ph.png", ["--widths", "0.5:1.5:11"])]:
            path = os.path.join(self.dir, name)
            kde_json(self, args + ["--plot", path])
            self.assertEqual(self.png_size(path), (800, 600), name)
        self.assertEqual(sorted(os.listdir(self.dir)),
                         sorted(["map.png", "cv.png", "cvmap.png", "ph.png"]))


class KdeQueryBlocks(unittest.TestCase):
    """A --points file is read sharded and processed in blocks (--point-block): the outputs
    (--json, --out CSV, JSON and .npy, written by rank 0 block by block) are the same bytes for
    any block size and rank count, the counts equal the seed's rule in NumPy (exact), and the
    .npy holds the JSON's densities."""

    POINTS = 403

    def setUp(self):
        need_numpy(self)
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        self.dir = self.tmp.name
        rng = np.random.default_rng(8)
        self.points = rng.uniform(-2.5, 2.5, (self.POINTS, 2))
        self.samples = seed_samples(300, 2)
        write_csv(os.path.join(self.dir, "samples.csv"), self.samples)
        np.save(os.path.join(self.dir, "points.npy"), self.points)
        write_csv(os.path.join(self.dir, "points.csv"), self.points)

    def run_blocks(self, points, block, ranks, out):
        args = ["--input", os.path.join(self.dir, "samples.csv"), "--points", points,
                "--widths", "0.4,1.1", "--out", out]
        if block:
            args += ["--point-block", str(block)]
        return kde_json(self, args, ranks=ranks)

    def test_any_block_size_and_rank_count_gives_the_same_outputs(self):
        want = None
        for points in ["points.npy", "points.csv"]:
            for block, ranks in [(None, None), (17, None), (100, 3), (1, 2), (None, 4)]:
                outs = {}
                for ext in ["csv", "json", "npy"]:
                    out = os.path.join(self.dir, f"out-{block}-{ranks}.{ext}")
                    doc = self.run_blocks(os.path.join(self.dir, points), block, ranks, out)
                    with open(out, "rb") as f:
                        outs[ext] = f.read()
                outs["doc"] = stable(doc)
                if want is None:
                    want = outs
                    continue
                for key in ["csv", "json", "npy", "doc"]:
                    if key == "json":
                        self.assertEqual(stable(json.loads(outs[key])), stable(json.loads(want[key])),
                                         (points, block, ranks))
                    else:
                        self.assertEqual(outs[key], want[key], (key, points, block, ranks))
        doc = want["doc"]
        self.assertEqual(doc["points"], self.points.tolist())
        density = np.load(os.path.join(self.dir, "out-None-None.npy"))
        self.assertEqual(density.shape, (self.POINTS, 2))
        self.assertEqual(density.tolist(), [[as_float(x) for x in row] for row in doc["density"]])
        for p in range(0, self.POINTS, 37):
            for j, h in enumerate([0.4, 1.1]):
                self.assertEqual(doc["counts"][p][j], seed_count(self.samples, self.points[p], h))


class KdeBandwidthRules(unittest.TestCase):
    def check(self, rule, samples):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "s.npy")
            np.save(path, samples)
            doc = kde_json(self, ["--input", path, "--bandwidth", rule])
        n, d = samples.shape
        sigma = float(np.exp(np.mean(np.log(np.std(samples, axis=0, ddof=1)))))
        if rule == "scott":
            want = sigma * n ** (-1.0 / (d + 4))
        else:
            want = sigma * (4.0 / ((d + 2) * n)) ** (1.0 / (d + 4))
        self.assertEqual(doc["bandwidth"]["rule"], rule)
        got = doc["bandwidth"]["h"]
        self.assertLessEqual(abs(got - want) / want, 1e-14, f"{rule} d={d}: {got!r} vs {want!r}")
        # Without --widths the rule's width is the one width estimated.
        self.assertEqual([e["h"] for e in doc["results"]], [got])

    def test_scott_and_silverman(self):
        need_numpy(self)
        rng = np.random.RandomState(17)
        for samples in [seed_samples(2000, 2), seed_samples(500, 3, seed=2) * [1.0, 3.0, 0.2],
                        rng.standard_normal((300, 1)) * 2.5 + 4.0]:
            for rule in ["scott", "silverman"]:
                self.check(rule, samples)

    def test_rule_with_widths_needs_cv(self):
        r = run(["kde", "--bandwidth", "scott", "--widths", "0.5,1.0", "--json"])
        self.assertEqual(r.code, 2)
        self.assertEqual(len(r.error_lines()), 1, r.err)
        doc = kde_json(self, ["--bandwidth", "silverman", "--widths", "0.5,1.0", "--cv", "lsq",
                              "--samples", "500"])
        self.assertEqual(doc["bandwidth"]["rule"], "silverman")


class KdeWeights(unittest.TestCase):
    """--weights against NumPy (densities, leave-one-out scores), SciPy's
    gaussian_kde(weights=...), integer weights against repeated samples, the weighted rules and
    ISJ, bitwise the same on every backend; and its errors."""

    def setUp(self):
        need_numpy(self)
        self.tmp = tempfile.TemporaryDirectory()
        rng = np.random.default_rng(21)
        self.x = np.concatenate([rng.normal(0, 1, (700, 2)), rng.normal(2.5, 0.4, (500, 2))])
        self.w = rng.exponential(1.0, len(self.x))
        self.w[::11] = 0.0  # zero weights are allowed
        self.points = np.concatenate([self.x[:30] + 0.05, rng.normal(0, 3, (20, 2))])
        self.files = {name: os.path.join(self.tmp.name, name + ".npy")
                      for name in ["x", "w", "p"]}
        np.save(self.files["x"], self.x)
        np.save(self.files["w"], self.w)
        np.save(self.files["p"], self.points)

    def tearDown(self):
        self.tmp.cleanup()

    def kde(self, extra, ranks=None, points=True):
        args = ["--input", self.files["x"], "--weights", self.files["w"]]
        if points:
            args += ["--points", self.files["p"]]
        return kde_json(self, args + list(extra), ranks=ranks)

    def kernel_matrix(self, kernel, a, b, h):
        diff = a[:, None, :] - b[None, :, :]
        d = a.shape[1]
        r2 = (diff ** 2).sum(-1)
        if kernel == "gaussian":
            return np.exp(-r2 / (2 * h * h)) / (2 * np.pi * h * h) ** (d / 2)
        if kernel == "epanechnikov":
            volume = np.pi ** (d / 2) / math.gamma(d / 2 + 1)
            return np.maximum(0, 1 - r2 / (h * h)) * (d + 2) / (2 * volume * h ** d)
        return (np.abs(diff) / h <= 0.5).all(-1) / h ** d

    def test_densities_match_numpy_for_every_kernel_and_mode(self):
        widths = [0.3, 0.9]
        for kernel in ["gaussian", "epanechnikov", "hypercube"]:
            want = np.stack([self.kernel_matrix(kernel, self.points, self.x, h) @ self.w
                             for h in widths], 1) / self.w.sum()
            modes = [[], ["--algo", "naive"]]
            if kernel != "hypercube":
                modes.append(["--approx", "binned"])
            for mode in modes:
                doc = self.kde(["--kernel", kernel, "--widths", "0.3,0.9"] + mode)
                got = np.array([[as_float(v) for v in row] for row in doc["density"]])
                self.assertEqual(doc["weights"]["file"], self.files["w"])
                self.assertAlmostEqual(doc["weights"]["total"], self.w.sum(), delta=1e-9)
                zeros = int((self.w == 0).sum())
                self.assertEqual(doc["weights"]["dropped"], zeros)
                self.assertEqual(doc["n"], len(self.x) - zeros)
                big = want >= 1e-3 * want.max()
                error = np.abs(got - want)[big] / want[big]
                # exact and naive: the default bound (1e-12) plus rounding; binned: its
                # stated accuracy (about 1e-3 with the gaussian; coarser for epanechnikov,
                # whose kernel has a kink)
                allowed = 5e-12 if "--approx" not in mode else (
                    2e-3 if kernel == "gaussian" else 3e-2)
                self.assertLess(error.max(), allowed, f"{kernel} {mode}")
                if "--approx" not in mode:
                    self.assertLess(np.abs(got - want).max(), 1e-12 * want.max() + 1e-300)

    def test_integer_weights_equal_repeated_samples(self):
        counts = np.random.default_rng(2).integers(0, 4, len(self.x))
        repeated = np.repeat(self.x, counts, axis=0)
        path = os.path.join(self.tmp.name, "counts.npy")
        np.save(path, counts.astype(float))
        np.save(os.path.join(self.tmp.name, "rep.npy"), repeated)
        for kernel in ["gaussian", "hypercube"]:
            args = ["--kernel", kernel, "--widths", "0.4", "--points", self.files["p"]]
            weighted = kde_json(self, ["--input", self.files["x"], "--weights", path] + args)
            plain = kde_json(self, ["--input", os.path.join(self.tmp.name, "rep.npy")] + args)
            a = np.array(weighted["density"], float)
            b = np.array(plain["density"], float)
            self.assertLess(np.abs(a - b).max(), 1e-12 * b.max(), kernel)

    def test_matches_scipy_gaussian_kde_with_weights(self):
        try:
            from scipy import stats
        except ImportError:
            self.skipTest("SciPy is not installed (apt-get install python3-scipy)")
        for bw in ["scott", "silverman"]:
            doc = self.kde(["--kernel", "gaussian", "--kernel-cov", "data", "--bandwidth", bw,
                            "--rtol", "0"])
            kde = stats.gaussian_kde(self.x.T, bw_method=bw, weights=self.w)
            want = kde(self.points.T)
            got = np.array(doc["density"], float)[:, 0]
            self.assertLess(np.abs(got - want).max(), 1e-12 * want.max(), bw)
            self.assertAlmostEqual(doc["bandwidth"]["h"], kde.factor, delta=1e-14)
            self.assertAlmostEqual(doc["weights"]["effective_n"], kde.neff, delta=1e-9)

    def test_weighted_rules_and_isj(self):
        neff = self.w.sum() ** 2 / (self.w ** 2).sum()
        cov = np.cov(self.x.T, aweights=self.w, ddof=1)
        s = float(np.exp(np.mean(np.log(np.sqrt(np.diag(cov))))))
        doc = self.kde(["--bandwidth", "silverman"], points=False)
        want = s * (4 / (4 * neff)) ** (1 / 6)
        self.assertLess(abs(doc["bandwidth"]["h"] - want) / want, 1e-13)
        one = self.x[:, :1]
        path = os.path.join(self.tmp.name, "one.npy")
        np.save(path, one)
        doc = kde_json(self, ["--input", path, "--weights", self.files["w"], "--bandwidth",
                              "isj", "--point", "0"])
        want = isj_reference(one[:, 0], self.w)
        self.assertLess(abs(doc["bandwidth"]["h"] - want) / want, 1e-8)

    def loo_scores(self, kernel, method, widths):
        scores = []
        total = self.w.sum()
        for h in widths:
            k = self.kernel_matrix(kernel, self.x, self.x, h)
            np.fill_diagonal(k, 0)
            loo = (k @ self.w) / (total - self.w)
            if method == "loglik":
                keep = self.w > 0
                with np.errstate(divide="ignore"):
                    scores.append(float((self.w[keep] * np.log(loo[keep])).sum() / total))
            elif kernel == "gaussian":
                wide = self.kernel_matrix("gaussian", self.x, self.x, math.sqrt(2) * h)
                integral = self.w @ wide @ self.w / total ** 2
                scores.append(float(integral - 2 * (self.w * loo).sum() / total))
            else:  # the hypercube: the overlap volume of two windows, prod_t (h - |dx_t|)_+
                diff = np.abs(self.x[:, None, :] - self.x[None, :, :])
                overlap = np.clip(h - diff, 0, None).prod(-1) / h ** (2 * self.x.shape[1])
                integral = self.w @ overlap @ self.w / total ** 2
                scores.append(float(integral - 2 * (self.w * loo).sum() / total))
        return np.array(scores)

    def test_cross_validation_matches_numpy(self):
        for kernel, method, widths in [("gaussian", "loglik", [0.15, 0.4, 0.9]),
                                       ("gaussian", "lsq", [0.15, 0.4, 0.9]),
                                       ("epanechnikov", "loglik", [1.0, 2.0]),
                                       ("hypercube", "loglik", [1.5, 3.0]),
                                       ("hypercube", "lsq", [0.5, 1.5, 3.0])]:
            want = self.loo_scores(kernel, method, widths)
            for mode in [[], ["--algo", "naive"]]:
                doc = self.kde(["--kernel", kernel, "--cv", method, "--widths",
                                ",".join(map(str, widths))] + mode, points=False)
                got = np.array([as_float(e["score"]) for e in doc["cv"]["curve"]])
                self.assertTrue(np.all(np.isfinite(want)), want)
                self.assertLess(np.abs(got - want).max(), 1e-11 * np.abs(want).max(),
                                f"{kernel} {method} {mode}")
                if method == "lsq" and kernel == "gaussian":  # it states its own bound
                    bound = np.array([e["score_bound"] for e in doc["cv"]["curve"]])
                    self.assertTrue(np.all(np.abs(got - want) <= bound), (got - want, bound))
                    self.assertTrue(np.all(bound < 1e-11 * np.abs(want).max()), bound)
                else:
                    self.assertNotIn("score_bound", doc["cv"]["curve"][0])
        doc = self.kde(["--kernel", "gaussian", "--cv", "--widths", "0.4,0.9", "--approx",
                        "binned"], points=False)
        got = np.array([as_float(e["score"]) for e in doc["cv"]["curve"]])
        want = self.loo_scores("gaussian", "loglik", [0.4, 0.9])
        self.assertLess(np.abs(got - want).max(), 1e-3 * np.abs(want).max())

    def test_far_tails_beside_zero_weights(self):
        # Sample 0's only close neighbours weigh 0: its leave-one-out density (from samples
        # 100 widths away) underflows a double, but its log stays finite, as NumPy's
        # log-sum-exp gives it.
        x = np.array([0.0, 0.001, 0.002, 5.0, 5.001, 5.003])
        w = np.array([1.0, 0.0, 0.0, 1.0, 2.0, 1.0])
        h = 0.05
        np.save(self.files["x"], x.reshape(-1, 1))
        np.save(self.files["w"], w)
        doc = self.kde(["--kernel", "gaussian", "--cv", "--widths", str(h)], points=False)
        got = as_float(doc["cv"]["curve"][0]["score"])
        logk = -(x[:, None] - x[None, :]) ** 2 / (2 * h * h) + np.log(w)[None, :]
        np.fill_diagonal(logk, -np.inf)
        top = logk.max(1, keepdims=True)
        log_loo = (top[:, 0] + np.log(np.exp(logk - top).sum(1)) - np.log(w.sum() - w)
                   - 0.5 * math.log(2 * math.pi) - math.log(h))
        keep = w > 0
        want = float((w[keep] * log_loo[keep]).sum() / w.sum())
        self.assertTrue(math.isfinite(got), doc["cv"])
        self.assertLess(abs(got - want), 1e-9 * abs(want))

    def test_same_bits_on_every_backend(self):
        for extra in [["--kernel", "gaussian", "--widths", "0.2,0.5", "--cv"],
                      ["--kernel", "hypercube", "--widths", "1.0,2.0", "--cv"],
                      ["--kernel", "gaussian", "--widths", "0.3", "--approx", "binned"]]:
            docs = [stable(self.kde(extra + ["--threads", str(t)])) for t in THREADS]
            docs += [stable(self.kde(extra, ranks=r)) for r in RANKS]
            for doc in docs[1:]:
                self.assertEqual(doc, docs[0], extra)

    def test_errors(self):
        bad = os.path.join(self.tmp.name, "bad.npy")
        for weights, expect in [(self.w[:-1], "one weight per sample"),
                                (np.where(np.arange(len(self.w)) == 5, -1.0, self.w), "negative"),
                                (np.zeros(len(self.w)), "every weight is 0"),
                                (np.stack([self.w, self.w], 1), "one weight per sample")]:
            np.save(bad, weights)
            for ranks in [None, 3]:
                r = run(["kde", "--input", self.files["x"], "--weights", bad, "--json"],
                        ranks=ranks)
                self.assertEqual(r.code, 2, r.err)
                self.assertEqual(len(r.error_lines()), 1, r.err)
                self.assertIn(expect, r.err)
                self.assertIn("bad.npy", r.err)
        for extra, expect in [(["--algo", "tree"], "--weights")]:
            r = run(["kde", "--input", self.files["x"], "--weights", self.files["w"]] + extra)
            self.assertEqual(r.code, 2, r.err)
            self.assertIn(expect, r.err)
        one = np.zeros(len(self.w))
        one[3] = 2.0
        np.save(bad, one)
        # the rule's effective n, or the CV itself (the samples of weight 0 are left out)
        for rule in [[], ["--widths", "0.5"]]:
            r = run(["kde", "--input", self.files["x"], "--weights", bad, "--kernel",
                     "gaussian", "--cv"] + rule)
            self.assertEqual(r.code, 2, r.err)
            self.assertIn("at least 2 samples", r.err)


def isj_reference(x, weights=None, cells=2 ** 14):
    """The improved Sheather-Jones width, written here from the paper: Botev, Grotowski and
    Kroese (2010), "Kernel density estimation via diffusion", Ann. Statist. 38(5), section 3.
    The samples linearly binned onto the centres of `cells` cells over their range plus a tenth
    each side; the roughness ||f^(s)||^2 at time t from the bins' cosine coefficients; t* the
    root of t = xi gamma^[7](t), found by SciPy's brentq; h = sqrt(t*) in data units. None when
    there is no root for t up to 1."""
    import scipy.fft
    import scipy.optimize
    x = np.asarray(x, float)
    w = np.ones_like(x) if weights is None else np.asarray(weights, float)
    lo, span = x.min(), x.max() - x.min()
    length = 1.2 * span
    step = length / cells
    u = (x - (lo - span / 10 + step / 2)) / step
    k = np.minimum(np.floor(u), cells - 2).astype(int)
    frac = u - k
    bins = np.zeros(cells)
    np.add.at(bins, k, w * (1 - frac))
    np.add.at(bins, k + 1, w * frac)
    a2 = (scipy.fft.dct(bins / bins.sum(), type=2)[1:] / 2) ** 2
    ksq = np.arange(1, cells, dtype=float) ** 2
    n = w.sum() ** 2 / (w ** 2).sum()

    def roughness(s, t):
        return 2 * np.pi ** (2 * s) * np.sum(ksq ** s * a2 * np.exp(-ksq * np.pi ** 2 * t))

    def gap(t):
        f = roughness(7, t)
        for s in range(6, 1, -1):
            if not f > 0:
                return -np.inf
            k0 = np.prod(np.arange(1, 2 * s, 2)) / np.sqrt(2 * np.pi)
            c = (1 + 0.5 ** (s + 0.5)) / 3
            f = roughness(s, (2 * c * k0 / n / f) ** (2 / (3 + 2 * s)))
        return t - (2 * n * np.sqrt(np.pi) * f) ** -0.4 if f > 0 else -np.inf

    top = 1e-11 + 0.01 * (min(max(n, 50), 1050) - 50) / 1000
    with np.errstate(divide="ignore", over="ignore"):
        while not gap(top) > 0:
            top *= 2
            if top > 1:
                return None
        t = scipy.optimize.brentq(gap, 0, top, xtol=1e-300, rtol=1e-15, maxiter=500)
    return math.sqrt(t) * length


class KdeIsj(unittest.TestCase):
    """--bandwidth isj against a reference written in the test from the paper, against the
    normal distribution's AMISE-optimal width (a closed form ISJ approaches for normal data),
    bitwise the same width on every backend, and its errors."""

    def isj(self, samples, ranks=None, extra=()):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "s.npy")
            np.save(path, np.asarray(samples, float).reshape(-1, 1))
            return run(["kde", "--input", path, "--bandwidth", "isj", "--point", "0", "--json"]
                       + list(extra), ranks=ranks)

    def test_against_the_papers_fixed_point(self):
        need_numpy(self)
        rng = np.random.default_rng(5)
        for samples in [rng.standard_normal(1000) * 3 + 1,
                        np.concatenate([rng.standard_normal(5000), rng.normal(4, 0.2, 5000)]),
                        rng.exponential(2.0, 3000), rng.integers(0, 40, 800) * 0.5]:
            r = self.isj(samples)
            self.assertEqual(r.code, 0, r.err)
            doc = r.json()
            want = isj_reference(samples)
            self.assertEqual(doc["bandwidth"]["rule"], "isj")
            got = doc["bandwidth"]["h"]
            self.assertLessEqual(abs(got - want) / want, 1e-8, f"{got!r} vs {want!r}")
            self.assertEqual([e["h"] for e in doc["results"]], [got])

    def test_normal_data_approach_the_amise_width(self):
        need_numpy(self)
        samples = np.random.default_rng(9).standard_normal(200000) * 2.0
        got = self.isj(samples).json()["bandwidth"]["h"]
        amise = (4 / (3 * len(samples))) ** 0.2 * samples.std(ddof=1)
        self.assertLess(abs(got - amise) / amise, 0.05, f"{got} vs {amise}")

    def test_bimodal_data_get_a_narrower_width_than_silvermans(self):
        need_numpy(self)
        rng = np.random.default_rng(3)
        samples = np.concatenate([rng.normal(-3, 0.3, 4000), rng.normal(3, 0.3, 4000)])
        got = self.isj(samples).json()["bandwidth"]["h"]
        silverman = (4 / (3 * len(samples))) ** 0.2 * samples.std(ddof=1)
        self.assertLess(got, silverman / 4)

    def test_same_bits_on_every_backend(self):
        need_numpy(self)
        samples = np.random.default_rng(11).standard_normal(5001)
        widths = set()
        for threads in THREADS:
            widths.add(self.isj(samples, extra=["--threads", str(threads)]).json()
                       ["bandwidth"]["h"])
        for ranks in RANKS:
            widths.add(self.isj(samples, ranks=ranks).json()["bandwidth"]["h"])
        self.assertEqual(len(widths), 1, widths)

    def test_no_root_is_an_input_error(self):
        need_numpy(self)
        samples = np.arange(10.0)
        self.assertIsNone(isj_reference(samples))
        r = self.isj(samples)
        self.assertEqual(r.code, 2, r.err)
        self.assertEqual(len(r.error_lines()), 1, r.err)
        self.assertIn("no root", r.err)

    def test_isj_is_for_one_dimension(self):
        r = run(["kde", "--bandwidth", "isj", "--dim", "2", "--json"])
        self.assertEqual(r.code, 2, r.err)
        self.assertIn("1-D", r.err)


class KdeErrors(unittest.TestCase):
    """Each bad input: exit 2, one 'parakit: error:' line naming the culprit, no file left."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        self.dir = os.path.join(self.tmp.name, "work")
        self.tmpdir = os.path.join(self.tmp.name, "tmp")  # TMPDIR: gnuplot's script lands here
        os.mkdir(self.dir)
        os.mkdir(self.tmpdir)
        files = {
            "empty.csv": "",
            "header_only.csv": "x,y\n",
            "nonnumeric.csv": "1,2\n3,abc\n5,6\n",
            "nan.csv": "1,2\n3,4\nnan,6\n",
            "inf.csv": "1,2\n3,-inf\n",
            "ragged.csv": "1,2\n3,4\n5,6,7\n",
            "ok2.csv": "0.1,0.2\n-0.3,0.4\n0.5,-0.6\n1.0,1.5\n",
            "points3.csv": "0,0,0\n1,1,1\n",
            "zerovar.csv": "0.1,5\n0.2,5\n0.7,5\n",
        }
        for name, text in files.items():
            with open(os.path.join(self.dir, name), "w") as f:
                f.write(text)
        write_npy(os.path.join(self.dir, "cube.npy"), [0.5] * 8, shape=(2, 2, 2))

    def path(self, name):
        return os.path.join(self.dir, name)

    def expect_error(self, args, mentions, ranks=None):
        before = sorted(os.listdir(self.dir))
        r = run(["kde"] + args + ["--json"], ranks=ranks, timeout=ENDS_WITHIN,
                env={"TMPDIR": self.tmpdir})
        what = f"parakit kde {' '.join(args)} (ranks={ranks})"
        self.assertEqual(r.code, 2, f"{what}: exit {r.code}, stderr {r.err!r}")
        lines = r.error_lines()
        self.assertEqual(len(lines), 1, f"{what}: {r.err!r}")
        for word in mentions:
            self.assertIn(word, lines[0], what)
        self.assertEqual(r.out.strip(), "", what)
        self.assertEqual(sorted(os.listdir(self.dir)), before, f"{what}: left a file behind")
        self.assertEqual(os.listdir(self.tmpdir), [], f"{what}: left a temp file behind")
        return lines[0]

    def test_bad_input_files(self):
        out = ["--out", self.path("o.csv"), "--plot", self.path("o.png")]
        for name, mentions in [("empty.csv", ["empty.csv"]),
                               ("header_only.csv", ["header_only.csv"]),
                               ("nonnumeric.csv", ["nonnumeric.csv:2", "abc"]),
                               ("nan.csv", ["nan.csv:3"]),
                               ("inf.csv", ["inf.csv:2"]),
                               ("ragged.csv", ["ragged.csv:3"]),
                               ("cube.npy", ["cube.npy"]),
                               ("missing.csv", ["missing.csv"])]:
            self.expect_error(["--input", self.path(name)] + out, mentions)
            # (--plot refuses --points before reading them, so only --out here.)
            self.expect_error(["--input", self.path("ok2.csv"), "--points", self.path(name),
                               "--out", self.path("o.csv")], mentions + ["--points"])

    def test_dimension_mismatches(self):
        out = ["--out", self.path("o.json")]
        self.expect_error(["--input", self.path("ok2.csv"), "--point", "0,0,0"] + out,
                          ["--point"])
        self.expect_error(["--input", self.path("ok2.csv"), "--points", self.path("points3.csv")]
                          + out, ["points3.csv"])
        self.expect_error(["--grid", "5x5x5"] + out, ["--grid"])

    def test_bad_options(self):
        out = ["--out", self.path("o.csv"), "--plot", self.path("o.png")]
        for args, mentions in [
                (["--widths", "0,1"], ["--widths"]),
                (["--widths", "-1:1:3"], ["--widths"]),
                (["--widths", "1:2"], ["--widths"]),
                (["--widths", "1:2:0"], ["--widths"]),
                (["--widths", "1:2:2.5"], ["--widths"]),
                (["--widths", "abc"], ["--widths"]),
                (["--widths", "1,nan"], ["--widths"]),
                (["--grid", "0x10"], ["--grid"]),
                (["--grid", "10x10:1:0:0:1"], ["--grid"]),
                (["--grid", "10x10:0:1:0"], ["--grid"]),
                (["--grid", "axb"], ["--grid"]),
                (["--input", self.path("zerovar.csv"), "--bandwidth", "scott"],
                 ["--bandwidth", "zerovar.csv", "variance"]),
                (["--input", self.path("zerovar.csv"), "--cv", "loglik"],
                 ["--cv", "zerovar.csv", "variance"]),
                (["--bandwidth", "median"], ["--bandwidth"]),
                (["--kernel", "triangle"], ["--kernel"]),
                (["--algo", "fast"], ["--algo"]),
                (["--cv", "bogus"], ["--cv"]),
                (["--cv", "lsq", "--kernel", "epanechnikov"], ["lsq", "epanechnikov"]),
                (["--point", "0,x"], ["--point"]),
                (["--samples", "0"], ["--samples"]),
                (["--rng", "mt"], ["--rng"]),
                (["--out", self.path("o.txt")], ["--out"]),
                (["--plot", self.path("o.jpg")], ["--plot"]),
                (["--points", self.path("ok2.csv"), "--plot", self.path("o.png")], ["--plot"]),
                (["--grid", "4x4x4", "--dim", "3", "--plot", self.path("o.png")], ["--plot"])]:
            self.expect_error(args + out if "--out" not in args and "--plot" not in args else args,
                              mentions)

    def test_out_and_plot_into_a_missing_directory(self):
        need_gnuplot(self)
        missing = os.path.join(self.dir, "no", "such")
        self.expect_error(["--widths", "0.5", "--out", os.path.join(missing, "o.csv")], ["o.csv"])
        self.expect_error(["--widths", "0.5", "--plot", os.path.join(missing, "o.png")], ["o.png"])

    def test_failed_plot_leaves_no_out_file(self):
        # Regression: --out once appeared although the plot after it failed.
        need_gnuplot(self)
        missing = os.path.join(self.dir, "no", "such", "o.png")
        self.expect_error(["--widths", "0.5", "--out", self.path("o.csv"), "--plot", missing],
                          ["o.png"])

    def test_errors_under_mpirun(self):
        out = ["--out", self.path("o.csv"), "--plot", self.path("o.png")]
        for args, mentions in [(["--input", self.path("nan.csv")], ["nan.csv:3"]),
                               (["--input", self.path("ragged.csv")], ["ragged.csv:3"]),
                               (["--input", self.path("ok2.csv"), "--point", "0,0,0"], ["--point"]),
                               (["--widths", "1:2:0"], ["--widths"]),
                               (["--input", self.path("zerovar.csv"), "--bandwidth", "silverman"],
                                ["--bandwidth", "zerovar.csv"]),
                               (["--points", self.path("points3.csv")], ["points3.csv"])]:
            self.expect_error(args + (out if "--points" not in args else out[:2]), mentions,
                              ranks=3)


class KdeProgress(unittest.TestCase):
    """--progress: the densities' query points, then the CV's query blocks, on stderr (rank 0
    only, one line per interval on a pipe, "\r" rewrites on a terminal); stdout unchanged."""

    ARGS = ["--kernel", "gaussian", "--samples", "3000", "--grid", "40x40", "--cv", "loglik",
            "--widths", "0.2,0.3,0.5"]

    def test_lines_on_stderr_and_json_unchanged(self):
        plain = kde_json(self, self.ARGS)
        for ranks in [None, 2]:
            r = run(["kde"] + self.ARGS + FAST_PROGRESS + ["--json"], ranks=ranks)
            self.assertEqual(r.code, 0, r.err)
            self.assertEqual(stable(r.json()), stable(plain), ranks)
            grid = progress_lines(self, r.err, "kde")
            self.assertRegex(grid[-1], r"^kde: finished densities: 1600/1600 \(100\.0%\)  "
                                       r"\S+ points/s  in \d+:\d\d$")
            cv = progress_lines(self, r.err, "kde cv")
            self.assertRegex(cv[-1], r"^kde cv: finished cross-validation: (\d+)/\1 ")
            # Under mpirun -np 2 only rank 0 reports.
            self.assertEqual(r.err.count("finished densities"), 1, r.err)
            self.assertEqual(r.err.count("finished cross-validation"), 1, r.err)

    def test_text_output_unchanged_and_no_progress_by_default_on_a_pipe(self):
        plain = run(["kde"] + self.ARGS)
        self.assertEqual(plain.code, 0, plain.err)
        self.assertNotIn("finished", plain.err)
        shown = run(["kde"] + self.ARGS + FAST_PROGRESS)
        self.assertEqual(shown.code, 0, shown.err)
        self.assertNotIn("finished", shown.out)
        def untimed(text):
            return [line for line in text.splitlines() if not re.search(r"\d s\b", line)]
        self.assertEqual(untimed(shown.out), untimed(plain.out))

    def test_terminal_rewrites_one_line(self):
        # A longer grid (a second or so), so that the line is rewritten before it finishes.
        args = [a if a != "40x40" else "300x300" for a in self.ARGS]
        code, out, seen = run_on_terminal(["kde"] + args + ["--threads", "1"])
        self.assertEqual(code, 0, seen)
        self.assertIn("\rkde: finished densities: 90000/90000 (100.0%)", seen)
        self.assertGreaterEqual(seen.count("\rkde: "), 2, seen)
        self.assertIn("\rkde cv: finished cross-validation: ", seen)
        self.assertEqual(seen.count("\n"), 2, seen)  # each finished line ends its line
        self.assertNotIn("finished", out)


if __name__ == "__main__":
    unittest.main()
