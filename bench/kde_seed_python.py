#!/usr/bin/env python3
"""The seed's serial Parzen-window estimate, timed as the seed times it (issue #4).

parzen_estimation() and serial() are copied unchanged from the seed notebook (the cells
"In [70]" and "In [71]"); the data are the seed's: np.random.seed(123);
np.random.multivariate_normal([0, 0], [[1, 0], [0, 1]], n), the point (0, 0) and the widths
np.linspace(1.0, 1.2, m). Only serial(...) is timed, as timeit.Timer(...).timeit(number=1)
does in the seed. Prints one JSON object:
  {"seconds": median, "samples_s": [...], "n": n, "widths": m, "counts": [k per width], ...}
The counts are recovered from the seed's densities (k = density * n * h^2, rounded; exact
since k <= n), so bench_kde can check that it measured the same problem.

  python3 bench/kde_seed_python.py [--n 10000] [--widths 100] [--reps 1]
Exits with status 3 and {"error": ...} when numpy is missing.
"""

import argparse
import json
import sys
import timeit

try:
    import numpy as np
except ImportError:  # the benchmark reports the skip
    print(json.dumps({"error": "numpy is not installed for " + sys.executable}))
    sys.exit(3)


# --- the seed's code, verbatim -------------------------------------------------------------
def parzen_estimation(x_samples, point_x, h):
    k_n = 0
    for row in x_samples:
        x_i = (point_x - row[:, np.newaxis]) / (h)
        for row in x_i:
            if np.abs(row) > (1 / 2):
                break
        else:
            k_n += 1
    return (h, (k_n / len(x_samples)) / (h ** point_x.shape[1]))


def serial(samples, x, widths):
    return [parzen_estimation(samples, x, w) for w in widths]


# --------------------------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10000, help="samples (the seed: 10000)")
    parser.add_argument("--widths", type=int, default=100, help="widths (the seed: 100)")
    parser.add_argument("--reps", type=int, default=1, help="timed runs (the seed: 1)")
    args = parser.parse_args()

    np.random.seed(123)
    mu_vec = np.array([0, 0])
    cov_mat = np.array([[1, 0], [0, 1]])
    x_2Dgauss = np.random.multivariate_normal(mu_vec, cov_mat, args.n)
    point_x = np.array([[0], [0]])
    widths = np.linspace(1.0, 1.2, args.widths)

    samples = []
    result = None
    for _ in range(max(1, args.reps)):
        timer = timeit.default_timer
        start = timer()
        result = serial(x_2Dgauss, point_x, widths)
        samples.append(timer() - start)

    n = len(x_2Dgauss)
    counts = [int(round(density * n * h**point_x.shape[1])) for h, density in result]
    ordered = sorted(samples)
    mid = len(ordered) // 2
    median = ordered[mid] if len(ordered) % 2 else 0.5 * (ordered[mid - 1] + ordered[mid])
    print(
        json.dumps(
            {
                "seconds": median,
                "samples_s": samples,
                "n": n,
                "widths": len(widths),
                "counts": counts,
                "python": sys.version.split()[0],
                "numpy": np.__version__,
            }
        )
    )


if __name__ == "__main__":
    main()
