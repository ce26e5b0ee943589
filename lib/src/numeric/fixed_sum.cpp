#include "parakit/numeric/fixed_sum.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>

namespace parakit::numeric {
namespace {

constexpr int kMinTop = -700;
constexpr int kMaxTop = 1000;
constexpr int kBits = 64 * FixedSum::kLimbs;

/// Bits [first, first + 64) of a 256-bit number (zeros beyond its ends).
std::uint64_t bits_at(const std::array<std::uint64_t, FixedSum::kLimbs>& v, int first) noexcept {
  std::uint64_t out = 0;
  const int limb = first >> 6;
  const int bit = first & 63;
  if (limb < FixedSum::kLimbs) out = v[static_cast<std::size_t>(limb)] >> bit;
  if (bit != 0 && limb + 1 < FixedSum::kLimbs) {
    out |= v[static_cast<std::size_t>(limb + 1)] << (64 - bit);
  }
  return out;
}

/// True if any of bits [0, count) is set.
bool any_below(const std::array<std::uint64_t, FixedSum::kLimbs>& v, int count) noexcept {
  for (int limb = 0; limb < FixedSum::kLimbs && count > 0; ++limb, count -= 64) {
    const std::uint64_t mask = count >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << count) - 1;
    if ((v[static_cast<std::size_t>(limb)] & mask) != 0) return true;
  }
  return false;
}

}  // namespace

FixedSum::FixedSum(int top) noexcept : top_(std::clamp(top, kMinTop, kMaxTop)) {}

int FixedSum::top_for(double bound) noexcept {
  bound = std::abs(bound);
  if (!(bound > 0) || !std::isfinite(bound)) return bound > 0 ? kMaxTop : kMinTop;
  int exponent = 0;
  (void)std::frexp(bound, &exponent);  // bound < 2^exponent
  return std::clamp(exponent + 1, kMinTop, kMaxTop);
}

void FixedSum::add(double x) noexcept {
  const auto bits = std::bit_cast<std::uint64_t>(x);
  const auto field = static_cast<int>((bits >> 52) & 0x7ff);
  std::uint64_t mantissa = bits & ((std::uint64_t{1} << 52) - 1);
  if (field == 0x7ff) {
    overflow_ = 1;
    return;
  }
  int exponent = -1074;  // x = mantissa * 2^exponent
  if (field != 0) {
    mantissa |= std::uint64_t{1} << 52;
    exponent = field - 1075;
  }
  if (mantissa == 0) return;
  const int high = 63 - std::countl_zero(mantissa);
  if (high + exponent >= top_) {
    overflow_ = 1;
    return;
  }
  int shift = exponent - (top_ - kFractionBits);
  if (shift < 0) {
    if (shift <= -64) return;  // below the lowest bit: truncates to 0
    mantissa >>= -shift;
    shift = 0;
    if (mantissa == 0) return;
  }
  add_magnitude(mantissa, shift, (bits >> 63) != 0);
}

void FixedSum::add_magnitude(std::uint64_t mantissa, int shift, bool negative) noexcept {
  const auto limb = static_cast<std::size_t>(shift >> 6);
  const int bit = shift & 63;
  std::uint64_t part[2] = {mantissa << bit, bit == 0 ? 0 : mantissa >> (64 - bit)};
  if (!negative) {
    unsigned carry = 0;
    for (std::size_t k = limb; k < limb_.size(); ++k) {
      const std::uint64_t add = k - limb < 2 ? part[k - limb] : 0;
      const std::uint64_t sum = limb_[k] + add;
      const unsigned c1 = sum < add ? 1u : 0u;
      limb_[k] = sum + carry;
      const unsigned c2 = limb_[k] < sum ? 1u : 0u;
      carry = c1 | c2;
      if (carry == 0 && k - limb >= 1) break;
    }
  } else {
    unsigned borrow = 0;
    for (std::size_t k = limb; k < limb_.size(); ++k) {
      const std::uint64_t sub = k - limb < 2 ? part[k - limb] : 0;
      const std::uint64_t before = limb_[k];
      const std::uint64_t diff = before - sub;
      const unsigned b1 = before < sub ? 1u : 0u;
      limb_[k] = diff - borrow;
      const unsigned b2 = diff < static_cast<std::uint64_t>(borrow) ? 1u : 0u;
      borrow = b1 | b2;
      if (borrow == 0 && k - limb >= 1) break;
    }
  }
}

void FixedSum::merge(const FixedSum& other) noexcept {
  if (other.top_ != top_) {
    overflow_ = 1;
    return;
  }
  overflow_ |= other.overflow_;
  unsigned carry = 0;
  for (std::size_t k = 0; k < limb_.size(); ++k) {
    const std::uint64_t sum = limb_[k] + other.limb_[k];
    const unsigned c1 = sum < other.limb_[k] ? 1u : 0u;
    limb_[k] = sum + carry;
    const unsigned c2 = limb_[k] < sum ? 1u : 0u;
    carry = c1 | c2;
  }
}

double FixedSum::value() const noexcept {
  if (overflow_ != 0) return std::numeric_limits<double>::quiet_NaN();
  const bool negative = (limb_.back() >> 63) != 0;
  std::array<std::uint64_t, kLimbs> magnitude = limb_;
  if (negative) {  // two's complement negation
    unsigned carry = 1;
    for (auto& l : magnitude) {
      l = ~l + carry;
      carry = carry != 0 && l == 0 ? 1u : 0u;
    }
  }
  int high = -1;
  for (int k = kLimbs - 1; k >= 0 && high < 0; --k) {
    const std::uint64_t l = magnitude[static_cast<std::size_t>(k)];
    if (l != 0) high = 64 * k + 63 - std::countl_zero(l);
  }
  if (high < 0) return 0.0;
  const int scale = top_ - kFractionBits;
  // The leading 64 bits (leading bit at 63) and whether anything below them is set.
  const int first = std::max(high - 63, 0);
  std::uint64_t window = bits_at(magnitude, first) << (63 - (high - first));
  const bool sticky = any_below(magnitude, first);
  std::uint64_t mantissa = window >> 11;
  const std::uint64_t rest = window & 0x7ff;
  const bool half = (rest & 0x400) != 0;
  const bool above_half = (rest & 0x3ff) != 0 || sticky;
  if (half && (above_half || (mantissa & 1) != 0)) ++mantissa;
  const double result = std::ldexp(static_cast<double>(mantissa), high - 52 + scale);
  return negative ? -result : result;
}

FixedSum::Wire FixedSum::to_wire() const noexcept {
  Wire w{};
  for (std::size_t k = 0; k < limb_.size(); ++k) {
    w[2 * k] = static_cast<std::int64_t>(limb_[k] & 0xffffffffu);
    w[2 * k + 1] = static_cast<std::int64_t>(limb_[k] >> 32);
  }
  w[kWireSize - 1] = overflow_;
  return w;
}

FixedSum FixedSum::from_wire(const Wire& w, int top) noexcept {
  FixedSum out(top);
  // Each piece is a sum of at most 2^31 values below 2^32, so piece + carry < 2^64.
  std::uint64_t carry = 0;
  for (std::size_t k = 0; k < 2 * static_cast<std::size_t>(kLimbs); ++k) {
    const std::uint64_t t = static_cast<std::uint64_t>(w[k]) + carry;
    const std::uint64_t piece = t & 0xffffffffu;
    carry = t >> 32;
    out.limb_[k / 2] |= piece << (32 * (k % 2));
  }
  out.overflow_ = w[kWireSize - 1] != 0 ? 1 : 0;
  static_assert(kBits == 256);
  return out;
}

}  // namespace parakit::numeric
