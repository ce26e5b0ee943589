// Timing statistics and scaling figures against hand-computed values.
#include <gtest/gtest.h>

#include <limits>
#include <vector>

#include "parakit/core/error.hpp"
#include "parakit/measure/stats.hpp"

namespace parakit::measure {
namespace {

TEST(MeasureStats, SummaryOfOddAndEvenCounts) {
  const std::vector<double> odd{3.0, 1.0, 2.0, 10.0, 4.0};
  const Summary s = summarize(odd);
  EXPECT_EQ(s.count, 5u);
  EXPECT_EQ(s.median, 3.0);
  EXPECT_EQ(s.min, 1.0);
  EXPECT_EQ(s.max, 10.0);
  EXPECT_EQ(s.mean, 4.0);
  const std::vector<double> even{4.0, 1.0, 3.0, 2.0};
  EXPECT_EQ(median(even), 2.5);
  EXPECT_EQ(summarize(std::vector<double>{}).count, 0u);
  const std::vector<double> bad{1.0, std::numeric_limits<double>::quiet_NaN()};
  EXPECT_THROW(summarize(bad), InternalError);
}

TEST(MeasureStats, SpeedupEfficiencyKarpFlatt) {
  // T1 = 10 s, T4 = 4 s: S = 2.5, E = 0.625, e = (0.4 - 0.25) / 0.75 = 0.2.
  EXPECT_DOUBLE_EQ(speedup(10, 4), 2.5);
  EXPECT_DOUBLE_EQ(efficiency(10, 4, 4), 0.625);
  EXPECT_DOUBLE_EQ(karp_flatt(2.5, 4), 0.2);
  // Ideal scaling has no serial fraction; S = 1 on p workers means all serial.
  EXPECT_DOUBLE_EQ(karp_flatt(8.0, 8), 0.0);
  EXPECT_DOUBLE_EQ(karp_flatt(1.0, 8), 1.0);
  // Superlinear speedup gives a negative fraction (cache effects), reported as is.
  EXPECT_LT(karp_flatt(2.2, 2), 0.0);
  EXPECT_EQ(karp_flatt(1.0, 1), 0.0);
  EXPECT_EQ(speedup(1, 0), 0.0);
}

}  // namespace
}  // namespace parakit::measure
