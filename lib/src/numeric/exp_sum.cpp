#include "parakit/numeric/exp_sum.hpp"

#include <bit>
#include <cstdint>
#include <cstring>

#include "parakit/numeric/fast_sum.hpp"
#include "simd_vec.hpp"

namespace parakit::numeric {
namespace {

using detail::SimdLevel;
using D8 = detail::Vec<8>::D;
using I8 = detail::Vec<8>::I;

constexpr double kLowest = -746.0;  // e^-746 rounds to 0 (below half of 2^-1074)
constexpr double kHighest = 710.0;  // e^710 overflows to +inf
constexpr double kShifter = 0x1.8p52;
constexpr double kLog2e = 1.4426950408889634;
constexpr double kLn2Hi = 0x1.62e42feep-1;        // 32 significant bits: k * kLn2Hi is exact
constexpr double kLn2Lo = 0x1.a39ef35793c76p-33;  // ln 2 - kLn2Hi

// Only references cross these (inlined) helpers: 64-byte vectors passed by value would change
// the ABI at the baseline level.
[[gnu::always_inline]] inline void to_bits(const double& x, std::int64_t& out) noexcept {
  out = std::bit_cast<std::int64_t>(x);
}
[[gnu::always_inline]] inline void from_bits(const std::int64_t& x, double& out) noexcept {
  out = std::bit_cast<double>(x);
}
[[gnu::always_inline]] inline void to_bits(const D8& x, I8& out) noexcept {
  std::memcpy(&out, &x, sizeof out);
}
[[gnu::always_inline]] inline void from_bits(const I8& x, D8& out) noexcept {
  std::memcpy(&out, &x, sizeof out);
}

/// x = e^x for a double or for eight lanes (I the matching integers), by the same operations
/// (see exp_sum.hpp).
template <class V, class I>
[[gnu::always_inline]] inline void exp_in_place(V& x) noexcept {
  const V lowest = V{} + kLowest, highest = V{} + kHighest, shifter = V{} + kShifter;
  x = x < lowest ? lowest : x;  // (NaN stays NaN)
  x = x > highest ? highest : x;
  const V shifted = x * kLog2e + kShifter;  // k + 1.5 * 2^52: k = x / ln 2 rounded
  const V k = shifted - kShifter;
  const V r = (x - k * kLn2Hi) - k * kLn2Lo;
  // e^r to degree 13 by Estrin's scheme: a few levels of independent products instead of
  // Horner's chain of thirteen.
  const V r2 = r * r, r4 = r2 * r2, r8 = r4 * r4;
  const V q0 = (1.0 + r) + (0.5 + r * (1.0 / 6.0)) * r2;
  const V q1 = ((1.0 / 24.0) + r * (1.0 / 120.0)) + ((1.0 / 720.0) + r * (1.0 / 5040.0)) * r2;
  const V q2 =
      ((1.0 / 40320.0) + r * (1.0 / 362880.0)) + ((1.0 / 3628800.0) + r * (1.0 / 39916800.0)) * r2;
  const V q3 = (1.0 / 479001600.0) + r * (1.0 / 6227020800.0);
  const V p = (q0 + q1 * r4) + (q2 + q3 * r4) * r8;
  // k in [-1076, 1024] is in the shifter's low bits; 2^k = 2^(k - half) 2^half, each normal.
  I ki, base;
  to_bits(shifted, ki);
  to_bits(shifter, base);
  ki -= base;
  const I half = ki >> 1;
  V low, high;
  from_bits((ki - half + 1023) << 52, low);
  from_bits((half + 1023) << 52, high);
  x = (p * low) * high;
}

/// The sum; `Weighted` a compile-time copy of weights != nullptr, so that the unweighted loop
/// has no test in it.
template <bool Weighted>
[[gnu::always_inline]] inline double exp_sum_lanes(const double* x, std::size_t n, double scale,
                                                   std::size_t skip,
                                                   const double* weights) noexcept {
  D8 lanes = {};
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    D8 v;
    std::memcpy(&v, x + i, sizeof v);
    v *= scale;
    exp_in_place<D8, I8>(v);
    if constexpr (Weighted) {
      D8 w;
      std::memcpy(&w, weights + i, sizeof w);
      v *= w;
    }
    if (skip - i < 8) v[skip - i] = 0.0;  // (unsigned: false when skip < i)
    lanes += v;
  }
  double lane[8];
  std::memcpy(lane, &lanes, sizeof lane);
  for (int k = 0; i < n; ++i, ++k) {
    double v = x[i] * scale;
    exp_in_place<double, std::int64_t>(v);
    if constexpr (Weighted) v *= weights[i];
    lane[k] += i == skip ? 0.0 : v;
  }
  return ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
}

[[gnu::always_inline]] inline double exp_sum_body(const double* x, std::size_t n, double scale,
                                                  std::size_t skip,
                                                  const double* weights) noexcept {
  return weights != nullptr ? exp_sum_lanes<true>(x, n, scale, skip, weights)
                            : exp_sum_lanes<false>(x, n, scale, skip, nullptr);
}

__attribute__((target("avx512f"))) double exp_sum_avx512(const double* x, std::size_t n,
                                                         double scale, std::size_t skip,
                                                         const double* weights) noexcept {
  return exp_sum_body(x, n, scale, skip, weights);
}
__attribute__((target("avx2"))) double exp_sum_avx2(const double* x, std::size_t n, double scale,
                                                    std::size_t skip,
                                                    const double* weights) noexcept {
  return exp_sum_body(x, n, scale, skip, weights);
}
double exp_sum_baseline(const double* x, std::size_t n, double scale, std::size_t skip,
                        const double* weights) noexcept {
  return exp_sum_body(x, n, scale, skip, weights);
}

}  // namespace

double exp_lane(double x) noexcept {
  exp_in_place<double, std::int64_t>(x);
  return x;
}

double exp_sum(const double* x, std::size_t n, double scale, std::size_t skip,
               const double* weights) noexcept {
  switch (detail::simd_level()) {
    case SimdLevel::kAvx512:
      return exp_sum_avx512(x, n, scale, skip, weights);
    case SimdLevel::kAvx2:
      return exp_sum_avx2(x, n, scale, skip, weights);
    default:
      return exp_sum_baseline(x, n, scale, skip, weights);
  }
}

}  // namespace parakit::numeric
