#!/usr/bin/env python3
"""parakit against its peers, side by side (issue #6, "Peers, side by side").

Runs parakit and each peer on the same inputs, at the same worker counts, checks that every
peer computes what parakit computes, and prints one table: workload, workers, parakit's time,
the peer's time and the ratio peer/parakit (> 1: parakit is faster).

  python3 bench/peers/peers.py [--quick] [--json] [--markdown] [--update-readme]

Peers (their code is copied from the seed notebooks in ../shared/seeds, see below):
  sum   the seed's `sum_using_threads` (threading + queue.Queue, over a Python list), NumPy
        `np.sum` (p = 1) and `np.sum` of p contiguous slices in p threads (p > 1)
  farm  the seed's multiprocessing Queue farm (a producer process puts 0..N-1, p worker
        processes take them and add them to a shared Value under a Lock), and mpi4py.futures
        (MPICommExecutor.map with a chunksize, under `mpirun -np p+1`)
  kde   the seed's Parzen `serial` and `multiprocess` (Pool.apply_async per width)
  kde-gauss  a Gaussian density on a grid of points from a 2-D mixture (the same .npy file
        and points for all): scikit-learn `KernelDensity` (kd-tree, rtol = 0), SciPy
        `gaussian_kde` with the same isotropic kernel, and a NumPy log-sum-exp brute force,
        at p = 1 (they are single-threaded); every result is checked against the brute force

Every measurement is repeated (3 reps, interleaved across all the runs of a workload so that
drift hits them alike) and the median is reported. parakit's time is the "seconds" of its JSON
(the kernel, with the data already in memory); a peer's is a perf_counter around the call, as
the seed's %%timeit / timeit.Timer measure it. See README.md next to this file.

Needs NumPy; mpi4py is optional (its row is skipped with a note). When the interpreter that
runs this has no NumPy, it re-executes itself with the first of `python3`, `/usr/bin/python3`
that has.
"""

import os
import shutil
import subprocess
import sys


