"""parakit pi: the Monte Carlo estimate, added through the workload registry alone. The count
inside the quarter circle must be the same on threads (1, 2, 3 workers) and under mpirun -np
1..4, equal to a count by an independent Philox4x32-10 written here from Salmon et al. (SC'11,
Random123's constants), and the estimate within 5 standard errors of pi."""
import math
import unittest

from parakit_cli import run

MASK = 0xFFFFFFFF


def philox4x32_10(counter, key):
    """Random123's philox4x32_R(10, counter, key), word by word."""
    c0, c1, c2, c3 = counter
    k0, k1 = key
    for round_ in range(10):
        if round_:
            k0, k1 = (k0 + 0x9E3779B9) & MASK, (k1 + 0xBB67AE85) & MASK
        p0, p1 = 0xD2511F53 * c0, 0xCD9E8D57 * c2
        c0, c1, c2, c3 = (p1 >> 32) ^ c1 ^ k0, p1 & MASK, (p0 >> 32) ^ c3 ^ k1, p0 & MASK
    return c0, c1, c2, c3


def inside_count(n, seed):
    """Points i < n with x^2 + y^2 < 1, each coordinate the top 53 bits of two words."""
    key = (seed & MASK, seed >> 32)
    count = 0
    for i in range(n):
        w = philox4x32_10((i & MASK, i >> 32, 0, 0), key)
        x = (((w[1] << 32) | w[0]) >> 11) * 2.0 ** -53
        y = (((w[3] << 32) | w[2]) >> 11) * 2.0 ** -53
        count += x * x + y * y < 1.0
    return count


class Pi(unittest.TestCase):
    N, SEED = 30011, 2**40 + 7  # a seed wider than 32 bits: both key words matter

    def launches(self):
        args = ["pi", "--samples", str(self.N), "--seed", str(self.SEED), "--json"]
        for threads in (1, 2, 3):
            yield f"threads {threads}", run(args + ["--backend", "threads", "--threads",
                                                    str(threads)])
        for ranks in (1, 2, 3, 4):
            yield f"mpirun -np {ranks}", run(args, ranks=ranks)

    def test_same_count_everywhere_and_reference(self):
        expected = inside_count(self.N, self.SEED)
        for launch, r in self.launches():
            with self.subTest(launch=launch):
                self.assertEqual(r.code, 0, r.err)
                doc = r.json()
                self.assertEqual((doc["samples"], doc["inside"]), (self.N, expected))
                self.assertEqual(doc["pi"], 4 * expected / self.N)
                q = expected / self.N
                self.assertEqual(doc["standard_error"], 4 * math.sqrt(q * (1 - q) / self.N))
                self.assertLess(abs(doc["pi"] - math.pi), 5 * doc["standard_error"])
                self.assertEqual(doc["error"], doc["pi"] - math.pi)

    def test_text_report(self):
        r = run(["pi", "--samples", "2^20", "--backend", "threads", "--threads", "2"])
        self.assertEqual(r.code, 0, r.err)
        self.assertIn("parakit pi: 1048576 samples, seed 42", r.out)
        self.assertIn("threads: 1 rank x 2 threads = 2 workers", r.out)

    def test_bad_input(self):
        for args, text in ((["--samples", "0"], "--samples must be at least 1"),
                           (["--samples", "lots"], "--samples"),
                           (["--seed", "x"], "--seed"),
                           (["--seed", "-1"], "--seed")):  # not wrapped to 2^64 - 1
            r = run(["pi"] + args, ranks=2)
            self.assertEqual(r.code, 2, r.err)
            self.assertEqual(r.out, "")
            self.assertEqual(r.err.count("parakit: error:"), 1, r.err)
            self.assertIn(text, r.err)


if __name__ == "__main__":
    unittest.main()
