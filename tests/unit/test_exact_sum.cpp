// Tests of ExactAccumulator / exact_sum against an independent big-integer reference.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "parakit/numeric/exact_sum.hpp"
#include "parakit/numeric/fast_sum.hpp"
#include "simd_level_fixture.hpp"

namespace parakit::numeric {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// ---------------------------------------------------------------------------------------------
// Reference: the exact sum of x * 2^1074 as a 2304-bit two's complement integer, rounded to
// double by picking, among the doubles next to an approximation, the one nearest to it
// (compared exactly); ties go to the even bit pattern. 2^1024 stands in for +Inf, so sums at
// or beyond DBL_MAX + ulp/2 round to Inf as IEEE 754 says.

class RefBig {
 public:
  static constexpr int kLimbs = 72;

  /// x * 2^1074 for a finite double x.
  static RefBig of(double x) {
    RefBig b;
    const auto bits = std::bit_cast<std::uint64_t>(x);
    const int e = static_cast<int>((bits >> 52) & 0x7FF);
    std::uint64_t m = bits & ((std::uint64_t{1} << 52) - 1);
    int shift = 0;
    if (e != 0) {
      m |= std::uint64_t{1} << 52;
      shift = e - 1;
    }
    for (int bit = 0; bit < 53; ++bit) {
      if ((m >> bit) & 1) b.set_bit(bit + shift);
    }
    return (bits >> 63) ? -b : b;
  }
  static RefBig power_of_two(int k) {
    RefBig b;
    b.set_bit(k);
    return b;
  }

  RefBig& operator+=(const RefBig& o) {
    std::uint64_t carry = 0;
    for (int i = 0; i < kLimbs; ++i) {
      const std::uint64_t s = std::uint64_t{limb_[i]} + o.limb_[i] + carry;
      limb_[i] = static_cast<std::uint32_t>(s);
      carry = s >> 32;
    }
    return *this;
  }
  RefBig operator-() const {
    RefBig r;
    for (int i = 0; i < kLimbs; ++i) r.limb_[i] = ~limb_[i];
    RefBig one;
    one.limb_[0] = 1;
    r += one;
    return r;
  }
  RefBig operator-(const RefBig& o) const {
    RefBig r = *this;
    r += -o;
    return r;
  }
  bool negative() const { return limb_[kLimbs - 1] >> 31; }
  bool zero() const {
    return std::all_of(limb_.begin(), limb_.end(), [](std::uint32_t v) { return v == 0; });
  }
  RefBig abs() const { return negative() ? -*this : *this; }
  /// Three-way comparison of magnitudes of non-negative values.
  static int compare(const RefBig& a, const RefBig& b) {
    for (int i = kLimbs - 1; i >= 0; --i) {
      if (a.limb_[i] != b.limb_[i]) return a.limb_[i] < b.limb_[i] ? -1 : 1;
    }
    return 0;
  }
  /// Approximate value of a non-negative number (in units of 2^-1074) as a double.
  double approx() const {
    int t = kLimbs - 1;
    while (t > 0 && limb_[t] == 0) --t;
    long double a = 0;
    for (int i = t; i >= std::max(0, t - 2); --i)
      a += std::ldexp(static_cast<long double>(limb_[i]), 32 * i);
    return static_cast<double>(std::ldexp(a, -1074));
  }