# --- pick an interpreter with NumPy --------------------------------------------------------
def _has_modules(python, modules):
    try:
        return (
            subprocess.run(
                [python, "-c", "import " + ", ".join(modules)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=60,
            ).returncode
            == 0
        )
    except (OSError, subprocess.TimeoutExpired):
        return False


def _candidates():
    seen = set()
    for name in (sys.executable, "python3", "/usr/bin/python3"):
        path = shutil.which(name) if name else None
        if path and os.path.realpath(path) not in seen:
            seen.add(os.path.realpath(path))
            yield path


try:
    import numpy as np
except ImportError:
    if os.environ.get("PARAKIT_PEERS_REEXEC"):
        sys.exit("peers.py: no interpreter with NumPy (apt-get install python3-numpy)")
    for _python in _candidates():
        if os.path.realpath(_python) != os.path.realpath(sys.executable) and _has_modules(
            _python, ["numpy"]
        ):
            os.environ["PARAKIT_PEERS_REEXEC"] = "1"
            os.execv(_python, [_python, os.path.abspath(__file__)] + sys.argv[1:])
    sys.exit("peers.py: no interpreter with NumPy among python3, /usr/bin/python3 "
             "(apt-get install python3-numpy)")

import argparse  # noqa: E402
import datetime  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import multiprocessing  # noqa: E402
import multiprocessing as mp  # noqa: E402  (the seed's name for it)
import platform  # noqa: E402
import queue  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MPI_ENV = {
    "OMPI_ALLOW_RUN_AS_ROOT": "1",
    "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
    "OMPI_MCA_rmaps_base_oversubscribe": "1",
}


# ============================================================================================
# The seeds' code. Each function is the notebook's cell, copied; only what a cell left at the
# top level of a notebook (its `if __name__ == "__main__":` block) is wrapped in a function.
# ============================================================================================

# --- seed 004_1815c1362747247e.txt, cell "In [36]" (the exercise: sum an array with N threads)
def thread_job(arr, part_id, thread_count, results_queue):
    results_queue.put(
        sum(arr[i] for i in range(part_id, len(arr), thread_count))
    )


def sum_using_threads(arr, thread_count):
    results_queue = queue.Queue()
    threads = [
        threading.Thread(target=thread_job, args=(arr, i, thread_count, results_queue))
        for i in range(thread_count)
    ]
    for thread in threads:
        thread.start()

    results = []
    for thread in threads:
        results.append(results_queue.get())
        thread.join()

    return sum(results)


# --- seed 000_d9c136a26c6e34f2.txt, cell "In [3]" (并发例子: the multiprocessing Queue farm)
def make_data(queue, num, work_nums):
    for i in range(num):
        queue.put(i)
    for i in range(work_nums):
        queue.put(None)


def handle_data(queue, share_value, lock):
    while True:
        data = queue.get()
        if data is None:
            break
        lock.acquire()
        share_value.value = share_value.value + data
        lock.release()


def queue_farm(num, work_nums):
    """The body of the seed's `if __name__ == "__main__":` block, with num and work_nums as
    arguments and the printing of the check replaced by returning share_value.value."""
    queue = multiprocessing.Queue()  # 进程间通信所用
    share_value = multiprocessing.Value("i", 0)  # 进程间共享所用
    lock = multiprocessing.Lock()  # 进程间共享内存时，采用锁同步机制
    sub_process = []  # 处理数据进程集合

    master_process = multiprocessing.Process(target=make_data, args=(queue, num, work_nums, ))  # 生成数据进程
    for i in range(work_nums):
        sub_process1 = multiprocessing.Process(target=handle_data, args=(queue, share_value, lock,))
        sub_process.append(sub_process1)

    master_process.start()
    for p in sub_process:
        p.start()

    master_process.join()
    for p in sub_process:
        p.join()

    return share_value.value


# --- seed 004_1815c1362747247e.txt, cells "In [70]", "In [71]" and "In [72]" (Parzen window):
# parzen_estimation and serial are bench/kde_seed_python.py's verbatim copies.
sys.path.insert(0, os.path.dirname(HERE))
from kde_seed_python import parzen_estimation, serial  # noqa: E402,F401


def multiprocess(processes, samples, x, widths):
    pool = mp.Pool(processes=processes)
    results = [pool.apply_async(parzen_estimation, args=(samples, x, w)) for w in widths]
    results = [p.get() for p in results]
    results.sort() # to sort the results by input window width
    return results


# --- the seed's data for the Parzen cells ("In [63]", "In [75]"): np.random.seed(123), then
# 10000 draws of a 2-D standard normal; the point (0, 0); widths np.linspace(1.0, 1.2, 100).
# (Cell "In [76]" draws a second sample without reseeding; parakit's --rng numpy reproduces
# the first draw after the seed, which is the one used here.)
def seed_kde_data(n, m):
    np.random.seed(123)
    mu_vec = np.array([0, 0])
    cov_mat = np.array([[1, 0], [0, 1]])
    x_2Dgauss = np.random.multivariate_normal(mu_vec, cov_mat, n)
    point_x = np.array([[0], [0]])
    widths = np.linspace(1.0, 1.2, m)
    return x_2Dgauss, point_x, widths


# ============================================================================================
# Not from the seeds: NumPy's sum, and the same split over p threads (np.sum releases the GIL).
# ============================================================================================
def numpy_sum(a):
    return float(np.sum(a))


def numpy_sum_threads(a, p):
    parts = [0.0] * p
    bounds = [len(a) * i // p for i in range(p + 1)]

    def job(i):
        parts[i] = np.sum(a[bounds[i]:bounds[i + 1]])

    threads = [threading.Thread(target=job, args=(i,)) for i in range(p)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return float(sum(parts))


# ============================================================================================
# Harness
# ============================================================================================
class Run:
    """One thing to time: `fn()` returns (seconds, result) for one repetition."""

    def __init__(self, workload, p, name, fn, kind, note=""):
        self.workload, self.p, self.name, self.fn, self.kind, self.note = (
            workload, p, name, fn, kind, note)
        self.samples = []
        self.result = None
        self.error = None

    @property
    def seconds(self):
        return statistics.median(self.samples) if self.samples else None


def timed(fn, *args):
    start = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - start, result


def run_json(cmd, env=None, timeout=600):
    full_env = dict(os.environ)
    full_env.update(MPI_ENV)
    if env:
        full_env.update(env)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=full_env, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(
            "%s exited %d: %s" % (" ".join(cmd), proc.returncode, proc.stderr.strip()[-800:]))
    for line in reversed(proc.stdout.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError("%s printed no JSON: %s" % (" ".join(cmd), proc.stdout[-400:]))


def parakit_fn(binary, args, p, backend, ranks=None):
    if backend == "mpi":
        cmd = ["mpirun", "-np", str(ranks or p), "--oversubscribe", binary] + args + [
            "--backend", "mpi", "--threads", "1", "--json"]
    else:
        cmd = [binary] + args + ["--backend", "threads", "--threads", str(p), "--json"]

    def fn():
        out = run_json(cmd)
        return out["seconds"], out
    fn.cmd = cmd
    return fn


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(binary, mpi_python):
    info = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "cpus_allowed": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "host": platform.node(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "python_path": sys.executable,
        "numpy": np.__version__,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }
    try:
        info["parakit"] = subprocess.run([binary, "--version"], capture_output=True, text=True,
                                         timeout=30).stdout.strip()
    except OSError:
        info["parakit"] = None
    try:
        info["git"] = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                                     capture_output=True, text=True, timeout=30).stdout.strip()
    except OSError:
        info["git"] = None
    if mpi_python:
        info["mpi4py"] = subprocess.run(
            [mpi_python, "-c", "import mpi4py; print(mpi4py.__version__)"],
            capture_output=True, text=True, timeout=60).stdout.strip()
    try:
        info["mpirun"] = subprocess.run(["mpirun", "--version"], capture_output=True, text=True,
                                        timeout=30).stdout.splitlines()[0].strip()
    except (OSError, IndexError):
        info["mpirun"] = None
    return info


def find_mpi_python():
    for python in _candidates():
        if _has_modules(python, ["mpi4py"]):
            return python
    return None


def log(msg, quiet):
    if not quiet:
        print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
def build_sum(args, binary, workdir, quiet):
    n = args.sum_n
    npy = os.path.join(workdir, "sum.npy")
    log("sum: generating %d doubles with parakit (--save-data)" % n, quiet)
    ref = run_json([binary, "sum", "--n", str(n), "--backend", "threads", "--threads", "1",
                    "--save-data", npy, "--json"])
    a = np.load(npy)
    if a.shape != (n,) or a.dtype != np.float64:
        raise RuntimeError("parakit saved %s %s, expected (%d,) float64" % (a.shape, a.dtype, n))
    arr = a.tolist()  # the seed sums a Python list
    log("sum: data loaded; parakit's sum %.17g" % ref["sum"], quiet)

    runs = []
    base = ["sum", "--n", str(n), "--mode", "fast"]
    for p in args.workers:
        runs.append(Run("sum", p, "parakit", parakit_fn(binary, base, p, "threads"), "parakit"))
        runs.append(Run("sum", p, "parakit mpi", parakit_fn(binary, base, p, "mpi"), "parakit-mpi",
                        "mpirun -np %d" % p))
        runs.append(Run("sum", p, "seed sum_using_threads",
                        lambda p=p: timed(sum_using_threads, arr, p), "peer",
                        "threading + queue.Queue over a list (GIL)"))
        if p == 1:
            runs.append(Run("sum", p, "NumPy np.sum", lambda: timed(numpy_sum, a), "peer"))
        else:
            runs.append(Run("sum", p, "NumPy np.sum, %d threads" % p,
                            lambda p=p: timed(numpy_sum_threads, a, p), "peer",
                            "np.sum of %d slices in %d threads" % (p, p)))

    def check(run):
        got = run.result if not isinstance(run.result, dict) else run.result["sum"]
        want = ref["sum"]
        ok = math.isclose(got, want, rel_tol=1e-9)
        return ok, "sum %.17g vs parakit %.17g" % (got, want)

    return runs, check, {"n": n, "dist": "uniform", "seed": 1}


def build_farm(args, binary, mpi_python, quiet):
    n = args.farm_n
    cap = min(n, args.queue_cap)
    # The seed's shared counter is a 32-bit multiprocessing.Value("i"): keep it exact.
    if cap * (cap - 1) // 2 >= 2 ** 31:
        raise RuntimeError("--queue-cap %d overflows the seed's Value('i')" % cap)
    expect = n * (n - 1) // 2
    expect_cap = cap * (cap - 1) // 2
    scale = n / cap
    ref_cap = run_json([binary, "farm", "--demo", "queue", "--tasks", str(cap), "--backend",
                        "threads", "--threads", "1", "--json"])
    if ref_cap["result"] != expect_cap:
        raise RuntimeError("parakit farm --tasks %d gave %s" % (cap, ref_cap["result"]))

    runs = []
    base = ["farm", "--demo", "queue", "--tasks", str(n)]
    for p in args.workers:
        runs.append(Run("farm", p, "parakit", parakit_fn(binary, base, p, "threads"), "parakit"))
        runs.append(Run("farm", p, "parakit mpi", parakit_fn(binary, base, p, "mpi", ranks=p + 1),
                        "parakit-mpi", "mpirun -np %d: master + %d worker%s"
                        % (p + 1, p, "s" if p > 1 else "")))

        def qfarm(p=p):
            seconds, result = timed(queue_farm, cap, p)
            return seconds * scale, result
        note = "1 producer + %d worker processes" % p
        if scale != 1:
            note += "; N capped at %d, time x%g" % (cap, scale)
        runs.append(Run("farm", p, "seed multiprocessing Queue farm", qfarm, "peer", note))
        if mpi_python:
            cmd = ["mpirun", "-np", str(p + 1), "--oversubscribe", mpi_python,
                   os.path.join(HERE, "mpi_farm.py"), "--tasks", str(n), "--reps", "1"]

            def mfarm(cmd=cmd):
                out = run_json(cmd)
                return out["seconds"], out
            chunk = max(1, n // (16 * p))
            runs.append(Run("farm", p, "mpi4py.futures", mfarm, "peer",
                            "MPICommExecutor.map, chunksize %d, mpirun -np %d" % (chunk, p + 1)))

    def check(run):
        got = run.result["result"] if isinstance(run.result, dict) else run.result
        want = expect_cap if run.name.startswith("seed multiprocessing") else expect
        return got == want, "result %s vs %s (parakit)" % (got, want)

    return runs, check, {"tasks": n, "queue_farm_tasks": cap}


def build_kde(args, binary, quiet):
    m = args.kde_widths
    samples, point_x, widths = seed_kde_data(10000, m)
    base = ["kde", "--samples", "10000", "--seed", "123", "--rng", "numpy", "--widths",
            "1.0:1.2:%d" % m]
    ref = run_json([binary] + base + ["--backend", "threads", "--threads", "1", "--json"])
    ref_h = [r["h"] for r in ref["results"]]
    ref_counts = [r["count"] for r in ref["results"]]
    if len(ref_h) != m or not np.allclose(ref_h, widths, rtol=0, atol=1e-12):
        raise RuntimeError("parakit's widths differ from np.linspace(1.0, 1.2, %d)" % m)

    runs = []
    for p in args.workers:
        runs.append(Run("kde", p, "parakit", parakit_fn(binary, base, p, "threads"), "parakit",
                        "algo %s" % ref.get("algo", "auto")))
        runs.append(Run("kde", p, "parakit mpi", parakit_fn(binary, base, p, "mpi"), "parakit-mpi",
                        "mpirun -np %d" % p))
        runs.append(Run("kde", p, "parakit --algo naive",
                        parakit_fn(binary, base + ["--algo", "naive"], p, "threads"),
                        "parakit-naive", "the seed's loop, in C++"))
        if p == 1:
            runs.append(Run("kde", p, "seed serial",
                            lambda: timed(serial, samples, point_x, widths), "peer"))

        def mproc(p=p):
            out = timed(multiprocess, p, samples, point_x, widths)
            gc.collect()  # the seed never closes its Pool: let its finalizer end the workers
            return out
        runs.append(Run("kde", p, "seed multiprocess", mproc, "peer",
                        "Pool(%d).apply_async per width, Pool start-up included" % p))

    def check(run):
        if isinstance(run.result, dict):
            counts = [r["count"] for r in run.result["results"]]
        else:
            n = len(samples)
            counts = [int(round(density * n * h ** point_x.shape[1])) for h, density in run.result]
        bad = [i for i, (a, b) in enumerate(zip(counts, ref_counts)) if a != b]
        ok = len(counts) == len(ref_counts) and not bad
        return ok, ("%d counts equal" % len(counts)) if ok else (
            "counts differ at widths %s" % bad[:5])

    return runs, check, {"samples": 10000, "widths": m, "point": [0, 0]}


def gauss_mixture(n, seed=7):
    """A 2-D mixture of three Gaussians of different spreads (not the seeds' data)."""
    rng = np.random.default_rng(seed)
    centers = np.array([[-1.0, -0.5], [1.2, 0.8], [0.0, 1.5]])
    spreads = np.array([0.5, 0.35, 0.25])
    which = rng.integers(0, 3, n)
    return centers[which] + rng.standard_normal((n, 2)) * spreads[which, None]


def gauss_brute(samples, points, h, block=256):
    """Gaussian densities at `points` by a log-sum-exp over every sample, in blocks."""
    n, d = samples.shape
    out = np.empty(len(points))
    log_norm = -0.5 * d * math.log(2 * math.pi) - d * math.log(h) - math.log(n)
    for b in range(0, len(points), block):
        q = points[b:b + block]
        r2 = ((q[:, None, :] - samples[None, :, :]) ** 2).sum(axis=2)
        a = -r2 / (2 * h * h)
        top = a.max(axis=1)
        out[b:b + block] = np.exp(log_norm + top + np.log(np.exp(a - top[:, None]).sum(axis=1)))
    return out


def mixture_on_grid(n, cells, h, workdir, tag, quiet):
    """n mixture samples and a cells x cells grid over their range, saved as .npy files (the
    same inputs for every system), and the NumPy log-sum-exp densities at the grid points."""
    samples = gauss_mixture(n)
    lo, hi = samples.min(axis=0), samples.max(axis=0)
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], cells), np.linspace(lo[1], hi[1], cells),
                         indexing="ij")
    points = np.column_stack([gx.ravel(), gy.ravel()])
    samples_path = os.path.join(workdir, "mixture%s.npy" % tag)
    points_path = os.path.join(workdir, "grid%s.npy" % tag)
    np.save(samples_path, samples)
    np.save(points_path, points)
    log("  NumPy log-sum-exp reference for %d points x %d samples" % (len(points), n), quiet)
    return samples, points, samples_path, points_path, gauss_brute(samples, points, h)


def build_kde_gauss(args, binary, workdir, quiet):
    n, cells, h = args.gauss_n, args.gauss_cells, 0.2
    samples, points, samples_path, points_path, reference = mixture_on_grid(
        n, cells, h, workdir, "", quiet)

    def parakit_densities(p, backend):
        out_path = os.path.join(workdir, "density-%s-%d.npy" % (backend, p))
        fn = parakit_fn(binary, ["kde", "--input", samples_path, "--points", points_path,
                                 "--kernel", "gaussian", "--widths", str(h), "--out", out_path],
                        p, backend)

        def run():
            seconds, _ = fn()
            return seconds, np.load(out_path)[:, 0]
        return run

    runs = []
    for p in args.workers:
        runs.append(Run("kde-gauss", p, "parakit", parakit_densities(p, "threads"), "parakit",
                        "exact, the same bits for every p"))
        runs.append(Run("kde-gauss", p, "parakit mpi", parakit_densities(p, "mpi"),
                        "parakit-mpi", "mpirun -np %d" % p))
    try:
        from sklearn.neighbors import KernelDensity

        def sklearn_run():
            kde = KernelDensity(kernel="gaussian", bandwidth=h, rtol=0.0).fit(samples)
            return np.exp(kde.score_samples(points))
        runs.append(Run("kde-gauss", 1, "scikit-learn KernelDensity", lambda: timed(sklearn_run),
                        "peer", "kd-tree, rtol = 0, fit + score"))
    except ImportError:
        log("scikit-learn is not installed (apt-get install python3-sklearn): its KernelDensity "
            "peer is skipped", quiet)
    try:
        from scipy import stats

        class IsotropicKde(stats.gaussian_kde):
            """gaussian_kde with the kernel covariance h^2 I (SciPy scales the data's)."""

            def _compute_covariance(self):
                super()._compute_covariance()
                self.covariance = np.eye(self.d) * h * h
                self.cho_cov = np.eye(self.d) * h
                self.log_det = 2 * self.d * math.log(h * math.sqrt(2 * math.pi))

        runs.append(Run("kde-gauss", 1, "SciPy gaussian_kde",
                        lambda: timed(lambda: IsotropicKde(samples.T)(points.T)), "peer",
                        "covariance h^2 I, construct + evaluate"))
    except ImportError:
        log("SciPy is not installed (apt-get install python3-scipy): its gaussian_kde peer is "
            "skipped", quiet)
    runs.append(Run("kde-gauss", 1, "NumPy log-sum-exp", lambda: timed(gauss_brute, samples,
                                                                      points, h),
                    "peer", "blocks of 256 points"))

    # Where the density is a normal double and not negligible, the relative error against the
    # brute force; parakit's exact mode must be within 1e-12, a peer within 1e-4 (scikit-learn's
    # tree at rtol = 0 is off by up to about 1e-5 here).
    mask = reference >= 1e-12 * reference.max()

    def check(run):
        got = np.asarray(run.result)
        if got.shape != reference.shape:
            return False, "shape %s vs %s" % (got.shape, reference.shape)
        error = float(np.max(np.abs(got[mask] - reference[mask]) / reference[mask]))
        bound = 1e-12 if run.kind.startswith("parakit") else 1e-4
        return error <= bound, "max relative error %.1e vs the brute force (bound %.0e)" % (
            error, bound)

    return runs, check, {"samples": n, "points": len(points), "h": h}


def build_kde_gauss_large(args, binary, workdir, quiet):
    """The issue's exact-mode target: n = 10^5 samples of the mixture, a 100x100 grid, h = 0.15,
    parakit's default bound (rtol 1e-12) against scikit-learn at rtol = 1e-12 and rtol = 0, and
    parakit's binned approximation for context."""
    n, cells, h = args.large_n, 100, 0.15
    samples, points, samples_path, points_path, reference = mixture_on_grid(
        n, cells, h, workdir, "-large", quiet)

    def parakit_densities(p, extra, tag):
        out_path = os.path.join(workdir, "density-large-%s-%d.npy" % (tag, p))
        fn = parakit_fn(binary, ["kde", "--input", samples_path, "--points", points_path,
                                 "--kernel", "gaussian", "--widths", str(h), "--out",
                                 out_path] + extra, p, "threads")

        def run():
            seconds, _ = fn()
            return seconds, np.load(out_path)[:, 0]
        return run

    runs = []
    for p in args.workers:
        runs.append(Run("kde-gauss-large", p, "parakit", parakit_densities(p, [], "exact"),
                        "parakit", "exact, rtol 1e-12"))
        runs.append(Run("kde-gauss-large", p, "parakit --approx binned",
                        parakit_densities(p, ["--approx", "binned"], "binned"), "parakit-binned",
                        "binned (context: an approximation)"))
    try:
        from sklearn.neighbors import KernelDensity
        for rtol in (1e-12, 0.0):
            def sklearn_run(rtol=rtol):
                kde = KernelDensity(kernel="gaussian", bandwidth=h, rtol=rtol).fit(samples)
                return np.exp(kde.score_samples(points))
            runs.append(Run("kde-gauss-large", 1, "scikit-learn KernelDensity rtol=%g" % rtol,
                            lambda fn=sklearn_run: timed(fn), "peer",
                            "kd-tree, rtol = %g, fit + score" % rtol))
    except ImportError:
        log("scikit-learn is not installed: its KernelDensity peer is skipped", quiet)
    mask = reference >= 1e-12 * reference.max()

    def check(run):
        got = np.asarray(run.result)
        error = float(np.max(np.abs(got[mask] - reference[mask]) / reference[mask]))
        bound = {"parakit": 1e-12, "parakit-binned": None}.get(run.kind, 1e-4)
        if bound is None:  # the approximation: its own target where the density matters
            big = reference >= 1e-3 * reference.max()
            error = float(np.max(np.abs(got[big] - reference[big]) / reference[big]))
            bound = 1e-3
        return error <= bound, "max relative error %.1e vs the brute force (bound %.0e)" % (
            error, bound)

    return runs, check, {"samples": n, "points": len(points), "h": h}


def build_kde_cv(args, binary, workdir, quiet):
    """Choosing the width: parakit's leave-one-out log-likelihood over 40 widths log-spaced on
    [0.02, 1.0] against scikit-learn's GridSearchCV(KernelDensity, KFold(20)) over the same
    widths (what users run: scikit-learn has no efficient leave-one-out), and statsmodels'
    KDEMultivariate(bw='cv_ml') (continuous LOO likelihood, on its own smaller sample)."""
    n = args.cv_n
    widths = np.geomspace(0.02, 1.0, 40)
    samples = gauss_mixture(n)
    samples_path = os.path.join(workdir, "mixture-cv.npy")
    np.save(samples_path, samples)
    text = ",".join(repr(float(w)) for w in widths)

    def parakit_cv(p):
        def run():
            doc = run_json([binary, "kde", "--input", samples_path, "--kernel", "gaussian",
                            "--cv", "loglik", "--widths", text, "--json", "--backend", "threads",
                            "--threads", str(p)])
            return doc["cv_seconds"], doc["cv"]["h"]
        return run

    runs = []
    for p in args.workers:
        runs.append(Run("kde-cv", p, "parakit", parakit_cv(p), "parakit",
                        "exact leave-one-out, rtol 1e-12"))
    try:
        from sklearn.model_selection import GridSearchCV, KFold
        from sklearn.neighbors import KernelDensity
        for p in args.workers:
            def grid_search(p=p):
                search = GridSearchCV(KernelDensity(kernel="gaussian"), {"bandwidth": widths},
                                      cv=KFold(20), n_jobs=p).fit(samples)
                return search.best_params_["bandwidth"]
            runs.append(Run("kde-cv", p, "scikit-learn GridSearchCV",
                            lambda fn=grid_search: timed(fn), "peer",
                            "KernelDensity, KFold(20), n_jobs = p, 40 widths"))
    except ImportError:
        log("scikit-learn is not installed: its GridSearchCV peer is skipped", quiet)
    try:
        from statsmodels.nonparametric.kernel_density import KDEMultivariate
        small = samples[:args.cv_small_n]
        small_path = os.path.join(workdir, "mixture-cv-small.npy")
        np.save(small_path, small)

        def parakit_small():
            doc = run_json([binary, "kde", "--input", small_path, "--kernel", "gaussian",
                            "--cv", "loglik", "--widths", text, "--json", "--backend", "threads",
                            "--threads", "1"])
            return doc["cv_seconds"], doc["cv"]["h"]
        runs.append(Run("kde-cv-small", 1, "parakit", parakit_small, "parakit",
                        "exact leave-one-out, %d samples" % len(small)))

        def statsmodels_run():
            return float(np.exp(np.mean(np.log(KDEMultivariate(small, var_type="cc",
                                                               bw="cv_ml").bw))))
        runs.append(Run("kde-cv-small", 1, "statsmodels KDEMultivariate cv_ml",
                        lambda: timed(statsmodels_run), "peer",
                        "continuous optimum, one width per dimension, %d samples" % len(small)))
    except ImportError:
        log("statsmodels is not installed (apt-get install python3-statsmodels): its "
            "KDEMultivariate peer is skipped", quiet)

    def check(run):
        # Leave-one-out and 20-fold (or a continuous, per-dimension optimum) pick nearby, not
        # equal, widths: within a factor 1.5 of parakit's.
        h = float(run.result)
        base = next(r for r in runs if r.kind == "parakit" and r.workload == run.workload)
        if run is base:
            return True, "h = %.4g" % h
        ratio = h / float(base.result)
        return 1 / 1.5 <= ratio <= 1.5, "h = %.4g, parakit's %.4g" % (h, float(base.result))

    return runs, check, {"samples": n, "widths": len(widths)}


# --------------------------------------------------------------------------------------------
def measure(runs, check, reps, quiet):
    for rep in range(reps):
        for run in runs:
            if run.error:
                continue
            try:
                seconds, result = run.fn()
            except Exception as e:  # a peer that cannot run is reported, not fatal
                run.error = str(e)
                log("  %s p=%d %s: ERROR %s" % (run.workload, run.p, run.name, e), quiet)
                continue
            run.samples.append(seconds)
            run.result = result
            log("  rep %d/%d %-5s p=%d %-32s %10.4f s" % (
                rep + 1, reps, run.workload, run.p, run.name, seconds), quiet)
    for run in runs:
        if run.error:
            run.ok, run.check = False, run.error
        else:
            run.ok, run.check = check(run)


def rows_of(runs):
    rows = []
    for run in runs:
        if run.kind == "parakit":
            continue
        base = next(r for r in runs if r.kind == "parakit" and r.workload == run.workload
                    and r.p == run.p)
        # mpi4py.futures runs under mpirun with a master rank: it is also compared with parakit
        # under the same launch (master + p workers).
        same_launch = None
        if run.name == "mpi4py.futures":
            same_launch = next((r for r in runs if r.kind == "parakit-mpi"
                                and r.workload == run.workload and r.p == run.p), None)
        ratio = (run.seconds / base.seconds) if (run.seconds and base.seconds) else None
        rows.append({
            "workload": run.workload,
            "workers": run.p,
            "parakit_s": base.seconds,
            "parakit_samples_s": base.samples,
            "peer": run.name,
            "kind": run.kind,
            "peer_s": run.seconds,
            "peer_samples_s": run.samples,
            "ratio": ratio,
            "ratio_vs_parakit_mpi": (run.seconds / same_launch.seconds)
            if same_launch and run.seconds and same_launch.seconds else None,
            "note": run.note,
            "check_ok": run.ok and base.ok,
            "check": run.check,
        })
    return rows


def fmt_s(s):
    if s is None:
        return "-"
    if s >= 10:
        return "%.1f s" % s
    if s >= 1:
        return "%.2f s" % s
    if s >= 1e-3:
        return "%.2f ms" % (s * 1e3)
    return "%.1f µs" % (s * 1e6)


def fmt_ratio(r):
    if r is None:
        return "-"
    if r >= 100:
        return "%.0f×" % r
    if r >= 10:
        return "%.1f×" % r
    return "%.2f×" % r


def table_lines(rows, markdown):
    head = ["workload", "p", "parakit", "peer", "peer time", "peer/parakit", "check", "note"]
    body = []
    for r in rows:
        note = r["note"]
        if r["ratio_vs_parakit_mpi"] is not None:
            note += "; %s vs parakit mpi (same launch)" % fmt_ratio(r["ratio_vs_parakit_mpi"])
        body.append([r["workload"], str(r["workers"]), fmt_s(r["parakit_s"]), r["peer"],
                     fmt_s(r["peer_s"]), fmt_ratio(r["ratio"]),
                     "ok" if r["check_ok"] else "MISMATCH", note])
    if markdown:
        lines = ["| " + " | ".join(head) + " |",
                 "|" + "|".join(["---", "--:", "--:", "---", "--:", "--:", "---", "---"]) + "|"]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in body]
        return lines
    widths = [max(len(h), *(len(row[i]) for row in body)) for i, h in enumerate(head)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa
    return [line(head), line(["-" * w for w in widths])] + [line(row) for row in body]


def summary_lines(rows):
    """parakit against the peers proper (the seeds, NumPy, mpi4py), not against itself."""
    peers = [r for r in rows if r["kind"] == "peer" and r["ratio"] is not None]
    if not peers:
        return []
    worst = min(peers, key=lambda r: r["ratio"])
    beaten = sum(1 for r in peers if r["ratio"] > 1)
    return ["parakit is faster than %d of %d peer runs at equal workers; the closest: %s "
            "at p=%d, peer/parakit = %s." % (beaten, len(peers), worst["peer"], worst["workers"],
                                             fmt_ratio(worst["ratio"]))]


def markdown_report(info, sizes, rows, quick, reps):
    out = []
    out.append("Measured %s on %s, %s (%s logical CPUs, %s usable), Linux %s; %s at %s; "
               "Python %s, NumPy %s%s; %s. %s, %d reps, median%s." % (
                   info["date"], info["host"] or "this machine", info["cpu"], info["cores"],
                   info["cpus_allowed"], info["kernel"], info["parakit"], info["git"],
                   info["python"], info["numpy"],
                   (", mpi4py " + info["mpi4py"]) if info.get("mpi4py") else "",
                   info["mpirun"], "Quick sizes" if quick else "Full sizes", reps,
                   "" if not quick else " (--quick)"))
    out.append("")
    out.append("Sizes: sum n = %d doubles (uniform, seed 1); farm N = %d tasks (the Queue farm "
               "runs N = %d and its time is scaled by %g); kde %d samples, %d widths, point "
               "(0, 0); kde-gauss %d samples of a 2-D mixture, %d grid points, h = %g." % (
                   sizes["sum"]["n"], sizes["farm"]["tasks"],
                   sizes["farm"]["queue_farm_tasks"],
                   sizes["farm"]["tasks"] / sizes["farm"]["queue_farm_tasks"],
                   sizes["kde"]["samples"], sizes["kde"]["widths"],
                   sizes["kde-gauss"]["samples"], sizes["kde-gauss"]["points"],
                   sizes["kde-gauss"]["h"]))
    out.append("")
    out += table_lines(rows, markdown=True)
    out.append("")
    out += summary_lines(rows)
    return out


def update_readme(path, lines):
    begin, end = "<!-- peers-table:begin -->", "<!-- peers-table:end -->"
    with open(path) as f:
        text = f.read()
    if begin not in text or end not in text:
        raise RuntimeError("%s has no %s ... %s markers" % (path, begin, end))
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    with open(path, "w") as f:
        f.write(head + begin + "\n" + "\n".join(lines) + "\n" + end + tail)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--markdown", action="store_true", help="print a README-ready table")
    parser.add_argument("--update-readme", action="store_true",
                        help="rewrite the table in bench/peers/README.md and docs/BENCHMARKS.md "
                             "between their peers-table markers")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--workers", default="1,2", help="worker counts p (default 1,2)")
    parser.add_argument("--only", default="sum,farm,kde,kde-gauss",
                        help="workloads (default sum,farm,kde,kde-gauss; also kde-gauss-large "
                             "and kde-cv, issue #17's targets, minutes each)")
    parser.add_argument("--parakit", default=os.environ.get(
        "PARAKIT", os.path.join(ROOT, "build", "release", "bin", "parakit")))
    parser.add_argument("--queue-cap", type=int, default=10000,
                        help="most tasks the seed's Queue farm runs; its time is scaled up to N "
                             "(default 10000, the seed's own num)")
    parser.add_argument("--save-json", metavar="FILE",
                        help="also write the JSON object (every sample) to FILE")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    args = parser.parse_args()
    args.workers = [int(x) for x in args.workers.split(",")]
    args.sum_n = 2 ** 20 if args.quick else 2 ** 25
    args.farm_n = 10 ** 4 if args.quick else 10 ** 5
    args.kde_widths = 10 if args.quick else 100
    args.gauss_n = 2000 if args.quick else 20000
    args.gauss_cells = 30 if args.quick else 100
    args.large_n = 10000 if args.quick else 100000
    args.cv_n = 2000 if args.quick else 20000
    args.cv_small_n = 500 if args.quick else 2000
    only = set(args.only.split(","))

    binary = args.parakit
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        sys.exit("peers.py: no parakit at %s (build it: ./run.sh build, or pass --parakit)"
                 % binary)
    mpi_python = find_mpi_python()
    if not mpi_python:
        log("mpi4py is not installed for python3 or /usr/bin/python3 "
            "(apt-get install python3-mpi4py): the mpi4py.futures peer is skipped", False)
    if not shutil.which("mpirun"):
        sys.exit("peers.py: mpirun not found (apt-get install openmpi-bin)")

    info = machine_info(binary, mpi_python)
    all_rows, sizes = [], {}
    with tempfile.TemporaryDirectory(prefix="parakit-peers-") as workdir:
        for workload in ("sum", "farm", "kde", "kde-gauss", "kde-gauss-large", "kde-cv"):
            if workload not in only:
                continue
            log("== %s" % workload, args.quiet)
            if workload == "sum":
                runs, check, size = build_sum(args, binary, workdir, args.quiet)
            elif workload == "farm":
                runs, check, size = build_farm(args, binary, mpi_python, args.quiet)
            elif workload == "kde":
                runs, check, size = build_kde(args, binary, args.quiet)
            elif workload == "kde-gauss":
                runs, check, size = build_kde_gauss(args, binary, workdir, args.quiet)
            elif workload == "kde-gauss-large":
                runs, check, size = build_kde_gauss_large(args, binary, workdir, args.quiet)
            else:
                runs, check, size = build_kde_cv(args, binary, workdir, args.quiet)
            sizes[workload] = size
            measure(runs, check, args.reps, args.quiet)
            all_rows += rows_of(runs)
            del runs
            gc.collect()

    failed = [r for r in all_rows if not r["check_ok"]]
    report = {"machine": info, "quick": args.quick, "reps": args.reps, "sizes": sizes,
              "rows": all_rows, "summary": summary_lines(all_rows)}
    if args.save_json:
        with open(args.save_json, "w") as f:
            json.dump(report, f, indent=1)
    if args.json:
        print(json.dumps(report, indent=1))
    elif args.markdown:
        print("\n".join(markdown_report(info, sizes, all_rows, args.quick, args.reps)))
    else:
        print("%s, %s CPUs; %s; %s reps, median%s" % (info["cpu"], info["cores"],
                                                      info["parakit"], args.reps,
                                                      " (--quick)" if args.quick else ""))
        print("\n".join(table_lines(all_rows, markdown=False)))
        print("\n".join(summary_lines(all_rows)))
    if args.update_readme:
        if set(sizes) != {"sum", "farm", "kde", "kde-gauss"}:
            sys.exit("peers.py: --update-readme needs all four workloads")
        for path in (os.path.join(HERE, "README.md"), os.path.join(ROOT, "docs", "BENCHMARKS.md")):
            update_readme(path, markdown_report(info, sizes, all_rows, args.quick, args.reps))
            log("updated %s" % path, args.quiet)
    for r in failed:
        print("MISMATCH: %s p=%d %s: %s" % (r["workload"], r["workers"], r["peer"], r["check"]),
              file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
