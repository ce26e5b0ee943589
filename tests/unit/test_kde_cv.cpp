// The fast hypercube building blocks (width buckets, sorted samples, windowed histograms) and
// leave-one-out cross-validation, against plain loops: exactly for counts, to 1e-12 for scores.
#include <gtest/gtest.h>

#include <cstring>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "parakit/core/error.hpp"
#include "parakit/kde/cv.hpp"
#include "parakit/kde/neighbors.hpp"
#include "parakit/patterns/chunks.hpp"

namespace parakit::kde {
namespace {

/// Random samples; with `grid`, coordinates are multiples of 0.05 so many pairs sit exactly on
/// window boundaries of the widths below.
Samples random_samples(std::mt19937_64& rng, Eigen::Index n, Eigen::Index d, bool grid) {
  std::normal_distribution<double> normal;
  Samples x(n, d);
  for (Eigen::Index i = 0; i < n; ++i) {
    for (Eigen::Index t = 0; t < d; ++t) {
      const double v = normal(rng);
      x(i, t) = grid ? std::round(v * 20) / 20 : v;
    }
  }
  return x;
}

std::vector<double> random_widths(std::mt19937_64& rng, std::size_t m) {
  std::uniform_int_distribution<int> tenths(1, 30);
  std::vector<double> widths(m);
  for (double& h : widths) h = tenths(rng) / 10.0;  // shuffled, with repeats
  return widths;
}

TEST(KdeNeighbors, BucketIsTheFirstWidthHoldingTheDistance) {
  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 20; ++trial) {
    const auto widths = random_widths(rng, 1 + trial * 3);
    const HypercubeWidths sorted(widths);
    auto reference = [&](double r) {
      std::size_t j = 0;
      while (j < sorted.size() && !(r / sorted.sorted()[j] <= 0.5)) ++j;
      return j;
    };
    std::vector<double> probes{0.0, 1e-300, 10.0, std::nextafter(sorted.max_limit(), 1e9)};
    for (const double limit : sorted.limits()) {
      probes.push_back(limit);
      probes.push_back(std::nextafter(limit, 0.0));
      probes.push_back(std::nextafter(limit, 1e9));
    }
    std::uniform_real_distribution<double> any(0, 2);
    for (int k = 0; k < 200; ++k) probes.push_back(any(rng));
    for (const double r : probes) EXPECT_EQ(sorted.bucket(r), reference(r)) << "r = " << r;
  }
}

TEST(KdeNeighbors, WindowHoldsEveryCloseSample) {
  std::mt19937_64 rng(11);
  const Samples x = random_samples(rng, 2000, 2, true);
  const SortedSamples sorted(x);
  std::uniform_real_distribution<double> any(-3, 3);
  for (int k = 0; k < 300; ++k) {
    const double value = k % 2 ? any(rng) : std::round(any(rng) * 20) / 20;
    const double radius = std::round(std::abs(any(rng)) * 20) / 20;
    const auto [first, last] = sorted.window(value, radius);
    for (Eigen::Index i = 0; i < sorted.rows(); ++i) {
      if (std::abs(sorted.row(i)[sorted.key()] - value) <= radius) {
        EXPECT_TRUE(i >= first && i < last) << value << " " << radius;
      }
    }
  }
}

TEST(KdeNeighbors, HistogramCountsEqualTheSeedsLoop) {
  std::mt19937_64 rng(3);
  for (int trial = 0; trial < 60; ++trial) {
    const Eigen::Index d = 1 + trial % 5;
    const Samples x = random_samples(rng, 50 + trial * 20, d, trial % 2 == 0);
    const auto widths = random_widths(rng, 1 + trial % 17);
    const SortedSamples sorted(x);
    const HypercubeWidths sorted_widths(widths);
    std::vector<double> point(static_cast<std::size_t>(d));
    for (double& c : point) c = std::round(std::normal_distribution<double>()(rng) * 20) / 20;
    std::vector<std::uint64_t> histogram(widths.size() + 1, 0), counts(widths.size());
    hypercube_histogram(sorted, sorted_widths, point, histogram);
    sorted_widths.to_counts(histogram, counts);
    EXPECT_EQ(counts, hypercube_counts_naive(x, point, widths)) << "trial " << trial;
  }
}

TEST(KdeNeighbors, RejectsNonFiniteSamplesAndBadWidths) {
  Samples x(2, 1);
  x << 0.0, std::numeric_limits<double>::quiet_NaN();
  EXPECT_THROW(SortedSamples{x}, InputError);
  const std::vector<double> bad{1.0, 0.0};
  EXPECT_THROW(HypercubeWidths{bad}, UsageError);
}

/// The fast curve with the samples in `blocks` blocks, visited as ranks around a ring would.
CvCurve fast_curve(Kernel kernel, CvMethod method, const Samples& x,
                   const std::vector<double>& widths, int blocks) {
  return cv_curve(kernel, method, x, widths, blocks);
}

void expect_same_bits(const CvCurve& a, const CvCurve& b) {
  ASSERT_EQ(a.score.size(), b.score.size());
  EXPECT_EQ(std::memcmp(a.score.data(), b.score.data(), a.score.size() * sizeof(double)), 0);
  EXPECT_EQ(a.lonely, b.lonely);
  EXPECT_EQ(a.best, b.best);
}

void expect_close(const CvCurve& fast, const CvCurve& naive) {
  ASSERT_EQ(fast.score.size(), naive.score.size());
  for (std::size_t j = 0; j < fast.score.size(); ++j) {
    const double a = fast.score[j], b = naive.score[j];
    if (std::isinf(a) || std::isinf(b)) {
      EXPECT_EQ(a, b) << "width " << fast.widths[j];
    } else {
      EXPECT_NEAR(a, b, 1e-11 * std::max(1.0, std::abs(b))) << "width " << fast.widths[j];
    }
  }
  EXPECT_EQ(fast.lonely, naive.lonely);
  EXPECT_EQ(fast.best, naive.best);
}

TEST(KdeCrossValidation, HypercubeEqualsTheNaiveLoops) {
  std::mt19937_64 rng(5);
  for (int trial = 0; trial < 12; ++trial) {
    const Eigen::Index d = 1 + trial % 4;
    const Samples x = random_samples(rng, 80 + trial * 15, d, trial % 2 == 1);
    std::vector<double> widths = random_widths(rng, 2 + trial);
    widths.push_back(0.01);  // leaves samples alone: -inf
    for (const auto method : {CvMethod::loglik, CvMethod::lsq}) {
      const CvCurve naive = cv_curve_naive(Kernel::hypercube, method, x, widths);
      const CvCurve one = fast_curve(Kernel::hypercube, method, x, widths, 1);
      expect_close(one, naive);
      // Any number of blocks (ranks), visited in any rotation: the same bits.
      for (const int blocks : {2, 3, 5}) {
        expect_same_bits(fast_curve(Kernel::hypercube, method, x, widths, blocks), one);
      }
    }
  }
}

TEST(KdeCrossValidation, SmoothKernelsEqualTheNaiveLoops) {
  std::mt19937_64 rng(9);
  const Samples x = random_samples(rng, 150, 2, false);
  const std::vector<double> widths{0.05, 0.2, 0.5, 1.3};
  for (const auto& [kernel, method] :
       {std::pair{Kernel::gaussian, CvMethod::loglik}, std::pair{Kernel::gaussian, CvMethod::lsq},
        std::pair{Kernel::epanechnikov, CvMethod::loglik}}) {
    const CvCurve one = fast_curve(kernel, method, x, widths, 1);
    expect_close(one, cv_curve_naive(kernel, method, x, widths));
    for (const int blocks : {2, 3})
      expect_same_bits(fast_curve(kernel, method, x, widths, blocks), one);
  }
  EXPECT_THROW(CvProblem(Kernel::epanechnikov, CvMethod::lsq, widths, 150, x, 0), UsageError);
}

// Closed form for two samples in 1-D at distance a: each sample's LOO count is 1 when
// a / h <= 1/2, and the overlap of two windows of width h is (h - a)_+.
TEST(KdeCrossValidation, TwoSamplesClosedForm) {
  Samples x(2, 1);
  x << 0.0, 0.3;
  const std::vector<double> widths{0.5, 0.6, 1.0};
  const CvCurve curve = fast_curve(Kernel::hypercube, CvMethod::loglik, x, widths, 1);
  EXPECT_EQ(curve.score[0], -std::numeric_limits<double>::infinity());  // 0.3 / 0.5 > 1/2
  EXPECT_DOUBLE_EQ(curve.score[1], std::log(1.0 / 0.6));  // density 1 / (1 * h) at each
  EXPECT_DOUBLE_EQ(curve.score[2], std::log(1.0 / 1.0));
  EXPECT_EQ(curve.best, 1u);
  const CvCurve lsq = fast_curve(Kernel::hypercube, CvMethod::lsq, x, widths, 2);
  for (std::size_t j = 0; j < widths.size(); ++j) {
    const double h = widths[j];
    const double integral = (2 * h + 2 * std::max(0.0, h - 0.3)) / (4 * h * h);
    // (2/n) sum_i f_-i(x_i), f_-i(x_i) = 1 / ((n - 1) h) when the other sample is inside
    const double loo = 0.3 / h <= 0.5 ? (2.0 / 2) * 2 * (1 / h) : 0.0;
    EXPECT_NEAR(lsq.score[j], integral - loo, 1e-15) << "h = " << h;
  }
}

TEST(KdeCrossValidation, NoFiniteScoreMeansNoChoice) {
  Samples x(3, 1);
  x << 0.0, 1.0, 2.0;
  const std::vector<double> widths{0.1, 0.2};
  const CvCurve curve = fast_curve(Kernel::hypercube, CvMethod::loglik, x, widths, 2);
  EXPECT_FALSE(curve.best);
  EXPECT_EQ(curve.lonely, (std::vector<std::uint64_t>{3, 3}));
}

}  // namespace
}  // namespace parakit::kde

namespace parakit::kde {
namespace {

TEST(BrentMinimum, FindsTheMinimumOfSmoothFunctions) {
  int calls = 0;
  EXPECT_NEAR(brent_minimum([](double x) { return (x - 1.234) * (x - 1.234); }, 0, 3, 1e-10, calls),
              1.234, 1e-9);
  EXPECT_LT(calls, 20);  // a parabola: Brent's parabolic steps find it at once
  calls = 0;
  EXPECT_NEAR(brent_minimum([](double x) { return std::cosh(x - 0.5) + 0.1 * x * x * x * x; }, -2,
                            4, 1e-10, calls),
              0.4608574534, 1e-7);  // SciPy minimize_scalar (flat: sqrt(u) is the limit)
  // At an end: the minimum of a monotone function on [a, b] is found at the end.
  calls = 0;
  EXPECT_NEAR(brent_minimum([](double x) { return x; }, 1, 2, 1e-9, calls), 1.0, 1e-8);
}

}  // namespace
}  // namespace parakit::kde
