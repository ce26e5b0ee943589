#include "parakit/data/generate.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <string>
#include <utility>

#include "parakit/core/error.hpp"
#include "parakit/data/philox.hpp"

namespace parakit::data {

namespace detail {
namespace {

// Philox counter layout: {index lo, index hi, 0, stream tag}. The tag keeps the
// streams of different distributions independent for the same seed.
constexpr std::uint32_t kUniformTag = 1;
constexpr std::uint32_t kNormalTag = 2;
constexpr std::uint32_t kCancelTag = 3;

// Number of Philox blocks computed together; the lane loops vectorize.
constexpr int kBatch = 16;

constexpr double kTwoPow53Inv = 0x1p-53;
constexpr double kTwoPow52Inv = 0x1p-52;
constexpr double kTwoPi = 6.283185307179586476925286766559;

PhiloxCounter block(PhiloxKey key, std::uint64_t counter, std::uint32_t tag) {
  return philox4x32_10(
      {static_cast<std::uint32_t>(counter), static_cast<std::uint32_t>(counter >> 32), 0u, tag},
      key);
}

/// kBatch Philox blocks for counters c, c+1, ..., c+kBatch-1 (same layout as
/// block()); out[w][j] is word w of block j.
struct Batch {
  std::uint32_t w[4][kBatch];
};

inline void philox_batch(PhiloxKey key, std::uint64_t c, std::uint32_t tag, Batch& out) {
  std::uint32_t c0[kBatch], c1[kBatch], c2[kBatch], c3[kBatch];
  for (int j = 0; j < kBatch; ++j) {
    const std::uint64_t cj = c + static_cast<std::uint64_t>(j);
    c0[j] = static_cast<std::uint32_t>(cj);
    c1[j] = static_cast<std::uint32_t>(cj >> 32);
    c2[j] = 0u;
    c3[j] = tag;
  }
  std::uint32_t k0 = key[0], k1 = key[1];
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      k0 += kPhiloxW0;
      k1 += kPhiloxW1;
    }
#pragma GCC unroll 1
    for (int j = 0; j < kBatch; ++j) {
      const std::uint64_t p0 = std::uint64_t{kPhiloxM0} * c0[j];
      const std::uint64_t p1 = std::uint64_t{kPhiloxM1} * c2[j];
      const auto hi0 = static_cast<std::uint32_t>(p0 >> 32);
      const auto lo0 = static_cast<std::uint32_t>(p0);
      const auto hi1 = static_cast<std::uint32_t>(p1 >> 32);
      const auto lo1 = static_cast<std::uint32_t>(p1);
      c0[j] = hi1 ^ c1[j] ^ k0;
      c1[j] = lo1;
      c2[j] = hi0 ^ c3[j] ^ k1;
      c3[j] = lo0;
    }
  }
  for (int j = 0; j < kBatch; ++j) {
    out.w[0][j] = c0[j];
    out.w[1][j] = c1[j];
    out.w[2][j] = c2[j];
    out.w[3][j] = c3[j];
  }
}

inline std::uint64_t join(std::uint32_t hi, std::uint32_t lo) {
  return (std::uint64_t{hi} << 32) | lo;
}

/// Uniform on [0, 1) from 64 random bits (top 53 used); exact.
inline double uniform53(std::uint64_t bits) {
  return static_cast<double>(static_cast<std::int64_t>(bits >> 11)) * kTwoPow53Inv;
}

/// Box-Muller on one block: (r cos t, r sin t). Not inlined, so generate() and
/// generate_one() run exactly the same instructions and agree bit for bit.
[[gnu::noinline]] std::pair<double, double> normal_pair(std::uint32_t w0, std::uint32_t w1,
                                                        std::uint32_t w2, std::uint32_t w3) {
  // u1 in (0, 1] keeps log finite; u2 in [0, 1).
  const double u1 =
      static_cast<double>(static_cast<std::int64_t>(join(w0, w1) >> 11) + 1) * kTwoPow53Inv;
  const double u2 = uniform53(join(w2, w3));
  const double r = std::sqrt(-2.0 * std::log(u1));
  const double t = kTwoPi * u2;
  return {r * std::cos(t), r * std::sin(t)};
}

/// 2^(e - 51) for e in [0, 59]: scales the 52-bit integer mantissa of an even
/// cancel element.
struct CancelScale {
  double pow2[60];
  constexpr CancelScale() : pow2{} {
    for (int e = 0; e < 60; ++e) {
      double p = 1.0;
      for (int k = 51; k > e; --k) p *= 0.5;
      for (int k = 51; k < e; ++k) p *= 2.0;
      pow2[e] = p;
    }
  }
};
constexpr CancelScale kCancelScale{};

/// Even cancel element from its block; sets e to its exponent.
inline double cancel_even(std::uint32_t w0, std::uint32_t w1, std::uint32_t w2, std::uint32_t w3,
                          int& e) {
  e = static_cast<int>((std::uint64_t{w0} * 60u) >> 32);                       // uniform in [0, 59]
  const std::uint64_t mant = (std::uint64_t{1} << 51) | (join(w2, w3) >> 13);  // 2^51 + m
  const double x = static_cast<double>(static_cast<std::int64_t>(mant)) * kCancelScale.pow2[e];
  return (w1 & 1u) ? -x : x;
}

/// v in [-1, 1) for an odd cancel element whose partner has exponent e.
inline double cancel_v(std::uint32_t w0, std::uint32_t w1, int e) {
  const int shift = e + 1;  // grid 2^(e-51) = 2^-52 * 2^shift
  if (shift > 52) return 0.0;
  // k uniform in [-2^52, 2^52), then rounded down to a multiple of 2^shift.
  const std::int64_t k = static_cast<std::int64_t>(join(w0, w1) >> 11) - (std::int64_t{1} << 52);
  const std::int64_t kq = (k >> shift) * (std::int64_t{1} << shift);
  return static_cast<double>(kq) * kTwoPow52Inv;
}

inline double cancel_odd(double partner, std::uint32_t w0, std::uint32_t w1, int e) {
  return cancel_v(w0, w1, e) - partner;  // exact by construction
}

double cancel_one(PhiloxKey key, std::uint64_t index) {
  const std::uint64_t even = index & ~std::uint64_t{1};
  const PhiloxCounter a = block(key, even, kCancelTag);
  int e = 0;
  const double x = cancel_even(a[0], a[1], a[2], a[3], e);
  if (index == even) return x;
  const PhiloxCounter b = block(key, index, kCancelTag);
  return cancel_odd(x, b[0], b[1], e);
}

// Each fill_* writes elements [first, first + out.size()) with first even, in
// whole pairs plus at most one trailing element.

void fill_uniform(PhiloxKey key, std::uint64_t first, std::span<double> out) {
  const std::size_t n = out.size();
  std::size_t k = 0;
  std::uint64_t c = first / 2;
  Batch b;
  while (k < n) {
    philox_batch(key, c, kUniformTag, b);
    const std::size_t take = std::min<std::size_t>(n - k, 2 * kBatch);
    if (take == 2 * kBatch) {
      double* o = out.data() + k;
      for (int j = 0; j < kBatch; ++j) {
        o[2 * j] = uniform53(join(b.w[0][j], b.w[1][j]));
        o[2 * j + 1] = uniform53(join(b.w[2][j], b.w[3][j]));
      }
    } else {
      for (std::size_t t = 0; t < take; ++t) {
        const std::size_t j = t / 2;
        out[k + t] = (t % 2 == 0) ? uniform53(join(b.w[0][j], b.w[1][j]))
                                  : uniform53(join(b.w[2][j], b.w[3][j]));
      }
    }
    k += take;
    c += kBatch;
  }
}

void fill_normal(PhiloxKey key, std::uint64_t first, std::span<double> out) {
  const std::size_t n = out.size();
  std::size_t k = 0;
  std::uint64_t c = first / 2;
  Batch b;
  while (k < n) {
    philox_batch(key, c, kNormalTag, b);
    for (int j = 0; j < kBatch && k < n; ++j) {
      const auto [z0, z1] = normal_pair(b.w[0][j], b.w[1][j], b.w[2][j], b.w[3][j]);
      out[k++] = z0;
      if (k < n) out[k++] = z1;
    }
    c += kBatch;
  }
}

void fill_cancel(PhiloxKey key, std::uint64_t first, std::span<double> out) {
  // One block per element: counter = element index.
  const std::size_t n = out.size();
  std::size_t k = 0;
  std::uint64_t c = first;
  Batch b;
  while (k < n) {
    philox_batch(key, c, kCancelTag, b);
    for (int j = 0; j < kBatch && k < n; j += 2) {
      int e = 0;
      const double x = cancel_even(b.w[0][j], b.w[1][j], b.w[2][j], b.w[3][j], e);
      out[k++] = x;
      if (k < n) out[k++] = cancel_odd(x, b.w[0][j + 1], b.w[1][j + 1], e);
    }
    c += kBatch;
  }
}

}  // namespace
}  // namespace detail

