// Tests of numeric::FixedSum: order independence (permutations, splits, wire sums), the
// stated error bound against the exact sum (ExactAccumulator, itself tested against big
// integers), signs, rounding and overflow.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "parakit/numeric/exact_sum.hpp"
#include "parakit/numeric/fixed_sum.hpp"

namespace parakit::numeric {
namespace {

FixedSum sum_of(const std::vector<double>& terms, int top) {
  FixedSum s(top);
  for (const double x : terms) s.add(x);
  return s;
}

std::vector<double> kernel_like_terms(std::size_t n, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> r2(0.0, 3000.0);
  std::vector<double> terms(n);
  for (auto& t : terms) t = std::exp(-0.5 * r2(rng));  // gaussian terms, many far below 1e-300
  return terms;
}

TEST(FixedSum, OrderAndSplitDoNotChangeTheBits) {
  auto terms = kernel_like_terms(20000, 7);
  const int top = FixedSum::top_for(static_cast<double>(terms.size()));
  const FixedSum whole = sum_of(terms, top);
  std::mt19937_64 rng(3);
  for (int round = 0; round < 5; ++round) {
    std::shuffle(terms.begin(), terms.end(), rng);
    // Three "ranks" of uneven size, merged through their wires as MPI_SUM would.
    const std::size_t a = terms.size() / 7, b = terms.size() / 2;
    FixedSum::Wire wire{};
    for (const auto& [first, last] :
         {std::pair{std::size_t{0}, a}, std::pair{a, b}, std::pair{b, terms.size()}}) {
      const FixedSum part = sum_of(
          {terms.begin() + static_cast<long>(first), terms.begin() + static_cast<long>(last)}, top);
      const auto w = part.to_wire();
      for (std::size_t k = 0; k < w.size(); ++k) wire[k] += w[k];
    }
    const FixedSum merged = FixedSum::from_wire(wire, top);
    EXPECT_EQ(merged, whole);
    EXPECT_EQ(merged.value(), whole.value());
    FixedSum by_merge(top);
    by_merge.merge(sum_of({terms.begin(), terms.begin() + static_cast<long>(b)}, top));
    by_merge.merge(sum_of({terms.begin() + static_cast<long>(b), terms.end()}, top));
    EXPECT_EQ(by_merge, whole);
  }
}

TEST(FixedSum, WithinTheStatedBoundOfTheExactSum) {
  for (const unsigned seed : {1u, 2u, 3u}) {
    const auto terms = kernel_like_terms(5000, seed);
    const int top = FixedSum::top_for(5000.0);
    const double got = sum_of(terms, top).value();
    ExactAccumulator exact;
    for (const double x : terms) exact.add(x);
    const double want = exact.round();
    const double bound = 5000 * std::ldexp(1.0, top - FixedSum::kFractionBits) +
                         0.5 * (std::nextafter(want, 1e300) - want);
    EXPECT_LE(std::abs(got - want), bound) << got << " vs " << want;
  }
}

TEST(FixedSum, TinySumsKeepTheirRelativeAccuracy) {
  // A density far in a tail: every term about 1e-34 (top 41: the ulp is 2^-213).
  std::vector<double> terms;
  for (int i = 0; i < 1000; ++i) terms.push_back(1e-34 * (1 + i * 1e-3));
  const double got = sum_of(terms, 41).value();
  ExactAccumulator exact;
  for (const double x : terms) exact.add(x);
  EXPECT_NEAR(got, exact.round(), 1e-15 * exact.round());
}

TEST(FixedSum, SignedTermsCancelExactly) {
  FixedSum s(10);
  s.add(3.25);
  s.add(-1.0);
  s.add(1e-20);
  s.add(-1e-20);
  s.add(-2.25);
  EXPECT_EQ(s.value(), 0.0);
  s.add(-0.5);
  EXPECT_EQ(s.value(), -0.5);
  s.add(-0x1p-200);
  EXPECT_EQ(s.value(), -0.5);  // 2^-200 is far below half an ulp of 0.5
  FixedSum t(10);
  t.add(-7.0);
  t.add(0x1p-100);
  EXPECT_EQ(t.value(), -7.0 + 0x1p-100);  // rounds to -7: the tail is far below half an ulp
}

TEST(FixedSum, RoundsToNearestEven) {
  // 1 + 2^-53 is a tie between 1 and 1 + 2^-52: even wins (1). 1 + 3 * 2^-53 goes up.
  FixedSum tie(4);
  tie.add(1.0);
  tie.add(0x1p-53);
  EXPECT_EQ(tie.value(), 1.0);
  FixedSum up(4);
  up.add(1.0);
  up.add(0x1p-53);
  up.add(0x1p-52);
  EXPECT_EQ(up.value(), 1.0 + 0x1p-51);
  FixedSum sticky(4);
  sticky.add(1.0);
  sticky.add(0x1p-53);
  sticky.add(0x1p-120);
  EXPECT_EQ(sticky.value(), 1.0 + 0x1p-52);
}

TEST(FixedSum, TruncatesBelowItsLowestBitAndFlagsOverflow) {
  FixedSum s(0);  // values below 1; the lowest bit is 2^-254
  s.add(0x1p-300);
  EXPECT_EQ(s.value(), 0.0);
  s.add(0.75);
  EXPECT_FALSE(s.overflow());
  s.add(1.0);
  EXPECT_TRUE(s.overflow());
  EXPECT_TRUE(std::isnan(s.value()));
  FixedSum n(4);
  n.add(std::numeric_limits<double>::quiet_NaN());
  EXPECT_TRUE(n.overflow());
  EXPECT_EQ(FixedSum::top_for(4096.0), 14);
  EXPECT_GT(std::ldexp(1.0, FixedSum::top_for(4095.5)), 4095.5);
}

TEST(FixedSum, SubnormalTermsAreExactWhenTheWindowReachesThem) {
  FixedSum s(-700);  // lowest bit 2^-954: subnormals are truncated, normals near 2^-701 kept
  s.add(0x1p-710);
  s.add(0x1p-720);
  EXPECT_EQ(s.value(), 0x1p-710 + 0x1p-720);
}

}  // namespace
}  // namespace parakit::numeric
