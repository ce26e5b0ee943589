// The range-counting indexes (kde::RangeCounter for 1-D/2-D, kde::RangeTree for any
// dimension) against the seed's loop, exactly, on data with many ties on the window boundary,
// duplicates, a single row and no rows.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "parakit/core/error.hpp"
#include "parakit/kde/neighbors.hpp"
#include "parakit/kde/parzen.hpp"
#include "parakit/kde/range_counter.hpp"
#include "parakit/kde/range_tree.hpp"

namespace parakit::kde {
namespace {

struct Case {
  Samples x;
  std::vector<double> points;  // row-major
  std::vector<double> widths;
};

Case random_case(std::mt19937_64& rng, int n, int d, bool grid) {
  std::normal_distribution<double> normal;
  Case c;
  c.x.resize(n, d);
  for (int i = 0; i < n; ++i) {
    for (int t = 0; t < d; ++t) c.x(i, t) = grid ? std::round(normal(rng) * 8) / 8 : normal(rng);
  }
  if (n > 3) c.x.row(n - 1) = c.x.row(0);  // a duplicate
  const int points = 1 + static_cast<int>(rng() % 40);
  for (int p = 0; p < points * d; ++p) {
    c.points.push_back(grid ? std::round(normal(rng) * 4) / 4 : normal(rng));
  }
  const int m = 1 + static_cast<int>(rng() % 12);
  for (int j = 0; j < m; ++j) {
    c.widths.push_back(grid ? static_cast<double>(1 + rng() % 24) / 8.0
                            : std::uniform_real_distribution<double>(0.01, 4)(rng));
  }
  return c;
}

/// counts[p * m + j] by the seed's loop.
std::vector<std::uint64_t> naive_counts(const Case& c) {
  const auto d = static_cast<std::size_t>(c.x.cols());
  std::vector<std::uint64_t> out;
  for (std::size_t p = 0; p * d < c.points.size(); ++p) {
    const auto k =
        hypercube_counts_naive(c.x, std::span<const double>(c.points).subspan(p * d, d), c.widths);
    out.insert(out.end(), k.begin(), k.end());
  }
  return out;
}

TEST(RangeCount, CounterEqualsTheSeedsLoopIn1DAnd2D) {
  std::mt19937_64 rng(17);
  for (int trial = 0; trial < 300; ++trial) {
    const int d = 1 + trial % 2;
    const int n = trial % 50 == 0 ? trial % 3 : static_cast<int>(rng() % 400);
    Case c = random_case(rng, n, d, trial % 3 != 0);
    // Samples off to one side: points beyond every window, windows wholly above or below.
    if (trial % 4 == 1 || trial % 4 == 2) c.x.col(0).array() += trial % 8 < 4 ? 2.5 : -2.5;
    const auto want = naive_counts(c);
    std::vector<std::uint64_t> got(want.size(), 0);
    const RangeCounter counter(c.x);  // reorders c.x: counts do not depend on the order
    counter.add_counts(c.points, c.widths, got, {}, 1 + trial % 3);
    EXPECT_EQ(got, want) << "trial " << trial << " n " << n << " d " << d;
  }
}

// Past 2^16 rows the counter splits its work by blocks of rows (rows outweigh queries) or
// by groups of queries (with a Fenwick tree over the positions), it buckets the rows in parts,
// and past 16 MiB of rows (the third case) it sorts them in place instead of through a copy:
// against the seed's loop, and where that is too slow (the second case) against the k-d tree,
// checked against it above.
TEST(RangeCount, CounterOnManyRowsTakesBothPlans) {
  std::mt19937_64 rng(29);
  for (const auto& [n, points, m] :
       {std::array<int, 3>{140000, 20, 4}, {67000, 1900, 9}, {2200000, 6, 3}}) {
    std::normal_distribution<double> normal;
    Case c;
    c.x.resize(n, 2);
    for (int i = 0; i < n * 2; ++i) {  // half on the windows' edges, half between
      const double x = normal(rng);
      c.x.data()[i] = i % 4 < 2 ? std::round(x * 16) / 16 : x;
    }
    for (int p = 0; p < points * 2; ++p) c.points.push_back(std::round(normal(rng) * 8) / 8);
    for (int j = 0; j < m; ++j) c.widths.push_back(static_cast<double>(1 + j * 3) / 16.0);
    std::vector<std::uint64_t> want;
    if (points < 100) {
      want = naive_counts(c);
    } else {
      Samples copy = c.x;
      const RangeTree tree(copy);
      const HypercubeWidths widths(c.widths);
      want.resize(static_cast<std::size_t>(points * m));
      std::vector<std::uint64_t> histogram(static_cast<std::size_t>(m) + 1);
      for (std::size_t p = 0; p < static_cast<std::size_t>(points); ++p) {
        std::fill(histogram.begin(), histogram.end(), 0);
        tree.histogram(widths, std::span<const double>(c.points).subspan(p * 2, 2), histogram);
        widths.to_counts(histogram, std::span(want).subspan(p * m, m));
      }
    }
    std::vector<std::uint64_t> got(want.size(), 0);
    const RangeCounter counter(c.x);
    counter.add_counts(c.points, c.widths, got, {}, 3);
    EXPECT_EQ(got, want) << "n " << n;
  }
}

TEST(RangeCount, TreeEqualsTheSeedsLoopInAnyDimension) {
  std::mt19937_64 rng(23);
  for (int trial = 0; trial < 200; ++trial) {
    const int d = 1 + trial % 4;
    const int n = trial % 40 == 0 ? trial % 2 : static_cast<int>(rng() % 600);
    Case c = random_case(rng, n, d, trial % 2 == 0);
    const auto want = naive_counts(c);
    const RangeTree tree(c.x);
    const HypercubeWidths widths(c.widths);
    const std::size_t m = c.widths.size();
    std::vector<std::uint64_t> got(want.size()), histogram(m + 1);
    for (std::size_t p = 0; p * static_cast<std::size_t>(d) < c.points.size(); ++p) {
      std::fill(histogram.begin(), histogram.end(), 0);
      tree.histogram(widths, std::span<const double>(c.points).subspan(p * d, d), histogram);
      widths.to_counts(histogram, std::span(got).subspan(p * m, m));
    }
    EXPECT_EQ(got, want) << "trial " << trial;
  }
}

TEST(RangeCount, ExactIntervalIsTheSeedsTest) {
  for (const double p : {0.0, 0.3, -1.7, 1e10, 1e-300}) {
    for (const double limit : {0.0, 0.05, 0.25, 1.0, 3e5}) {
      const auto [a, b] = RangeCounter::exact_interval(p, limit);
      EXPECT_LE(std::abs(p - a), limit);
      EXPECT_GT(std::abs(p - std::nextafter(a, -1e308)), limit);
      EXPECT_LE(std::abs(p - b), limit);
      EXPECT_GT(std::abs(p - std::nextafter(b, 1e308)), limit);
    }
  }
  // Random points and limits over many magnitudes (the ends found near p -/+ limit, or far
  // from it where rounding spreads the interval), and limits past the largest double.
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> unit(-1.0, 1.0);
  std::uniform_int_distribution<int> exponent(-320, 300);
  for (int trial = 0; trial < 20000; ++trial) {
    const double p = unit(rng) * std::ldexp(1.0, exponent(rng) / 4);
    const double limit = std::abs(unit(rng)) * std::ldexp(1.0, exponent(rng));
    const auto [a, b] = RangeCounter::exact_interval(p, limit);
    ASSERT_LE(a, p);
    ASSERT_GE(b, p);
    ASSERT_LE(std::abs(p - a), limit) << p << " " << limit;
    ASSERT_LE(std::abs(p - b), limit) << p << " " << limit;
    if (a > -std::numeric_limits<double>::max()) {
      ASSERT_GT(std::abs(p - std::nextafter(a, -INFINITY)), limit) << p << " " << limit;
    }
    if (b < std::numeric_limits<double>::max()) {
      ASSERT_GT(std::abs(p - std::nextafter(b, INFINITY)), limit) << p << " " << limit;
    }
  }
}

TEST(RangeCount, CounterRefusesOtherDimensionsAndBadValues) {
  Samples three(2, 3);
  three.setZero();
  EXPECT_THROW(RangeCounter{three}, UsageError);
  Samples nan(2, 2);
  nan << 0.0, 1.0, std::nan(""), 2.0;
  EXPECT_THROW(RangeCounter{nan}, InputError);
  EXPECT_THROW(RangeTree{nan}, InputError);
}

}  // namespace
}  // namespace parakit::kde
