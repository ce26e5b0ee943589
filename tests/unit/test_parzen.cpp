// The hypercube Parzen kernels: the seed's worked example, and the sweep algorithm against
// the naive loop (exactly) on random data with ties on the window boundary.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "parakit/kde/parzen.hpp"

namespace parakit::kde {
namespace {

Samples rows(const std::vector<std::vector<double>>& values) {
  Samples out(static_cast<Eigen::Index>(values.size()),
              static_cast<Eigen::Index>(values[0].size()));
  for (std::size_t i = 0; i < values.size(); ++i) {
    for (std::size_t t = 0; t < values[i].size(); ++t) {
      out(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(t)) = values[i][t];
    }
  }
  return out;
}

// The seed's example: 3 points inside the unit cube around the origin, 7 outside: p = 0.3.
TEST(ParzenHypercube, SeedWorkedExample) {
  const Samples x = rows({{0, 0, 0},
                          {0.2, 0.2, 0.2},
                          {0.1, -0.1, -0.3},
                          {-1.2, 0.3, -0.3},
                          {0.8, -0.82, -0.9},
                          {1, 0.6, -0.7},
                          {0.8, 0.7, 0.2},
                          {0.7, -0.8, -0.45},
                          {-0.3, 0.6, 0.9},
                          {0.7, -0.6, -0.8}});
  const std::vector<double> point{0, 0, 0};
  const std::vector<double> widths{1.0};
  EXPECT_EQ(hypercube_counts_naive(x, point, widths)[0], 3u);
  EXPECT_EQ(hypercube_counts_sweep(x, point, widths)[0], 3u);
  EXPECT_DOUBLE_EQ(hypercube_density(3, 10, 1.0, 3), 0.3);
  EXPECT_DOUBLE_EQ(hypercube_density(3, 10, 2.0, 3), 0.3 / 8);
}

// The boundary is inside: a sample at exactly h/2 counts.
TEST(ParzenHypercube, BoundaryIsInclusive) {
  const Samples x = rows({{0.5, 0.0}, {0.5000000000000001, 0.0}, {-0.25, 0.25}});
  const std::vector<double> point{0, 0};
  const std::vector<double> widths{1.0, 0.5};
  const std::vector<std::uint64_t> expected{2, 1};
  EXPECT_EQ(hypercube_counts_naive(x, point, widths), expected);
  EXPECT_EQ(hypercube_counts_sweep(x, point, widths), expected);
}

TEST(ParzenHypercube, SweepEqualsNaiveOnRandomData) {
  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 200; ++trial) {
    const int n = std::uniform_int_distribution<int>(0, 300)(rng);
    const int d = std::uniform_int_distribution<int>(1, 5)(rng);
    const int m = std::uniform_int_distribution<int>(1, 40)(rng);
    Samples x(n, d);
    std::normal_distribution<double> normal;
    // Values on a coarse grid make many distances land exactly on h/2.
    const bool grid = trial % 2 == 0;
    for (int i = 0; i < n; ++i) {
      for (int t = 0; t < d; ++t) x(i, t) = grid ? std::round(normal(rng) * 8) / 8 : normal(rng);
    }
    std::vector<double> point(static_cast<std::size_t>(d));
    for (auto& p : point) p = grid ? std::round(normal(rng) * 4) / 4 : normal(rng);
    std::vector<double> widths(static_cast<std::size_t>(m));
    for (auto& h : widths) {
      h = grid ? std::uniform_int_distribution<int>(1, 24)(rng) / 8.0
               : std::uniform_real_distribution<double>(0.01, 4)(rng);
    }
    if (m > 2) widths[1] = widths[0];  // repeated widths
    const auto naive = hypercube_counts_naive(x, point, widths);
    EXPECT_EQ(hypercube_counts_sweep(x, point, widths), naive) << "trial " << trial;
    // Any split of the rows adds up to the same counts.
    if (n > 1) {
      const Eigen::Index cut = n / 3;
      auto a = hypercube_counts_sweep(x, point, widths, 0, cut);
      const auto b = hypercube_counts_sweep(x, point, widths, cut, n);
      for (std::size_t j = 0; j < a.size(); ++j) a[j] += b[j];
      EXPECT_EQ(a, naive);
    }
  }
}

TEST(ParzenHypercube, NanSamplesAreNeverInside) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const Samples x = rows({{nan, 0.0}, {0.0, nan}, {0.1, 0.1}});
  const std::vector<double> point{0, 0};
  const std::vector<double> widths{1.0, 10.0};
  const std::vector<std::uint64_t> expected{1, 1};
  EXPECT_EQ(hypercube_counts_naive(x, point, widths), expected);
  EXPECT_EQ(hypercube_counts_sweep(x, point, widths), expected);
}

TEST(ParzenHypercube, RejectsBadShapesAndWidths) {
  const Samples x = rows({{0.0, 0.0}});
  const std::vector<double> point3{0, 0, 0};
  const std::vector<double> point2{0, 0};
  const std::vector<double> good{1.0};
  EXPECT_ANY_THROW(hypercube_counts_sweep(x, point3, good));
  for (double bad : {0.0, -1.0, std::numeric_limits<double>::infinity(),
                     std::numeric_limits<double>::quiet_NaN()}) {
    const std::vector<double> widths{bad};
    EXPECT_ANY_THROW(hypercube_counts_sweep(x, point2, widths));
    EXPECT_ANY_THROW(hypercube_counts_naive(x, point2, widths));
  }
}

}  // namespace
}  // namespace parakit::kde