Dist parse_dist(std::string_view name) {
  if (name == "ones") return Dist::ones;
  if (name == "uniform") return Dist::uniform;
  if (name == "normal") return Dist::normal;
  if (name == "cancel") return Dist::cancel;
  throw UsageError("unknown distribution '" + std::string(name) +
                   "' (valid: ones, uniform, normal, cancel)");
}

std::string_view to_string(Dist d) {
  switch (d) {
    case Dist::ones:
      return "ones";
    case Dist::uniform:
      return "uniform";
    case Dist::normal:
      return "normal";
    case Dist::cancel:
      return "cancel";
  }
  return "unknown";
}

double generate_one(Dist dist, std::uint64_t seed, std::uint64_t index) {
  const PhiloxKey key = philox_key(seed);
  switch (dist) {
    case Dist::ones:
      return 1.0;
    case Dist::uniform: {
      const PhiloxCounter w = detail::block(key, index / 2, detail::kUniformTag);
      return (index % 2 == 0) ? detail::uniform53(detail::join(w[0], w[1]))
                              : detail::uniform53(detail::join(w[2], w[3]));
    }
    case Dist::normal: {
      const PhiloxCounter w = detail::block(key, index / 2, detail::kNormalTag);
      const auto [z0, z1] = detail::normal_pair(w[0], w[1], w[2], w[3]);
      return (index % 2 == 0) ? z0 : z1;
    }
    case Dist::cancel:
      return detail::cancel_one(key, index);
  }
  throw InternalError("generate_one: invalid distribution");
}

void generate(Dist dist, std::uint64_t seed, std::uint64_t first, std::span<double> out) {
  if (out.empty()) return;
  if (out.size() - 1 > std::numeric_limits<std::uint64_t>::max() - first) {
    throw UsageError("generate: element range overflows 64-bit indices");
  }
  if (dist == Dist::ones) {
    std::fill(out.begin(), out.end(), 1.0);
    return;
  }
  // Align to an even index so the bulk loops work on whole pairs.
  if (first % 2 != 0) {
    out[0] = generate_one(dist, seed, first);
    out = out.subspan(1);
    ++first;
    if (out.empty()) return;
  }
  const PhiloxKey key = philox_key(seed);
  switch (dist) {
    case Dist::uniform:
      detail::fill_uniform(key, first, out);
      return;
    case Dist::normal:
      detail::fill_normal(key, first, out);
      return;
    case Dist::cancel:
      detail::fill_cancel(key, first, out);
      return;
    case Dist::ones:
      return;
  }
}

}  // namespace parakit::data
