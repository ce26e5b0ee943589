#include "parakit/numeric/binned_sum.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>

#include "parakit/numeric/exact_sum.hpp"

namespace parakit::numeric {

void BinnedSum::add(double x) noexcept {
  const auto bits = std::bit_cast<std::uint64_t>(x);
  const auto field = static_cast<int>((bits >> 52) & 0x7ff);
  ++terms_;
  if (field == 0x7ff) {
    terms_ = kMaxTerms + 1;
    return;
  }
  std::uint64_t mantissa = bits & ((std::uint64_t{1} << 52) - 1);
  int low = 0;  // x = mantissa * 2^(low - 1074)
  if (field != 0) {
    mantissa |= std::uint64_t{1} << 52;
    low = field - 1;
  }
  if (mantissa == 0) return;
  const int high = low + 63 - std::countl_zero(mantissa);  // position of the leading bit
  if (high / 32 > top_) align_to(high / 32);
  const bool negative = (bits >> 63) != 0;
  const int lowest = top_ - kBins + 1;
  for (int b = std::max(low / 32, lowest); b <= high / 32; ++b) {
    const int shift = 32 * b - low;  // bits of the mantissa below bin b
    const std::uint64_t slice = (shift >= 0 ? mantissa >> shift : mantissa << -shift) & 0xffffffffu;
    const auto part = static_cast<std::int64_t>(slice);
    bin_[static_cast<std::size_t>(top_ - b)] += negative ? -part : part;
  }
}

int BinnedSum::top_of(double x) noexcept {
  const auto bits = std::bit_cast<std::uint64_t>(x);
  const auto field = static_cast<int>((bits >> 52) & 0x7ff);
  const std::uint64_t mantissa = bits & ((std::uint64_t{1} << 52) - 1);
  if (field == 0x7ff || (field == 0 && mantissa == 0)) return kEmpty;
  const int high = field != 0 ? field - 1 + 52 : 63 - std::countl_zero(mantissa);
  return high / 32;
}

void BinnedSum::align_to(int top) noexcept {
  if (top <= top_) return;
  const int shift = top_ == kEmpty ? kBins : top - top_;
  for (int k = kBins - 1; k >= 0; --k) {
    bin_[static_cast<std::size_t>(k)] =
        k - shift >= 0 ? bin_[static_cast<std::size_t>(k - shift)] : 0;
  }
  top_ = top;
}

void BinnedSum::merge(const BinnedSum& other) noexcept {
  BinnedSum aligned = other;
  aligned.align_to(top_);
  align_to(aligned.top_);
  for (std::size_t k = 0; k < bin_.size(); ++k) bin_[k] += aligned.bin_[k];
  terms_ = overflow() || other.overflow() ? kMaxTerms + 1 : terms_ + other.terms_;
}

double BinnedSum::value() const noexcept {
  if (overflow()) return std::numeric_limits<double>::quiet_NaN();
  if (top_ == kEmpty) return 0.0;
  // Carry so that every bin but the top one is a digit in [0, 2^32); the top one keeps the sign.
  std::array<std::int64_t, kBins> digit = bin_;
  auto carry_up = [&] {
    for (int k = kBins - 1; k > 0; --k) {
      auto& d = digit[static_cast<std::size_t>(k)];
      const std::int64_t carry = d >> 32;  // floor division by 2^32
      d -= carry * (std::int64_t{1} << 32);
      digit[static_cast<std::size_t>(k - 1)] += carry;
    }
  };
  carry_up();
  const bool negative = digit[0] < 0;
  if (negative) {
    for (auto& d : digit) d = -d;
    carry_up();
  }
  // The magnitude as 64-bit limbs, least significant first, worth 2^(32 (top - 3) - 1074) per
  // unit of limb 0.
  static_assert(kBins == 4, "the limb packing below assumes four bins");
  const auto top = static_cast<std::uint64_t>(digit[0]);
  const std::array<std::uint64_t, 3> limb = {
      static_cast<std::uint64_t>(digit[3]) | static_cast<std::uint64_t>(digit[2]) << 32,
      static_cast<std::uint64_t>(digit[1]) | (top & 0xffffffffu) << 32, top >> 32};
  int high = -1;
  for (int k = 2; k >= 0 && high < 0; --k) {
    const std::uint64_t l = limb[static_cast<std::size_t>(k)];
    if (l != 0) high = 64 * k + 63 - std::countl_zero(l);
  }
  if (high < 0) return 0.0;
  const int unit = 32 * (top_ - kBins + 1) - 1074;  // exponent of limb 0's lowest bit
  if (high + unit < -1022) {
    // A subnormal result: round once, at the subnormal spacing, through the exact sum.
    ExactAccumulator exact;
    for (int k = 0; k < kBins; ++k) {
      exact.add(std::ldexp(static_cast<double>(digit[static_cast<std::size_t>(k)]),
                           32 * (top_ - k) - 1074));
    }
    const double magnitude = exact.round();
    return negative ? -magnitude : magnitude;
  }
  // The leading 64 bits (leading bit at 63) and whether anything below them is set.
  const int first = std::max(high - 63, 0);
  auto bits_at = [&](int from) {
    const int l = from >> 6, b = from & 63;
    std::uint64_t out = l < 3 ? limb[static_cast<std::size_t>(l)] >> b : 0;
    if (b != 0 && l + 1 < 3) out |= limb[static_cast<std::size_t>(l) + 1] << (64 - b);
    return out;
  };
  bool sticky = false;
  for (int l = 0, count = first; l < 3 && count > 0; ++l, count -= 64) {
    const std::uint64_t mask = count >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << count) - 1;
    sticky = sticky || (limb[static_cast<std::size_t>(l)] & mask) != 0;
  }
  const std::uint64_t window = bits_at(first) << (63 - (high - first));
  std::uint64_t mantissa = window >> 11;
  const std::uint64_t rest = window & 0x7ff;
  if ((rest & 0x400) != 0 && ((rest & 0x3ff) != 0 || sticky || (mantissa & 1) != 0)) ++mantissa;
  const double magnitude = std::ldexp(static_cast<double>(mantissa), high - 52 + unit);
  return negative ? -magnitude : magnitude;
}

BinnedSum::Wire BinnedSum::to_wire() const noexcept {
  Wire w{};
  std::copy(bin_.begin(), bin_.end(), w.begin());
  w[kBins] = terms_;
  return w;
}

BinnedSum BinnedSum::from_wire(const Wire& wire, int top) noexcept {
  BinnedSum out;
  std::copy_n(wire.begin(), kBins, out.bin_.begin());
  out.terms_ = wire[kBins];
  out.top_ = top;
  return out;
}

}  // namespace parakit::numeric