 private:
  void set_bit(int k) { limb_[k / 32] |= std::uint32_t{1} << (k % 32); }
  std::array<std::uint32_t, kLimbs> limb_{};
};

// Exact value (units 2^-1074) of the non-negative double or pseudo-double with these bits;
// 0x7FF0... stands for 2^1024.
RefBig ref_value_of_bits(std::uint64_t bits) {
  if (bits == 0x7FF0'0000'0000'0000) return RefBig::power_of_two(1024 + 1074);
  return RefBig::of(std::bit_cast<double>(bits));
}

double ref_round(const RefBig& s) {
  const RefBig mag = s.abs();
  const auto guess = std::bit_cast<std::uint64_t>(std::min(mag.approx(), kInf));
  constexpr std::uint64_t kTop = 0x7FF0'0000'0000'0000;
  std::uint64_t best = 0;
  RefBig best_dist;
  bool have = false;
  for (std::uint64_t c = guess >= 2 ? guess - 2 : 0; c <= std::min(guess + 2, kTop); ++c) {
    const RefBig dist = (mag - ref_value_of_bits(c)).abs();
    const int cmp = have ? RefBig::compare(dist, best_dist) : -1;
    if (cmp < 0 || (cmp == 0 && (c & 1) == 0)) {
      best = c;
      best_dist = dist;
      have = true;
    }
  }
  const double r = std::bit_cast<double>(best);  // kTop is +Inf
  return s.negative() ? -r : r;
}

/// The correctly rounded sum of x with the fsum rules for NaN, Inf and signed zero.
double reference_sum(const std::vector<double>& x) {
  bool nan = false, pos_inf = false, neg_inf = false, all_neg_zero = true;
  RefBig s;
  for (double v : x) {
    if (std::isnan(v)) {
      nan = true;
    } else if (std::isinf(v)) {
      (v > 0 ? pos_inf : neg_inf) = true;
    } else {
      s += RefBig::of(v);
    }
    if (!(v == 0.0 && std::signbit(v))) all_neg_zero = false;
  }
  if (nan || (pos_inf && neg_inf)) return kNaN;
  if (pos_inf) return kInf;
  if (neg_inf) return -kInf;
  if (s.zero()) return (!x.empty() && all_neg_zero) ? -0.0 : 0.0;
  return ref_round(s);
}

// Bitwise equality that prints the values; every NaN is the same NaN here.
::testing::AssertionResult same_double(double expected, double actual) {
  const bool same = (std::isnan(expected) && std::isnan(actual)) ||
                    std::bit_cast<std::uint64_t>(expected) == std::bit_cast<std::uint64_t>(actual);
  if (same) return ::testing::AssertionSuccess();
  char buf[128];
  std::snprintf(buf, sizeof buf, "expected %a, got %a", expected, actual);
  return ::testing::AssertionFailure() << buf;
}

// ---------------------------------------------------------------------------------------------
// Data.

enum class Dist { kUniform, kNormal, kCancel, kWide, kTiny, kHuge, kRamp, kSparse };

const char* dist_name(Dist d) {
  switch (d) {
    case Dist::kUniform:
      return "uniform";
    case Dist::kNormal:
      return "normal";
    case Dist::kCancel:
      return "cancel";
    case Dist::kWide:
      return "wide";
    case Dist::kTiny:
      return "tiny";
    case Dist::kHuge:
      return "huge";
    case Dist::kRamp:
      return "ramp";
    case Dist::kSparse:
      return "sparse";
  }
  return "?";
}

std::vector<double> make_data(Dist d, std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto unit = [&] { return static_cast<double>(rng() >> 11) * 0x1p-53; };  // [0, 1)
  auto sign = [&] { return (rng() & 1) ? -1.0 : 1.0; };
  std::normal_distribution<double> normal;
  std::vector<double> x(n);
  for (std::size_t i = 0; i < n; ++i) {
    switch (d) {
      case Dist::kUniform:
        x[i] = unit();
        break;
      case Dist::kNormal:
        x[i] = normal(rng);
        break;
      case Dist::kCancel:  // pairs that nearly cancel, over 60 binades
        x[i] = (i % 2 == 0) ? sign() * std::ldexp(1.0 + unit(), static_cast<int>(rng() % 60))
                            : -x[i - 1] + (2.0 * unit() - 1.0);
        break;
      case Dist::kWide:  // any finite magnitude, subnormals included
        x[i] = sign() * std::ldexp(1.0 + unit(), static_cast<int>(rng() % 2098) - 1074);
        break;
      case Dist::kTiny:  // subnormals and the smallest normals
        x[i] = sign() * std::bit_cast<double>(rng() % (std::uint64_t{1} << 54));
        break;
      case Dist::kHuge:  // near the top of the range, where sigma cannot be formed
        x[i] = sign() * std::ldexp(1.0 + unit(), 1000 + static_cast<int>(rng() % 24));
        break;
      case Dist::kRamp:  // magnitudes that jump between blocks
        x[i] = sign() * unit() * std::ldexp(1.0, static_cast<int>((i / 1500) * 37 % 300) - 150);
        break;
      case Dist::kSparse:  // mostly +-0.0, with the rest needing one to three levels
        x[i] = rng() % 4 != 0 ? sign() * 0.0
                              : sign() * std::ldexp(1.0 + unit(), static_cast<int>(rng() % 100));
        break;
    }
  }
  return x;
}

const std::array kAllDists = {Dist::kUniform, Dist::kNormal, Dist::kCancel, Dist::kWide,
                              Dist::kTiny,    Dist::kHuge,   Dist::kRamp,   Dist::kSparse};
const std::array<std::size_t, 11> kSizes = {0,    1,    2,        15,    17,    2047,
                                            2048, 2049, 4096 + 7, 10000, 100003};

double sum_of(const std::vector<double>& x) {
  return exact_sum(std::span<const double>(x));
}

double sum_one_by_one(const std::vector<double>& x) {
  ExactAccumulator a;
  for (double v : x) a.add(v);
  return a.round();
}

// The wire is canonical: equal wires mean equal exact sums, even where rounding hides a
// difference. add(double) does no extraction, so it checks the blocked path exactly.
ExactAccumulator::Wire wire_one_by_one(const std::vector<double>& x) {
  ExactAccumulator a;
  for (double v : x) a.add(v);
  return a.to_wire();
}
ExactAccumulator::Wire wire_of_span(const std::vector<double>& x) {
  ExactAccumulator a;
  a.add(std::span<const double>(x));
  return a.to_wire();
}

// ---------------------------------------------------------------------------------------------
// Tests that the kernels must pass at every instruction-set level.

class ExactSumSimd : public testing::SimdLevelTest {};

TEST_P(ExactSumSimd, MatchesReferenceOnRandomData) {
  for (Dist d : kAllDists) {
    for (std::size_t n : kSizes) {
      const auto x = make_data(d, n, 1000 * n + static_cast<int>(d));
      const double expected = reference_sum(x);
      EXPECT_TRUE(same_double(expected, sum_of(x))) << dist_name(d) << " n=" << n;
      if (n <= 10000) {
        EXPECT_TRUE(same_double(expected, sum_one_by_one(x))) << dist_name(d) << " n=" << n;
        EXPECT_EQ(wire_one_by_one(x), wire_of_span(x)) << dist_name(d) << " n=" << n;
      }
    }
  }
}

// Blocks that load the extraction right up to its proven bounds: 2048 terms just below
// 2^(emax+1), all of one sign (the q-sum reaches sigma), and terms whose first remainder is
// as large as the bound allows mixed with small terms full of low bits (the second level's
// q-sum reaches its sigma too). Each follows a block 2^-2 smaller that needs three levels, so
// the fused pass runs deep with a guessed sigma as tight as the true one.
TEST_P(ExactSumSimd, BlocksAtTheExtractionBounds) {
  std::mt19937_64 rng(4242);
  auto mantissa = [&] { return static_cast<double>(rng() >> 12) * 0x1p-52; };  // [0, 1)
  for (int emax : {0, 37, -500, 900, 1009, 1011, -960, -1010}) {
    std::vector<double> x;
    auto smaller_block = [&] {
      for (int i = 0; i < 2048; ++i) {
        x.push_back(std::ldexp(1.0 + mantissa(), emax - (i % 2 ? 2 : 60)));
      }
    };
    smaller_block();
    for (int i = 0; i < 2048; ++i) x.push_back(std::ldexp(2.0 - 0x1p-10 * mantissa(), emax));
    for (int repeat = 0; repeat < 3; ++repeat) {
      smaller_block();
      for (int i = 0; i < 2048; ++i) {
        x.push_back(i % 2 ? std::ldexp(1.5 + 0x1p-41 - 0x1p-52, emax)
                          : std::ldexp((1.0 + mantissa()) * 0x1p-42, emax));
      }
    }
    // The same with the small terms just too fine for two levels (the last level's plain sum
    // would round), after a block for which two levels are enough.
    for (int low = 31; low <= 34; ++low) {
      for (int i = 0; i < 2048; ++i) x.push_back(std::ldexp(1.0 + mantissa(), emax - 2));
      for (int i = 0; i < 2048; ++i) {
        x.push_back(i % 2 ? std::ldexp(1.5 + 0x1p-41 - 0x1p-52, emax)
                          : std::ldexp(1.0 + mantissa(), emax - low));
      }
    }
    for (double sign : {1.0, -1.0}) {
      std::vector<double> y(x);
      for (double& v : y) v *= sign;
      EXPECT_TRUE(same_double(reference_sum(y), sum_of(y))) << "emax=" << emax;
      EXPECT_EQ(wire_one_by_one(y), wire_of_span(y)) << "emax=" << emax;
      // The same blocks first in a span: sigma comes from the true max.
      for (std::size_t b = 2048; b < y.size(); b += 2048) {
        const std::vector<double> tail(y.begin() + static_cast<std::ptrdiff_t>(b), y.end());
        EXPECT_EQ(wire_one_by_one(tail), wire_of_span(tail)) << "emax=" << emax << " b=" << b;
      }
    }
  }
}

TEST_P(ExactSumSimd, UnalignedAndOddSpans) {
  const auto x = make_data(Dist::kCancel, 6000, 7);
  for (std::size_t start = 0; start < 9; ++start) {
    for (std::size_t len :
         {std::size_t{0}, std::size_t{1}, std::size_t{31}, std::size_t{2051}, std::size_t{5990}}) {
      const std::vector<double> part(x.begin() + start, x.begin() + start + len);
      const std::span<const double> view(x.data() + start, len);
      EXPECT_TRUE(same_double(reference_sum(part), exact_sum(view)))
          << "start=" << start << " len=" << len;
    }
  }
}

TEST_P(ExactSumSimd, PermutationInvariant) {
  std::mt19937_64 rng(11);
  for (Dist d : {Dist::kUniform, Dist::kNormal, Dist::kCancel, Dist::kWide}) {
    auto x = make_data(d, 20011, 3 + static_cast<int>(d));
    ExactAccumulator a;
    a.add(std::span<const double>(x));
    for (int trial = 0; trial < 3; ++trial) {
      std::shuffle(x.begin(), x.end(), rng);
      ExactAccumulator b;
      b.add(std::span<const double>(x));
      EXPECT_TRUE(same_double(a.round(), b.round())) << dist_name(d);
      EXPECT_EQ(a.to_wire(), b.to_wire()) << dist_name(d);
    }
    std::sort(x.begin(), x.end());
    EXPECT_TRUE(same_double(a.round(), sum_of(x))) << dist_name(d) << " sorted";
  }
}

TEST_P(ExactSumSimd, SplitAndMergeIsBitwiseEqual) {
  std::mt19937_64 rng(5);
  for (Dist d : {Dist::kUniform, Dist::kNormal, Dist::kCancel, Dist::kWide, Dist::kHuge}) {
    auto x = make_data(d, 30001, 17 + static_cast<int>(d));
    x[123] = -0.0;
    ExactAccumulator whole;
    whole.add(std::span<const double>(x));
    const double expected = whole.round();
    EXPECT_TRUE(same_double(reference_sum(x), expected)) << dist_name(d);
    for (std::size_t k = 1; k <= 8; ++k) {
      std::vector<std::size_t> cuts = {0, x.size()};
      for (std::size_t c = 1; c < k; ++c) cuts.push_back(rng() % (x.size() + 1));
      std::sort(cuts.begin(), cuts.end());
      ExactAccumulator merged;
      ExactAccumulator::Wire wire_sum{};
      for (std::size_t c = 0; c + 1 < cuts.size(); ++c) {
        ExactAccumulator part;
        part.add(std::span<const double>(x.data() + cuts[c], cuts[c + 1] - cuts[c]));
        merged.merge(part);
        const auto w = part.to_wire();
        for (std::size_t i = 0; i < w.size(); ++i) wire_sum[i] += w[i];
      }
      const auto from_wire = ExactAccumulator::from_wire(wire_sum);
      EXPECT_TRUE(same_double(expected, merged.round())) << dist_name(d) << " k=" << k;
      EXPECT_TRUE(same_double(expected, from_wire.round())) << dist_name(d) << " k=" << k;
      EXPECT_EQ(whole.to_wire(), merged.to_wire()) << dist_name(d) << " k=" << k;
      EXPECT_EQ(whole.to_wire(), from_wire.to_wire()) << dist_name(d) << " k=" << k;
    }
  }
}

TEST_P(ExactSumSimd, SpecialValuesInsideLargeSpans) {
  auto x = make_data(Dist::kNormal, 9000, 21);
  for (std::size_t pos :
       {std::size_t{0}, std::size_t{2047}, std::size_t{2048}, std::size_t{8999}}) {
    auto y = x;
    y[pos] = kInf;
    EXPECT_TRUE(same_double(kInf, sum_of(y)));
    y[pos / 2 + 1] = -kInf;
    EXPECT_TRUE(std::isnan(sum_of(y)));
    y = x;
    y[pos] = kNaN;
    EXPECT_TRUE(std::isnan(sum_of(y)));
    y = x;
    y[pos] = DBL_MAX;  // beyond the fast path's range: goes one term at a time
    EXPECT_TRUE(same_double(reference_sum(y), sum_of(y)));
  }
  const std::vector<double> neg_zeros(5000, -0.0);
  EXPECT_TRUE(same_double(-0.0, sum_of(neg_zeros)));
  auto one_pos = neg_zeros;
  one_pos[4321] = 0.0;
  EXPECT_TRUE(same_double(0.0, sum_of(one_pos)));
}

TEST_P(ExactSumSimd, FloatSpans) {
  std::mt19937_64 rng(99);
  for (Dist d : {Dist::kUniform, Dist::kNormal, Dist::kCancel, Dist::kWide}) {
    for (std::size_t n : kSizes) {
      std::vector<float> f(n);
      std::vector<double> widened(n);
      const auto x = make_data(d, n, 31 + n);
      for (std::size_t i = 0; i < n; ++i) {
        // Wide data is squeezed into float's range, subnormal floats included.
        f[i] = d == Dist::kWide
                   ? static_cast<float>(
                         std::ldexp(x[i], -std::ilogb(x[i]) + static_cast<int>(rng() % 280) - 150))
                   : static_cast<float>(x[i]);
        widened[i] = static_cast<double>(f[i]);
      }
      EXPECT_TRUE(same_double(reference_sum(widened), exact_sum(std::span<const float>(f))))
          << dist_name(d) << " n=" << n;
    }
  }
  std::vector<float> special = {1.0f, std::numeric_limits<float>::infinity(), 2.0f};
  EXPECT_TRUE(same_double(kInf, exact_sum(std::span<const float>(special))));
  special.push_back(std::numeric_limits<float>::quiet_NaN());
  EXPECT_TRUE(std::isnan(exact_sum(std::span<const float>(special))));
  const std::vector<float> neg_zero(3000, -0.0f);
  EXPECT_TRUE(same_double(-0.0, exact_sum(std::span<const float>(neg_zero))));
  // FLT_MAX * 3000 is exact in double; float arithmetic would overflow.
  const std::vector<float> big(3000, FLT_MAX);
  EXPECT_TRUE(
      same_double(3000.0 * static_cast<double>(FLT_MAX), exact_sum(std::span<const float>(big))));
}

INSTANTIATE_TEST_SUITE_P(AllLevels, ExactSumSimd,
                         ::testing::Values(detail::SimdLevel::kBaseline, detail::SimdLevel::kAvx2,
                                           detail::SimdLevel::kAvx512),
                         testing::level_name);

// ---------------------------------------------------------------------------------------------
// Hand-picked cases; each checked one term at a time, as a span, and against the reference.

void expect_sum(const std::vector<double>& x, double expected) {
  SCOPED_TRACE(::testing::Message() << "terms: " << x.size());
  EXPECT_TRUE(same_double(expected, reference_sum(x))) << "(reference)";
  EXPECT_TRUE(same_double(expected, sum_of(x))) << "(span)";
  EXPECT_TRUE(same_double(expected, sum_one_by_one(x))) << "(one by one)";
  // Long spans (the blocked path): the terms, then copies of (terms, negated terms).
  const bool finite = std::all_of(x.begin(), x.end(), [](double v) { return std::isfinite(v); });
  if (finite && expected != 0.0) {
    std::vector<double> padded = x;
    for (int copy = 0; copy < 3000; ++copy) {
      for (double v : x) padded.push_back(copy % 2 ? -v : v);
    }
    EXPECT_TRUE(same_double(expected, sum_of(padded))) << "(padded)";
  }
}

TEST(ExactSum, TiesToEven) {
  expect_sum({1.0, 0x1p-53}, 1.0);
  expect_sum({1.0, 0x1p-53, 0x1p-105}, 1.0 + 0x1p-52);
  expect_sum({1.0, 0x1p-53, -0x1p-105}, 1.0);
  expect_sum({1.0 + 0x1p-52, 0x1p-53}, 1.0 + 0x1p-51);
  expect_sum({0x1p53, 1.0, -0x1p-60}, 0x1p53);
  expect_sum({0x1p53, 1.0, 0x1p-60}, 0x1p53 + 2.0);
  expect_sum({0x1p53, 1.0}, 0x1p53);
  expect_sum({0x1p53, 3.0}, 0x1p53 + 4.0);
  expect_sum({-0x1p53, -1.0, 0x1p-60}, -0x1p53);
  expect_sum({1e16, 1.0, 1e-30}, 1e16 + 2.0);
  expect_sum({0.1, 0.2, -0.3}, 0x1p-55);
}

TEST(ExactSum, PaperExamples) {
  expect_sum({1e100, 1.0, -1e100}, 1.0);
  expect_sum({1e308, 1.0, -1e308}, 1.0);
  expect_sum({1.0, 1e100, 1.0, -1e100}, 2.0);
  expect_sum({0x1p-1074, 1e300, -1e300}, 0x1p-1074);
  expect_sum({1e300, 1e-300, -1e300, 1e-300}, 2e-300);
}

TEST(ExactSum, Subnormals) {
  const double tiny = std::numeric_limits<double>::denorm_min();
  expect_sum({tiny}, tiny);
  expect_sum({tiny, tiny, tiny}, 3 * tiny);
  expect_sum({DBL_MIN, -tiny}, std::nextafter(DBL_MIN, 0.0));
  expect_sum({DBL_MIN / 2, DBL_MIN / 2}, DBL_MIN);
  expect_sum({-tiny, tiny}, 0.0);
  expect_sum({1.0, tiny, -1.0}, tiny);
  const std::vector<double> many(5001, tiny);
  EXPECT_TRUE(same_double(5001 * tiny, sum_of(many)));
}

TEST(ExactSum, Overflow) {
  const double half_ulp = 0x1p970;  // half of ulp(DBL_MAX)
  expect_sum({DBL_MAX, DBL_MAX, -DBL_MAX}, DBL_MAX);
  expect_sum({-DBL_MAX, -DBL_MAX, DBL_MAX}, -DBL_MAX);
  expect_sum({DBL_MAX, DBL_MAX}, kInf);
  expect_sum({-DBL_MAX, -DBL_MAX}, -kInf);
  expect_sum({DBL_MAX, half_ulp}, kInf);                 // the tie rounds to even: Inf
  expect_sum({DBL_MAX, half_ulp, -0x1p-1074}, DBL_MAX);  // just below the tie
  expect_sum({DBL_MAX, half_ulp / 2}, DBL_MAX);
  expect_sum({-DBL_MAX, -half_ulp}, -kInf);
  expect_sum({DBL_MAX, DBL_MAX, DBL_MAX, -DBL_MAX, -DBL_MAX, 1.0}, DBL_MAX);
  expect_sum({kInf, DBL_MAX, DBL_MAX}, kInf);
  expect_sum({-kInf, DBL_MAX, DBL_MAX}, -kInf);
  std::vector<double> x(10000, DBL_MAX);
  for (std::size_t i = 0; i < x.size(); i += 2) x[i] = -DBL_MAX;
  x.push_back(DBL_MAX);
  EXPECT_TRUE(same_double(DBL_MAX, sum_of(x)));
  x.push_back(0x1p1011);  // the fast path's top exponent
  EXPECT_TRUE(same_double(reference_sum(x), sum_of(x)));
}

TEST(ExactSum, NaNAndInfinities) {
  expect_sum({kNaN}, kNaN);
  expect_sum({1.0, kNaN, 2.0}, kNaN);
  expect_sum({kInf}, kInf);
  expect_sum({-kInf}, -kInf);
  expect_sum({kInf, kInf, 1.0}, kInf);
  expect_sum({kInf, -kInf}, kNaN);
  expect_sum({kInf, kNaN}, kNaN);
  expect_sum({-kInf, -1.0, -kInf}, -kInf);
  expect_sum({-std::numeric_limits<double>::signaling_NaN()}, kNaN);
}

TEST(ExactSum, SignedZero) {
  expect_sum({}, 0.0);
  expect_sum({-0.0}, -0.0);
  expect_sum({-0.0, -0.0}, -0.0);
  expect_sum({-0.0, 0.0}, 0.0);
  expect_sum({0.0, -0.0}, 0.0);
  expect_sum({1.0, -1.0}, 0.0);
  expect_sum({-1.0, 1.0}, 0.0);
  expect_sum({-1.0, 1.0, -0.0}, 0.0);
  expect_sum({-0x1p-1074, 0x1p-1074}, 0.0);

  // The rule survives merging and wire sums.
  ExactAccumulator neg;
  neg.add(-0.0);
  ExactAccumulator empty;
  ExactAccumulator merged = neg;
  merged.merge(empty);
  EXPECT_TRUE(same_double(-0.0, merged.round()));
  EXPECT_TRUE(same_double(0.0, empty.round()));
  ExactAccumulator pos;
  pos.add(0.0);
  merged.merge(pos);
  EXPECT_TRUE(same_double(0.0, merged.round()));
  auto w = neg.to_wire();
  const auto we = empty.to_wire();
  for (std::size_t i = 0; i < w.size(); ++i) w[i] += we[i];
  EXPECT_TRUE(same_double(-0.0, ExactAccumulator::from_wire(w).round()));
}

TEST(ExactSum, OneByOneAndSpanGiveTheSameWire) {
  auto x = make_data(Dist::kWide, 7000, 8);
  x[10] = kInf;
  x[20] = -0.0;
  x[30] = kNaN;
  ExactAccumulator a, b;
  for (double v : x) a.add(v);
  b.add(std::span<const double>(x));
  EXPECT_EQ(a.to_wire(), b.to_wire());
  EXPECT_EQ(a.size(), 7000);
  EXPECT_EQ(a.to_wire()[ExactAccumulator::kWireTerms], 7000);
  EXPECT_EQ(a.to_wire()[ExactAccumulator::kWireNotNegZero], 6999);
  EXPECT_EQ(a.to_wire()[ExactAccumulator::kWireNaN], 1);
  EXPECT_EQ(a.to_wire()[ExactAccumulator::kWirePosInf], 1);
}

TEST(ExactSum, WireSumOfManyAccumulators) {
  // 3000 ranks each holding +-DBL_MAX terms whose sum is far beyond double's range.
  ExactAccumulator::Wire total{};
  ExactAccumulator direct;
  std::vector<double> all;
  for (int rank = 0; rank < 3000; ++rank) {
    std::vector<double> part = {DBL_MAX, DBL_MAX, rank % 3 == 0 ? -DBL_MAX : 0x1p-1074, -1.5};
    ExactAccumulator a;
    a.add(std::span<const double>(part));
    direct.merge(a);
    const auto w = a.to_wire();
    for (std::size_t i = 0; i < w.size(); ++i) total[i] += w[i];
    all.insert(all.end(), part.begin(), part.end());
  }
  EXPECT_EQ(direct.to_wire(), ExactAccumulator::from_wire(total).to_wire());
  EXPECT_TRUE(same_double(kInf, direct.round()));
  // Adding the negation of everything but one term leaves that term.
  std::vector<double> negated(all.size() - 1);
  std::transform(all.begin() + 1, all.end(), negated.begin(), [](double v) { return -v; });
  direct.add(std::span<const double>(negated));
  EXPECT_TRUE(same_double(all[0], direct.round()));
}

TEST(ExactSum, WideningOfFloatsIsExact) {
  const float third = 1.0f / 3.0f;
  const std::vector<float> f = {third, third, third};
  const double wide = static_cast<double>(third);
  const std::vector<double> d = {wide, wide, wide};
  EXPECT_TRUE(same_double(reference_sum(d), exact_sum(std::span<const float>(f))));
  EXPECT_TRUE(same_double(3.0 * wide, exact_sum(std::span<const float>(f))));
}

}  // namespace
}  // namespace parakit::numeric
