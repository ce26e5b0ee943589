// Tests of numeric::BinnedSum: order independence (permutations, splits, aligned wire sums as
// ranks would add them), the stated error bound against the exact sum (ExactAccumulator,
// itself tested against big integers), tails, signs, rounding, subnormals and overflow.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "parakit/numeric/binned_sum.hpp"
#include "parakit/numeric/exact_sum.hpp"

namespace parakit::numeric {
namespace {

BinnedSum sum_of(const std::vector<double>& terms) {
  BinnedSum s;
  for (const double x : terms) s.add(x);
  return s;
}

double exact_of(const std::vector<double>& terms) {
  ExactAccumulator exact;
  for (const double x : terms) exact.add(x);
  return exact.round();
}

/// Gaussian kernel terms exp(-r^2/2) over a wide range of r: many far below 1e-300.
std::vector<double> kernel_terms(std::size_t n, unsigned seed, double r2_max) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> r2(0.0, r2_max);
  std::vector<double> terms(n);
  for (auto& t : terms) t = std::exp(-0.5 * r2(rng));
  return terms;
}

TEST(BinnedSum, OrderAndSplitDoNotChangeTheBits) {
  auto terms = kernel_terms(20000, 7, 3000.0);
  const BinnedSum whole = sum_of(terms);
  std::mt19937_64 rng(3);
  for (int round = 0; round < 5; ++round) {
    std::shuffle(terms.begin(), terms.end(), rng);
    // Three "ranks" of uneven size: agree on the top, align, add the wires.
    const std::size_t a = terms.size() / 7, b = terms.size() / 2;
    std::vector<BinnedSum> parts;
    for (const auto& [first, last] :
         {std::pair{std::size_t{0}, a}, std::pair{a, b}, std::pair{b, terms.size()}}) {
      parts.push_back(sum_of(
          {terms.begin() + static_cast<long>(first), terms.begin() + static_cast<long>(last)}));
    }
    int top = BinnedSum::kEmpty;
    for (const auto& p : parts) top = std::max(top, p.top());
    BinnedSum::Wire wire{};
    for (auto& p : parts) {
      p.align_to(top);
      const auto w = p.to_wire();
      for (std::size_t k = 0; k < w.size(); ++k) wire[k] += w[k];
    }
    const BinnedSum merged = BinnedSum::from_wire(wire, top);
    EXPECT_EQ(merged, whole);
    EXPECT_EQ(merged.value(), whole.value());
    BinnedSum by_merge;
    by_merge.merge(sum_of({terms.begin() + static_cast<long>(b), terms.end()}));
    by_merge.merge(sum_of({terms.begin(), terms.begin() + static_cast<long>(b)}));
    EXPECT_EQ(by_merge, whole);
  }
}

TEST(BinnedSum, WithinTheStatedBoundOfTheExactSum) {
  for (const double r2_max : {1.0, 50.0, 3000.0}) {
    for (const unsigned seed : {1u, 2u, 3u}) {
      const auto terms = kernel_terms(5000, seed, r2_max);
      const double got = sum_of(terms).value();
      const double want = exact_of(terms);
      const double largest = *std::max_element(terms.begin(), terms.end());
      const double bound =
          5000 * std::ldexp(largest, -95) + 0.5 * (std::nextafter(want, 1e300) - want);
      EXPECT_LE(std::abs(got - want), bound) << got << " vs " << want;
    }
  }
}

TEST(BinnedSum, FarTailsKeepTheirRelativeAccuracy) {
  // Every term far out in a tail: the window follows the largest term down, so the sum is as
  // accurate at 1e-250 as at 1.
  for (const double scale : {1.0, 1e-34, 1e-250, 1e-305}) {
    std::vector<double> terms;
    for (int i = 0; i < 1000; ++i) terms.push_back(scale * (1 + i * 1e-3));
    EXPECT_EQ(sum_of(terms).value(), exact_of(terms)) << scale;
  }
}

TEST(BinnedSum, SignedTermsCancelExactly) {
  BinnedSum s;
  for (const double x : {3.25, -1.0, 1e-20, -1e-20, -2.25}) s.add(x);
  EXPECT_EQ(s.value(), 0.0);
  s.add(-0.5);
  EXPECT_EQ(s.value(), -0.5);
  BinnedSum t;
  t.add(-7.0);
  t.add(0x1p-60);
  EXPECT_EQ(t.value(), -7.0 + 0x1p-60);
  // Cancellation in the top bin leaves the lower bins: still correctly rounded.
  BinnedSum u;
  for (const double x : {0x1p40, 1.0 + 0x1p-40, -0x1p40}) u.add(x);
  EXPECT_EQ(u.value(), 1.0 + 0x1p-40);
}

TEST(BinnedSum, RoundsToNearestEven) {
  BinnedSum tie;  // 1 + 2^-53: a tie, even wins
  tie.add(1.0);
  tie.add(0x1p-53);
  EXPECT_EQ(tie.value(), 1.0);
  BinnedSum up;  // 1 + 3 * 2^-53 rounds up
  up.add(1.0);
  up.add(0x1p-53);
  up.add(0x1p-52);
  EXPECT_EQ(up.value(), 1.0 + 0x1p-51);
  BinnedSum sticky;  // a tie plus a little more: up
  sticky.add(1.0);
  sticky.add(0x1p-53);
  sticky.add(0x1p-80);
  EXPECT_EQ(sticky.value(), 1.0 + 0x1p-52);
}

TEST(BinnedSum, DropsWhatFallsBelowTheWindow) {
  BinnedSum s;
  s.add(0x1p-200);
  EXPECT_EQ(s.value(), 0x1p-200);
  s.add(1.0);  // the window moves up: 2^-200 is far below its lowest bin
  EXPECT_EQ(s.value(), 1.0);
  BinnedSum t;  // the same terms the other way round: the same bits
  t.add(1.0);
  t.add(0x1p-200);
  EXPECT_EQ(t, s);
}

TEST(BinnedSum, SubnormalsAndSpecialValues) {
  BinnedSum s;
  const double tiny = std::numeric_limits<double>::denorm_min();
  for (int i = 0; i < 3; ++i) s.add(tiny);
  EXPECT_EQ(s.value(), 3 * tiny);
  BinnedSum n;
  n.add(std::numeric_limits<double>::quiet_NaN());
  EXPECT_TRUE(n.overflow());
  EXPECT_TRUE(std::isnan(n.value()));
  EXPECT_EQ(BinnedSum::top_of(0.0), BinnedSum::kEmpty);
  EXPECT_EQ(BinnedSum::top_of(1.0), 1074 / 32);
  BinnedSum bounded;
  bounded.add(3.0);
  bounded.align_to(BinnedSum::top_of(1e6));
  EXPECT_EQ(bounded.value(), 3.0);
}

}  // namespace
}  // namespace parakit::numeric
