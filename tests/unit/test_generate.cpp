// Tests for the Philox generator and the split-invariant data generators.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "parakit/core/error.hpp"
#include "parakit/data/generate.hpp"
#include "parakit/data/philox.hpp"

namespace {

using parakit::data::Dist;
using parakit::data::generate;
using parakit::data::generate_one;
using parakit::data::PhiloxCounter;
using parakit::data::PhiloxKey;

constexpr Dist kAllDists[] = {Dist::ones, Dist::uniform, Dist::normal, Dist::cancel};

bool bitwise_equal(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0;
}

// Known-answer vectors from Random123's kat_vectors (philox4x32 10: ctr, key, expected).
TEST(Philox, KnownAnswers) {
  struct Kat {
    PhiloxCounter ctr;
    PhiloxKey key;
    PhiloxCounter expected;
  };
  const Kat kats[] = {
      {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
      {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
       {0xffffffff, 0xffffffff},
       {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
      {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
       {0xa4093822, 0x299f31d0},
       {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
  };
  for (const Kat& k : kats) {
    EXPECT_EQ(parakit::data::philox4x32_10(k.ctr, k.key), k.expected);
  }
  // Also usable at compile time.
  static_assert(parakit::data::philox4x32_10({0, 0, 0, 0}, {0, 0})[0] == 0x6627e8d5u);
}

TEST(Philox, KeyFromSeed) {
  EXPECT_EQ(parakit::data::philox_key(0x0123456789abcdefull), (PhiloxKey{0x89abcdef, 0x01234567}));
}

// The documented stream layout: uniform element i uses block {i/2, 0, 0, 1} keyed by the seed,
// words (0,1) for even i and (2,3) for odd i, top 53 bits.
TEST(Generate, UniformMatchesDocumentedLayout) {
  const std::uint64_t seed = 0xfeedface12345678ull;
  for (std::uint64_t i : {0ull, 1ull, 2ull, 3ull, 1000001ull, 0x1234567890ull}) {
    const std::uint64_t c = i / 2;
    const PhiloxCounter w = parakit::data::philox4x32_10(
        {static_cast<std::uint32_t>(c), static_cast<std::uint32_t>(c >> 32), 0, 1},
        parakit::data::philox_key(seed));
    const std::uint64_t bits =
        i % 2 == 0 ? (std::uint64_t{w[0]} << 32 | w[1]) : (std::uint64_t{w[2]} << 32 | w[3]);
    const double expected = std::ldexp(static_cast<double>(bits >> 11), -53);
    EXPECT_EQ(generate_one(Dist::uniform, seed, i), expected) << "i=" << i;
  }
}

// Pins a few values so an accidental change of the streams (which would change every
// published result) is noticed. Values recorded from this implementation.
TEST(Generate, StreamsAreStable) {
  std::vector<double> v(4);
  for (Dist d : kAllDists) {
    generate(d, 42, 0, v);
    for (std::size_t i = 0; i < v.size(); ++i) {
      EXPECT_EQ(v[i], generate_one(d, 42, i));
    }
  }
  EXPECT_EQ(generate_one(Dist::ones, 42, 123), 1.0);
  EXPECT_EQ(generate_one(Dist::uniform, 42, 0), 0x1.021cd824c03fp-3);
  EXPECT_EQ(generate_one(Dist::uniform, 42, 1), 0x1.5067e8ff23e96p-2);
  EXPECT_EQ(generate_one(Dist::uniform, 42, 3), 0x1.30f7b86c96ebp-3);
  EXPECT_EQ(generate_one(Dist::cancel, 42, 0), -0x1.4ef872e4ef7f8p+38);
  EXPECT_EQ(generate_one(Dist::cancel, 42, 1), 0x1.4ef872e4ef01p+38);
  EXPECT_EQ(generate_one(Dist::cancel, 42, 3), -0x1.dea718ab6f7eep+18);
  // normal goes through libm (log, cos, sin), so it is pinned only loosely.
  EXPECT_NEAR(generate_one(Dist::normal, 42, 0), -0x1.6bf46d705ee9ep+0, 1e-14);
}

TEST(Generate, SplitInvariance) {
  constexpr std::size_t kN = 10007;
  std::mt19937_64 rng(7);
  for (const bool portable : {false, true}) {
    for (Dist d : kAllDists) {
      parakit::data::detail::set_portable_only(portable);
      for (std::uint64_t seed : {0ull, 1ull, 0xdeadbeefcafef00dull}) {
        for (std::uint64_t base : {0ull, 1ull, (1ull << 40) + 3}) {
          std::vector<double> whole(kN);
          generate(d, seed, base, whole);
          // Random pieces, including empty ones and odd starts and ends.
          std::vector<double> pieces(kN);
          std::size_t at = 0;
          while (at < kN) {
            const std::size_t len = std::min<std::size_t>(kN - at, rng() % 70);
            generate(d, seed, base + at, std::span<double>(pieces.data() + at, len));
            at += len;
          }
          EXPECT_TRUE(bitwise_equal(whole, pieces)) << to_string(d) << " seed " << seed;
          // Element by element.
          std::vector<double> ones(kN);
          for (std::size_t i = 0; i < kN; ++i) ones[i] = generate_one(d, seed, base + i);
          EXPECT_TRUE(bitwise_equal(whole, ones)) << to_string(d) << " seed " << seed;
        }
      }
    }
  }
  parakit::data::detail::set_portable_only(false);
}

// generate() picks AVX2 kernels at run time where the CPU has them; the portable
// code must give the same bits (and is what runs elsewhere).
TEST(Generate, SimdAndPortablePathsAgree) {
  constexpr std::size_t kN = 100003;
  for (Dist d : kAllDists) {
    for (std::uint64_t base : {0ull, 1ull, 6ull, 0xfffffffffffff00ull}) {
      std::vector<double> fast(kN), portable(kN);
      parakit::data::detail::set_portable_only(false);
      generate(d, 77, base, fast);
      parakit::data::detail::set_portable_only(true);
      EXPECT_FALSE(parakit::data::detail::simd_active());
      generate(d, 77, base, portable);
      parakit::data::detail::set_portable_only(false);
      EXPECT_TRUE(bitwise_equal(fast, portable)) << to_string(d) << " base " << base;
      for (std::size_t i = 0; i < kN; i += 997) {
        ASSERT_EQ(fast[i], generate_one(d, 77, base + i)) << to_string(d) << " i " << i;
      }
    }
  }
  if (!parakit::data::detail::simd_active()) {
    GTEST_SKIP() << "this CPU has no AVX2: only the portable path was exercised";
  }
}

TEST(Generate, SeedsAndDistributionsDiffer) {
  std::vector<double> a(64), b(64), c(64);
  generate(Dist::uniform, 1, 0, a);
  generate(Dist::uniform, 2, 0, b);
  EXPECT_FALSE(bitwise_equal(a, b));
  generate(Dist::normal, 1, 0, c);
  EXPECT_FALSE(bitwise_equal(a, c));
}

TEST(Generate, EmptyOutputIsFine) {
  std::vector<double> none;
  generate(Dist::uniform, 1, ~0ull, none);
  std::vector<double> last(1);
  generate(Dist::uniform, 1, ~0ull, last);  // the very last index
  EXPECT_EQ(last[0], generate_one(Dist::uniform, 1, ~0ull));
  std::vector<double> two(2);
  EXPECT_THROW(generate(Dist::uniform, 1, ~0ull, two), parakit::UsageError);
}

TEST(Generate, Ones) {
  std::vector<double> v(1001, 0.0);
  generate(Dist::ones, 9, 5, v);
  EXPECT_TRUE(std::all_of(v.begin(), v.end(), [](double x) { return x == 1.0; }));
}

TEST(Generate, UniformSanity) {
  constexpr std::size_t kN = 1 << 20;
  std::vector<double> v(kN);
  generate(Dist::uniform, 2024, 0, v);
  double sum = 0;
  for (double x : v) {
    ASSERT_GE(x, 0.0);
    ASSERT_LT(x, 1.0);
    const double scaled = std::ldexp(x, 53);
    ASSERT_EQ(scaled, std::floor(scaled));  // a multiple of 2^-53
    sum += x;
  }
  const double mean = sum / kN;
  EXPECT_NEAR(mean, 0.5, 5 * std::sqrt(1.0 / 12.0 / kN));
  // The low bits are used too: some values are odd multiples of 2^-53.
  EXPECT_TRUE(std::any_of(v.begin(), v.end(),
                          [](double x) { return std::fmod(std::ldexp(x, 53), 2.0) == 1.0; }));
}

TEST(Generate, NormalSanity) {
  constexpr std::size_t kN = 1 << 20;
  std::vector<double> v(kN);
  generate(Dist::normal, 99, 0, v);
  double sum = 0, sum2 = 0;
  std::size_t beyond3 = 0;
  for (double x : v) {
    ASSERT_TRUE(std::isfinite(x));
    sum += x;
    sum2 += x * x;
    if (std::abs(x) > 3) ++beyond3;
  }
  const double mean = sum / kN;
  const double var = sum2 / kN - mean * mean;
  EXPECT_NEAR(mean, 0.0, 5 / std::sqrt(double{kN}));
  EXPECT_NEAR(var, 1.0, 5 * std::sqrt(2.0 / kN));
  // P(|Z| > 3) = 0.0026998
  const double p = 0.0026998;
  EXPECT_NEAR(static_cast<double>(beyond3) / kN, p, 5 * std::sqrt(p * (1 - p) / kN));
}

TEST(Generate, CancelPairsSumExactly) {
  constexpr std::size_t kN = 1 << 18;
  std::vector<double> v(kN);
  generate(Dist::cancel, 5, 0, v);
  std::size_t negatives = 0, nonzero_v = 0;
  double max_abs = 0;
  for (std::size_t k = 0; k + 1 < kN; k += 2) {
    const double x = v[k], y = v[k + 1];
    const double ax = std::abs(x);
    ASSERT_GE(ax, 1.0);
    ASSERT_LT(ax, 0x1p60);
    max_abs = std::max(max_abs, ax);
    if (x < 0) ++negatives;
    const double pair = x + y;
    ASSERT_GE(pair, -1.0);
    ASSERT_LT(pair, 1.0);
    // The pair sum is exact: the error-free TwoSum error term is zero.
    const double bb = pair - x;
    const double err = (x - (pair - bb)) + (y - bb);
    ASSERT_EQ(err, 0.0) << "k=" << k;
    ASSERT_EQ(y, pair - x);
    if (pair != 0.0) ++nonzero_v;
  }
  const double pairs = kN / 2.0;
  EXPECT_NEAR(negatives / pairs, 0.5, 5 * 0.5 / std::sqrt(pairs));
  EXPECT_GT(max_abs, 0x1p58);
  EXPECT_GT(nonzero_v, pairs * 0.8);  // v is only forced to 0 when e >= 52 (8/60 of pairs)
}

TEST(Generate, ParseDist) {
  EXPECT_EQ(parakit::data::parse_dist("ones"), Dist::ones);
  EXPECT_EQ(parakit::data::parse_dist("uniform"), Dist::uniform);
  EXPECT_EQ(parakit::data::parse_dist("normal"), Dist::normal);
  EXPECT_EQ(parakit::data::parse_dist("cancel"), Dist::cancel);
  for (Dist d : kAllDists) {
    EXPECT_EQ(parakit::data::parse_dist(parakit::data::to_string(d)), d);
  }
  for (const char* bad : {"", "Uniform", "gauss", "ones "}) {
    try {
      parakit::data::parse_dist(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const parakit::UsageError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("ones, uniform, normal, cancel"), std::string::npos) << msg;
      EXPECT_EQ(msg.find('\n'), std::string::npos);
      EXPECT_EQ(e.exit_code(), parakit::kExitUsage);
    }
  }
}

}  // namespace
