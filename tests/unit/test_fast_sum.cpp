// Tests of fast_sum: every term counted once, at every instruction-set level, within the
// error bound |fast - exact| <= n * eps * sum|x|.
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstddef>
#include <limits>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "parakit/numeric/exact_sum.hpp"
#include "parakit/numeric/fast_sum.hpp"
#include "simd_level_fixture.hpp"

namespace parakit::numeric {
namespace {

class FastSumSimd : public testing::SimdLevelTest {};

std::vector<double> random_doubles(std::size_t n, std::uint64_t seed, bool normal) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> gauss;
  std::vector<double> x(n);
  for (auto& v : x) v = normal ? gauss(rng) : static_cast<double>(rng() >> 11) * 0x1p-53;
  return x;
}

// |fast - exact| <= n * eps * sum|x|, the exact values from exact_sum.
template <class T>
void expect_within_bound(std::span<const T> x, double fast) {
  std::vector<double> abs(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) abs[i] = std::fabs(static_cast<double>(x[i]));
  const double exact = exact_sum(x);
  const double bound =
      static_cast<double>(x.size()) * DBL_EPSILON * exact_sum(std::span<const double>(abs));
  EXPECT_LE(std::fabs(fast - exact), bound) << "n=" << x.size();
}

TEST_P(FastSumSimd, EmptyIsZero) {
  EXPECT_EQ(fast_sum(std::span<const double>()), 0.0);
  EXPECT_EQ(fast_sum(std::span<const float>()), 0.0);
}

// Integer terms sum exactly in any order, so a term lost or counted twice shows.
TEST_P(FastSumSimd, EveryTermCountedOnceAtAnyLengthAndOffset) {
  std::vector<double> x(300);
  std::vector<float> f(300);
  for (std::size_t i = 0; i < x.size(); ++i) {
    x[i] = static_cast<double>(i * i + 1);
    f[i] = static_cast<float>(i + 1);
  }
  for (std::size_t start = 0; start < 9; ++start) {
    for (std::size_t len = 0; start + len <= x.size(); len += (len < 80 ? 1 : 37)) {
      double expected = 0;
      double expected_f = 0;
      for (std::size_t i = start; i < start + len; ++i) {
        expected += x[i];
        expected_f += static_cast<double>(f[i]);
      }
      EXPECT_EQ(fast_sum(std::span<const double>(x.data() + start, len)), expected)
          << "start=" << start << " len=" << len;
      EXPECT_EQ(fast_sum(std::span<const float>(f.data() + start, len)), expected_f)
          << "start=" << start << " len=" << len;
    }
  }
}

TEST_P(FastSumSimd, WithinErrorBound) {
  for (std::size_t n : {1, 7, 31, 32, 33, 1000, 4097, 100003}) {
    for (bool normal : {false, true}) {
      const auto x = random_doubles(n, n + normal, normal);
      const std::span<const double> view(x);
      expect_within_bound(view, fast_sum(view));
    }
  }
  // Cancellation: the bound is relative to sum|x|, not to the (tiny) sum.
  auto x = random_doubles(50001, 3, true);
  for (std::size_t i = 1; i < x.size(); i += 2) x[i] = -x[i - 1] * (1 + 0x1p-30);
  expect_within_bound(std::span<const double>(x), fast_sum(std::span<const double>(x)));
}

TEST_P(FastSumSimd, FloatsAccumulateInDouble) {
  // 2^24 + 1 is not a float; a float accumulator would lose every 1.
  std::vector<float> ones(100001, 1.0f);
  ones[0] = 0x1p24f;
  EXPECT_EQ(fast_sum(std::span<const float>(ones)), 0x1p24 + 100000.0);
  std::mt19937_64 rng(9);
  std::normal_distribution<float> gauss;
  std::vector<float> f(77777);
  for (auto& v : f) v = gauss(rng);
  expect_within_bound(std::span<const float>(f), fast_sum(std::span<const float>(f)));
  // FLT_MAX terms do not overflow a double accumulator.
  const std::vector<float> big(1000, FLT_MAX);
  EXPECT_EQ(fast_sum(std::span<const float>(big)), 1000.0 * static_cast<double>(FLT_MAX));
}

TEST_P(FastSumSimd, NonFiniteTermsPropagate) {
  auto x = random_doubles(1000, 5, true);
  x[517] = std::numeric_limits<double>::infinity();
  EXPECT_EQ(fast_sum(std::span<const double>(x)), std::numeric_limits<double>::infinity());
  x[3] = std::numeric_limits<double>::quiet_NaN();
  EXPECT_TRUE(std::isnan(fast_sum(std::span<const double>(x))));
}

INSTANTIATE_TEST_SUITE_P(AllLevels, FastSumSimd,
                         ::testing::Values(detail::SimdLevel::kBaseline, detail::SimdLevel::kAvx2,
                                           detail::SimdLevel::kAvx512),
                         testing::level_name);

TEST(FastSum, SimdLevelIsCappedByTheCpu) {
  const auto saved = detail::simd_level();
  detail::set_simd_level(detail::SimdLevel::kAvx512);
  EXPECT_EQ(detail::simd_level(), detail::max_simd_level());
  detail::set_simd_level(detail::SimdLevel::kBaseline);
  EXPECT_EQ(detail::simd_level(), detail::SimdLevel::kBaseline);
  detail::set_simd_level(saved);
}

}  // namespace
}  // namespace parakit::numeric
