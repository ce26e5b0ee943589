// SampleBoxes and PrunedSums: exact nearest distances, boxes that never exceed a row's
// distance, and sums that are ChunkSums' bits when nothing is skipped.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "parakit/core/error.hpp"
#include "parakit/kde/chunk_sums.hpp"
#include "parakit/kde/pruned_sums.hpp"

namespace parakit::kde {
namespace {

Samples random_rows(std::uint64_t n, int d, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  Samples rows(static_cast<Eigen::Index>(n), d);
  for (Eigen::Index i = 0; i < rows.size(); ++i) rows.data()[i] = normal(rng);
  return rows;
}

double r2_of(const Samples& rows, Eigen::Index i, const double* point) {
  double sum = 0;
  for (Eigen::Index t = 0; t < rows.cols(); ++t) {
    const double diff = rows(i, t) - point[t];
    sum += diff * diff;
  }
  return sum;
}

TEST(SampleBoxes, NearestIsExactAndSkipsTheLeftOutRow) {
  for (const int d : {1, 2, 3, 5}) {
    for (const std::uint64_t n : {1, 63, 64, 65, 1000}) {
      const Samples rows = random_rows(n, d, static_cast<unsigned>(n) * 7 + d);
      const SampleBoxes boxes(rows, 128);
      const Samples points = random_rows(20, d, 3);
      for (Eigen::Index p = 0; p < points.rows(); ++p) {
        const double* point = points.row(p).data();
        double best = std::numeric_limits<double>::infinity();
        double other = best;
        for (Eigen::Index i = 0; i < rows.rows(); ++i) {
          best = std::min(best, r2_of(rows, i, point));
          if (i != 5) other = std::min(other, r2_of(rows, i, point));
          EXPECT_LE(boxes.piece_min(static_cast<std::uint64_t>(i) / 64, point),
                    r2_of(rows, i, point));
          EXPECT_GE(boxes.piece_max(static_cast<std::uint64_t>(i) / 64, point),
                    r2_of(rows, i, point));
        }
        EXPECT_EQ(boxes.nearest(point), best);
        EXPECT_EQ(boxes.nearest(point, 5), other);
      }
      // The query at a sample: its own distance is 0, the nearest other is not.
      EXPECT_EQ(boxes.nearest(rows.row(0).data()), 0.0);
      if (n == 1) {
        EXPECT_EQ(boxes.nearest(rows.row(0).data(), 0), std::numeric_limits<double>::infinity());
      }
    }
  }
}

TEST(SampleBoxes, CountWithinIsALowerBoundOnRowsAndOnWeight) {
  const Samples rows = random_rows(1000, 2, 11);
  std::vector<double> weights(1000);
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  for (double& w : weights) w = uniform(rng);
  SampleBoxes boxes(rows, 128);
  SampleBoxes weighted(rows, 128);
  weighted.set_weights(weights.data());
  const Samples points = random_rows(20, 2, 9);
  for (Eigen::Index p = 0; p < points.rows(); ++p) {
    const double* point = points.row(p).data();
    for (const double r2 : {0.01, 0.5, 2.0, 100.0}) {
      std::uint64_t rows_within = 0;
      double weight_within = 0;
      for (Eigen::Index i = 0; i < rows.rows(); ++i) {
        if (r2_of(rows, i, point) <= r2) {
          ++rows_within;
          weight_within += weights[static_cast<std::size_t>(i)];
        }
      }
      EXPECT_LE(boxes.count_within(point, r2), rows_within);
      EXPECT_LE(static_cast<double>(weighted.count_within(point, r2)) / SampleBoxes::kMassUnit,
                weight_within);
    }
    // every row within: all of them, and all of the weight but its rounding down
    EXPECT_EQ(boxes.count_within(point, 1e9), 1000U);
    double total = 0;
    for (const double w : weights) total += w;
    EXPECT_NEAR(static_cast<double>(weighted.count_within(point, 1e9)) / SampleBoxes::kMassUnit,
                total, 1000 / SampleBoxes::kMassUnit);
  }
}

TEST(PrunedSums, NothingSkippedGivesTheBitsOfChunkSums) {
  const std::vector<double> widths = {0.05, 0.5, 2.0};
  for (const Kernel kernel : {Kernel::gaussian, Kernel::epanechnikov}) {
    for (const int d : {1, 2, 3, 4}) {
      const std::uint64_t chunk = 256, n = 700;
      const Samples rows = random_rows(n, d, 11 + static_cast<unsigned>(d));
      const SampleBoxes boxes(rows, chunk);
      PrunedSums pruned(kernel, widths);
      ChunkSums plain(kernel, widths);
      const std::vector<double> reach(widths.size(), std::numeric_limits<double>::infinity());
      const Samples points = random_rows(5, d, 4);
      std::vector<double> a(widths.size()), b(widths.size());
      for (Eigen::Index p = 0; p < points.rows(); ++p) {
        for (std::uint64_t c = 0; c < boxes.chunks(); ++c) {
          const std::uint64_t count = std::min(chunk, n - c * chunk);
          for (const std::uint64_t skip : {std::uint64_t{3}, UINT64_MAX}) {
            pruned(boxes, c, points.row(p).data(), 0.0, reach.data(), a.data(),
                   skip == UINT64_MAX ? skip : c * chunk + skip);
            plain(rows.data() + c * chunk * static_cast<std::uint64_t>(d), count, d,
                  points.row(p).data(), b.data(), skip == UINT64_MAX ? SIZE_MAX : skip);
            for (std::size_t j = 0; j < widths.size(); ++j) {
              if (kernel == Kernel::epanechnikov) {
                // Pieces beyond the support are skipped: exactly 0 either way, so the sum may
                // only differ by the order of adding runs.
                EXPECT_NEAR(a[j], b[j], 1e-13 * std::max(1.0, b[j]));
              } else {
                EXPECT_EQ(a[j], b[j]) << "d " << d << " h " << widths[j];
              }
            }
          }
        }
      }
    }
  }
}

TEST(PrunedSums, TheSkippedMassIsWithinTheBound) {
  // A Gaussian at a point far out: terms relative to the nearest sample, what lies beyond
  // the reach adds at most rtol / 2 of the sum.
  const Samples rows = random_rows(5000, 2, 21);
  const SampleBoxes boxes(rows, 512);
  const std::vector<double> widths = {0.1, 0.3};
  PrunedSums pruned(Kernel::gaussian, widths);
  ErrorBound bound{1e-6, 0};
  for (const double x : {0.0, 1.5, 4.0, 30.0}) {
    const double point[2] = {x, -x / 2};
    const double nearest = boxes.nearest(point);
    std::vector<double> reach(widths.size()), out(widths.size());
    for (std::size_t j = 0; j < widths.size(); ++j)
      reach[j] = gaussian_reach2(nearest, widths[j], 2, 5000, bound);
    for (std::size_t j = 0; j < widths.size(); ++j) {
      double got = 0, want = 0;
      for (std::uint64_t c = 0; c < boxes.chunks(); ++c) {
        pruned(boxes, c, point, nearest, reach.data(), out.data());
        got += out[j];
      }
      for (Eigen::Index i = 0; i < rows.rows(); ++i)
        want += std::exp(-(r2_of(rows, i, point) - nearest) / (2 * widths[j] * widths[j]));
      EXPECT_GE(got, 1.0);
      EXPECT_LE(std::abs(got - want), 1e-6 * want) << "x " << x << " h " << widths[j];
    }
  }
  EXPECT_THROW((ErrorBound{-1, 0}.check()), UsageError);
  EXPECT_THROW((ErrorBound{0, std::nan("")}.check()), UsageError);
  // No tolerance at all: nothing may be skipped.
  EXPECT_EQ(gaussian_reach2(1.0, 0.5, 2, 100, ErrorBound{0, 0}),
            std::numeric_limits<double>::infinity());
}

}  // namespace
}  // namespace parakit::kde
