// Timing statistics and scaling figures against hand-computed values.
#include <gtest/gtest.h>

#include <limits>
#include <vector>

#include "parakit/core/error.hpp"
#include "parakit/measure/scaling.hpp"
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

namespace parakit::measure {
namespace {

TEST(MeasureScaling, TableAgainstHandComputedFigures) {
  // sum on threads: T1 samples {10, 12, 11} -> median 11; T2 {6, 5.5, 7} -> 6: S = 11/6,
  // E = 11/12, e = (6/11 - 1/2) / (1/2) = 1/11.
  const std::vector<Sample> samples{{"sum", "threads", 1, 0, 10},  {"sum", "threads", 2, 0, 6},
                                    {"kde", "mpi", 2, 0, 4},       {"sum", "threads", 1, 1, 12},
                                    {"sum", "threads", 2, 1, 5.5}, {"kde", "mpi", 1, 0, 8},
                                    {"sum", "threads", 1, 2, 11},  {"sum", "threads", 2, 2, 7}};
  const auto rows = scaling_table(samples);
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0].workload, "sum");
  EXPECT_EQ(rows[0].p, 1);
  EXPECT_EQ(rows[0].time.median, 11.0);
  EXPECT_DOUBLE_EQ(rows[0].speedup, 1.0);
  EXPECT_EQ(rows[0].karp_flatt, 0.0);
  EXPECT_EQ(rows[1].p, 2);
  EXPECT_EQ(rows[1].time.median, 6.0);
  EXPECT_EQ(rows[1].time.min, 5.5);
  EXPECT_DOUBLE_EQ(rows[1].speedup, 11.0 / 6.0);
  EXPECT_DOUBLE_EQ(rows[1].efficiency, 11.0 / 12.0);
  EXPECT_NEAR(rows[1].karp_flatt, 1.0 / 11.0, 1e-15);
  EXPECT_EQ(rows[2].workload, "kde");  // p = 1 first whatever the sample order
  EXPECT_EQ(rows[2].p, 1);
  EXPECT_DOUBLE_EQ(rows[3].speedup, 2.0);
  EXPECT_DOUBLE_EQ(rows[3].karp_flatt, 0.0);
}

TEST(MeasureScaling, WeakScalingAgainstHandComputedFigures) {
  // Weak: the problem grows with p, so T4 = 12 against T1 = 10 is efficiency 10/12 and a
  // scaled speedup of 4 x 10/12; a strong run of the same workload is a separate table.
  const std::vector<Sample> samples{{"sum", "threads", 1, 0, 10, "weak"},
                                    {"sum", "threads", 4, 0, 12, "weak"},
                                    {"sum", "threads", 1, 0, 10, "strong"},
                                    {"sum", "threads", 4, 0, 4, "strong"}};
  const auto rows = scaling_table(samples);
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0].scaling, "weak");
  EXPECT_DOUBLE_EQ(rows[0].efficiency, 1.0);
  EXPECT_EQ(rows[1].p, 4);
  EXPECT_DOUBLE_EQ(rows[1].efficiency, 10.0 / 12.0);
  EXPECT_DOUBLE_EQ(rows[1].speedup, 4 * 10.0 / 12.0);
  EXPECT_EQ(rows[1].karp_flatt, 0.0);
  EXPECT_EQ(rows[3].scaling, "strong");
  EXPECT_DOUBLE_EQ(rows[3].speedup, 2.5);
  EXPECT_DOUBLE_EQ(rows[3].efficiency, 2.5 / 4);
  EXPECT_NEAR(rows[3].karp_flatt, (1 / 2.5 - 0.25) / 0.75, 1e-15);
}

TEST(MeasureScaling, Steps) {
  EXPECT_EQ(scaling_steps(1), (std::vector<int>{1}));
  EXPECT_EQ(scaling_steps(3), (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(scaling_steps(16), (std::vector<int>{1, 2, 4, 8, 16}));
  EXPECT_EQ(scaling_steps(12), (std::vector<int>{1, 2, 4, 8, 12}));
}

}  // namespace
}  // namespace parakit::measure
