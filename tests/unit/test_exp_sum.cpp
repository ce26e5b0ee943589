// numeric::exp_sum and exp_lane: accuracy against glibc's exp over the whole range (the
// subnormal results and the ends included), and the same bits at every SIMD level this CPU
// runs as the scalar lane-by-lane reference.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "parakit/numeric/exp_sum.hpp"
#include "parakit/numeric/fast_sum.hpp"

namespace parakit::numeric {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

/// Distance in units of the smallest subnormal, 2^-1074 (both finite, same sign).
std::int64_t ulps_apart(double a, double b) {
  return std::abs(std::bit_cast<std::int64_t>(a) - std::bit_cast<std::int64_t>(b));
}

TEST(ExpSum, LaneIsWithinAFewUlpOfGlibcEverywhere) {
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> whole(-746.0, 709.7), tail(-746.0, -700.0);
  std::int64_t worst_normal = 0, worst_subnormal = 0;
  for (int i = 0; i < 2'000'000; ++i) {
    const double x = i % 4 == 0 ? tail(rng) : whole(rng);
    const double want = std::exp(x), got = exp_lane(x);
    ASSERT_TRUE(std::isfinite(got)) << x;
    const std::int64_t apart = ulps_apart(got, want);
    if (want >= std::numeric_limits<double>::min()) {
      worst_normal = std::max(worst_normal, apart);
    } else {
      worst_subnormal = std::max(worst_subnormal, apart);
    }
  }
  // Normal results: ulps of the result. Subnormal ones: steps of 2^-1074, an absolute error.
  EXPECT_LE(worst_normal, 3);
  EXPECT_LE(worst_subnormal, 1);
}

TEST(ExpSum, LaneAtTheEnds) {
  EXPECT_EQ(exp_lane(0.0), 1.0);
  EXPECT_EQ(exp_lane(-0.0), 1.0);
  EXPECT_EQ(exp_lane(-kInf), 0.0);
  EXPECT_EQ(exp_lane(-746.0), 0.0);
  EXPECT_EQ(exp_lane(-1e300), 0.0);
  EXPECT_EQ(exp_lane(-745.0), std::exp(-745.0));  // 5e-324, the smallest subnormal
  EXPECT_GT(exp_lane(-708.5), 0.0);
  EXPECT_EQ(exp_lane(kInf), kInf);
  EXPECT_EQ(exp_lane(710.0), kInf);
  EXPECT_LE(ulps_apart(exp_lane(709.7), std::exp(709.7)), 3);
  EXPECT_TRUE(std::isnan(exp_lane(std::numeric_limits<double>::quiet_NaN())));
  EXPECT_LE(ulps_apart(exp_lane(1.0), std::exp(1.0)), 1);
  EXPECT_LE(ulps_apart(exp_lane(-1e-300), 1.0), 1);
}

/// The documented order: lane k takes terms k, k + 8, ..., combined pairwise; term `skip` is 0.
/// With weights, each term times its weight.
double reference_sum(const std::vector<double>& x, double scale, std::size_t skip,
                     const std::vector<double>* weights = nullptr) {
  double lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double term = weights ? exp_lane(x[i] * scale) * (*weights)[i] : exp_lane(x[i] * scale);
    lane[i % 8] += i == skip ? 0.0 : term;
  }
  return ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
}

TEST(ExpSum, SameBitsAtEveryLevelAsTheLaneReference) {
  const detail::SimdLevel saved = detail::simd_level();
  std::mt19937_64 rng(11);
  std::exponential_distribution<double> r2(0.5);
  for (int trial = 0; trial < 400; ++trial) {
    std::vector<double> x(static_cast<std::size_t>(trial % 67));
    for (double& v : x) v = r2(rng) * (trial % 5 == 0 ? 700.0 : 1.0);
    if (!x.empty() && trial % 3 == 0 && trial % 11 != 10) x[rng() % x.size()] = kInf;  // adds 0
    // Widths from 1e-3 to 1e300 (whose square overflows: scale -0, every term 1).
    const double scale = trial % 11 == 10
                             ? -0.5 / (1e300 * 1e300)
                             : -0.5 / std::pow(10.0, static_cast<double>(trial % 7) - 3.0);
    const std::size_t skip = trial % 2 == 0 || x.empty() ? SIZE_MAX : rng() % x.size();
    const double want = reference_sum(x, scale, skip);
    std::vector<double> weights(x.size());
    std::uniform_real_distribution<double> uniform(0.0, 1.0);
    for (double& w : weights) w = uniform(rng);
    const double weighted = reference_sum(x, scale, skip, &weights);
    for (const auto level :
         {detail::SimdLevel::kBaseline, detail::SimdLevel::kAvx2, detail::SimdLevel::kAvx512}) {
      if (level > detail::max_simd_level()) continue;  // not a skip: the CPU runs no such code
      detail::set_simd_level(level);
      EXPECT_EQ(std::bit_cast<std::uint64_t>(exp_sum(x.data(), x.size(), scale, skip)),
                std::bit_cast<std::uint64_t>(want))
          << "trial " << trial << " level " << static_cast<int>(level);
      EXPECT_EQ(
          std::bit_cast<std::uint64_t>(exp_sum(x.data(), x.size(), scale, skip, weights.data())),
          std::bit_cast<std::uint64_t>(weighted))
          << "weighted, trial " << trial << " level " << static_cast<int>(level);
    }
  }
  detail::set_simd_level(saved);
}

TEST(ExpSum, AgreesWithALongDoubleSum) {
  std::mt19937_64 rng(5);
  std::normal_distribution<double> normal;
  std::vector<double> x(10'000);
  for (double& v : x) v = normal(rng) * normal(rng) * 3;
  long double exact = 0;
  for (const double v : x) exact += std::exp(static_cast<long double>(v) * -0.5L);
  const double got = exp_sum(x.data(), x.size(), -0.5);
  EXPECT_LE(std::abs(static_cast<long double>(got) - exact) / exact, 1e-14L);
}

}  // namespace
}  // namespace parakit::numeric
