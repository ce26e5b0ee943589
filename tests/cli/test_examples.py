"""The library examples in examples/, built with the project: stream_sum sums .npy, HDF5 and
CSV files to the correctly rounded sum (math.fsum of the values: independent) with the same
bits on threads and under mpirun; kde_blocks prints the same densities on 1 and 3 ranks, one
line per grid point, and they integrate to the mass of N(0, I) on the grid's square."""
import math
import os
import subprocess
import tempfile
import unittest

from parakit_cli import ENV, MPIEXEC

try:
    import h5py
    import numpy as np
except ImportError:  # the tests that need them skip (and fail under CI=true)
    h5py = np = None

EXAMPLES = os.environ.get("PARAKIT_EXAMPLES", "examples")


def run_example(name, args, ranks=None):
    cmd = [os.path.join(EXAMPLES, name)] + args
    if ranks:
        cmd = [MPIEXEC, "-np", str(ranks), "--oversubscribe"] + cmd
    return subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=300)


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
