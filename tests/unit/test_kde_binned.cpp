// The binned KDE's parts: linear binning weights, the FFT convolution against a direct sum
// over the bins, and a sample's own binned contribution.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

#include "parakit/core/error.hpp"
#include "parakit/kde/binned.hpp"

namespace parakit::kde {
namespace {

TEST(BinGrid, CoversTheSamplesAndThePad) {
  const std::vector<double> lo = {-1, 0}, hi = {2, 0};  // the second column constant
  const BinGrid grid = BinGrid::around(lo, hi, Kernel::gaussian, 0.5, 0);
  ASSERT_EQ(grid.dim(), 2);
  EXPECT_DOUBLE_EQ(grid.lo[0], -1 - 3.0);
  EXPECT_NEAR(grid.lo[0] + static_cast<double>(grid.cells[0] - 1) * grid.step[0], 2 + 3.0, 1e-12);
  EXPECT_LE(grid.step[0], 0.5 / 40);
  EXPECT_LE(grid.step[1], 0.5 / 40);
  EXPECT_EQ(BinGrid::around(lo, hi, Kernel::epanechnikov, 0.5, 100).cells,
            (std::vector<std::uint64_t>{100, 100}));
  EXPECT_THROW(BinGrid::around(lo, hi, Kernel::gaussian, 0.5, 1), UsageError);
  EXPECT_THROW(BinGrid::around(lo, hi, Kernel::hypercube, 0.5, 0), UsageError);
  const std::vector<double> four(4, 0.0);
  EXPECT_THROW(BinGrid::around(four, four, Kernel::gaussian, 0.5, 0), UsageError);
}

TEST(BinRows, EachSampleAddsOneUnitAtItsPlace) {
  std::mt19937_64 rng(4);
  std::uniform_real_distribution<double> uniform(-1, 1);
  for (const int d : {1, 2, 3}) {
    const std::vector<double> lo(static_cast<std::size_t>(d), -1.0), hi(lo.size(), 1.0);
    const BinGrid grid = BinGrid::around(lo, hi, Kernel::gaussian, 0.3, 17);
    std::vector<double> rows(300 * static_cast<std::size_t>(d));
    for (double& x : rows) x = uniform(rng);
    std::vector<std::int64_t> bins(grid.size(), 0);
    bin_rows(grid, rows.data(), 300, bins);
    const double total =
        static_cast<double>(std::accumulate(bins.begin(), bins.end(), std::int64_t{0}));
    EXPECT_NEAR(total / kBinUnit, 300.0, 300 * 8 * 1e-9);
    // The bins' first moment is the samples' (linear binning keeps the mean).
    std::vector<double> mean(static_cast<std::size_t>(d), 0.0), binned(mean.size(), 0.0);
    for (std::size_t i = 0; i < rows.size(); ++i) mean[i % mean.size()] += rows[i] / 300;
    for (std::uint64_t g = 0; g < grid.size(); ++g) {
      std::uint64_t rest = g;
      for (int t = d - 1; t >= 0; --t) {
        const auto ut = static_cast<std::size_t>(t);
        const double x = grid.lo[ut] + static_cast<double>(rest % grid.cells[ut]) * grid.step[ut];
        binned[ut] += x * static_cast<double>(bins[g]) / kBinUnit / 300;
        rest /= grid.cells[ut];
      }
    }
    for (std::size_t t = 0; t < mean.size(); ++t) EXPECT_NEAR(binned[t], mean[t], 1e-8);
  }
}

TEST(BinConvolution, MatchesTheDirectSumOverTheBins) {
  for (const Kernel kernel : {Kernel::gaussian, Kernel::epanechnikov}) {
    for (const int d : {1, 2, 3}) {
      const std::vector<double> lo(static_cast<std::size_t>(d), 0.0), hi(lo.size(), 1.0);
      const double h = 0.25;
      const BinGrid grid = BinGrid::around(lo, hi, kernel, h, d == 3 ? 12 : 40);
      std::mt19937_64 rng(static_cast<unsigned>(d));
      std::uniform_int_distribution<std::int64_t> weight(0, std::int64_t{1} << 33);
      std::vector<std::int64_t> bins(grid.size());
      for (auto& b : bins) b = weight(rng);
      std::vector<double> out(grid.size());
      BinConvolution(grid, kernel, h, bins).smooth(out);
      const auto ud = static_cast<std::size_t>(d);
      auto coords = [&](std::uint64_t g) {
        std::vector<std::int64_t> c(ud);
        for (std::size_t t = ud; t-- > 0;) {
          c[t] = static_cast<std::int64_t>(g % grid.cells[t]);
          g /= grid.cells[t];
        }
        return c;
      };
      double largest = 0;
      std::vector<double> direct(grid.size(), 0.0);
      for (std::uint64_t g = 0; g < grid.size(); ++g) {
        const auto cg = coords(g);
        for (std::uint64_t b = 0; b < grid.size(); ++b) {
          const auto cb = coords(b);
          std::vector<std::int64_t> offset(ud);
          for (std::size_t t = 0; t < ud; ++t) offset[t] = cg[t] - cb[t];
          direct[g] +=
              static_cast<double>(bins[b]) / kBinUnit * grid_kernel(grid, kernel, h, offset.data());
        }
        largest = std::max(largest, direct[g]);
      }
      for (std::uint64_t g = 0; g < grid.size(); ++g)
        EXPECT_NEAR(out[g], direct[g], 1e-12 * largest) << "d " << d << " point " << g;
    }
  }
}

TEST(SelfContribution, IsTheSamplesOwnPartOfTheInterpolatedSum) {
  // One sample alone: the interpolated kernel sum at its own position is all its own.
  const std::vector<double> lo = {0.0, 0.0}, hi = {1.0, 1.0};
  for (const Kernel kernel : {Kernel::gaussian, Kernel::epanechnikov}) {
    const BinGrid grid = BinGrid::around(lo, hi, kernel, 0.2, 50);
    const double x[2] = {0.3141, 0.7777};
    std::vector<std::int64_t> bins(grid.size(), 0);
    bin_rows(grid, x, 1, bins);
    std::vector<double> out(grid.size());
    BinConvolution(grid, kernel, 0.2, bins).smooth(out);
    EXPECT_NEAR(interpolate(grid, out, x), self_contribution(grid, kernel, 0.2, x), 1e-12);
    EXPECT_NEAR(self_contribution(grid, kernel, 0.2, x), 1.0, 0.05);  // about K(0)
    const double outside[2] = {-100, 0.5};
    EXPECT_EQ(interpolate(grid, out, outside), 0.0);
  }
}

}  // namespace
}  // namespace parakit::kde
