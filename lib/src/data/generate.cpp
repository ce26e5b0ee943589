#include "parakit/data/generate.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <limits>
#include <string>
#include <utility>

#include "parakit/core/error.hpp"
#include "parakit/data/philox.hpp"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define PARAKIT_GENERATE_AVX2 1
#include <immintrin.h>
#endif

namespace parakit::data {

namespace detail {
namespace {

// Philox counter layout: {index lo, index hi, 0, stream tag}. The tag keeps the
// streams of different distributions independent for the same seed.
constexpr std::uint32_t kUniformTag = 1;
constexpr std::uint32_t kNormalTag = 2;
constexpr std::uint32_t kCancelTag = 3;

// Number of Philox blocks computed together.
constexpr int kBatch = 32;

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

#if PARAKIT_GENERATE_AVX2
// AVX2 kernels: the same Philox blocks as philox_batch(), four per 256-bit register
// with each 32-bit word in a 64-bit lane (so vpmuludq gives the full 64-bit
// products). Integer arithmetic and exact conversions only: the output is bit-for-bit
// that of the portable code, which the tests check.

/// Runs 10 Philox rounds on 4 * G blocks: group g, lane l is counter c + 4g + l.
/// Independent groups hide the multiply latency.
template <int G>
[[gnu::target("avx2"), gnu::always_inline]] inline void philox_avx2(PhiloxKey key, std::uint64_t c,
                                                                    std::uint32_t tag,
                                                                    __m256i (&w)[4][G]) {
  const __m256i m0 = _mm256_set1_epi64x(kPhiloxM0);
  const __m256i m1 = _mm256_set1_epi64x(kPhiloxM1);
  const __m256i lo32 = _mm256_set1_epi64x(0xffffffffLL);
  const auto c64 = static_cast<long long>(c);
  __m256i ctr = _mm256_add_epi64(_mm256_set1_epi64x(c64), _mm256_setr_epi64x(0, 1, 2, 3));
#pragma GCC unroll 8
  for (int g = 0; g < G; ++g) {
    w[0][g] = _mm256_and_si256(ctr, lo32);
    w[1][g] = _mm256_srli_epi64(ctr, 32);
    w[2][g] = _mm256_setzero_si256();
    w[3][g] = _mm256_set1_epi64x(tag);
    ctr = _mm256_add_epi64(ctr, _mm256_set1_epi64x(4));
  }
  std::uint32_t k0 = key[0], k1 = key[1];
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      k0 += kPhiloxW0;
      k1 += kPhiloxW1;
    }
    const __m256i vk0 = _mm256_set1_epi64x(k0);
    const __m256i vk1 = _mm256_set1_epi64x(k1);
#pragma GCC unroll 8
    for (int g = 0; g < G; ++g) {
      const __m256i p0 = _mm256_mul_epu32(w[0][g], m0);
      const __m256i p1 = _mm256_mul_epu32(w[2][g], m1);
      const __m256i n0 =
          _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p1, 32), w[1][g]), vk0);
      const __m256i n2 =
          _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p0, 32), w[3][g]), vk1);
      w[1][g] = _mm256_and_si256(p1, lo32);
      w[3][g] = _mm256_and_si256(p0, lo32);
      w[0][g] = n0;
      w[2][g] = n2;
    }
  }
}

/// philox_batch() with AVX2.
[[gnu::target("avx2")]] void philox_batch_avx2(PhiloxKey key, std::uint64_t c, std::uint32_t tag,
                                               Batch& out) {
  static_assert(kBatch % 4 == 0);
  constexpr int kGroups = kBatch / 4;
  __m256i w[4][kGroups];
  philox_avx2<kGroups>(key, c, tag, w);
  const __m256i even = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
  for (int word = 0; word < 4; ++word) {
    for (int g = 0; g < kGroups; ++g) {
      const __m256i packed = _mm256_permutevar8x32_epi32(w[word][g], even);
      _mm_storeu_si128(
          reinterpret_cast<__m128i*>(&out.w[word][std::size_t{4} * static_cast<std::size_t>(g)]),
          _mm256_castsi256_si128(packed));
    }
  }
}

/// Exact conversion of 53-bit integers in 64-bit lanes to double, times 2^-53.
[[gnu::target("avx2"), gnu::always_inline]] inline __m256d uniform53_avx2(__m256i x) {
  const __m256i lo32 = _mm256_set1_epi64x(0xffffffffLL);
  // 2^52 + low 32 bits, and 2^84 + high 21 bits * 2^32, as doubles; both exact.
  const __m256d lo = _mm256_castsi256_pd(
      _mm256_or_si256(_mm256_and_si256(x, lo32), _mm256_set1_epi64x(0x4330000000000000LL)));
  const __m256d hi = _mm256_castsi256_pd(
      _mm256_or_si256(_mm256_srli_epi64(x, 32), _mm256_set1_epi64x(0x4530000000000000LL)));
  const __m256d sum = _mm256_add_pd(_mm256_sub_pd(hi, _mm256_set1_pd(0x1p84 + 0x1p52)), lo);
  return _mm256_mul_pd(sum, _mm256_set1_pd(kTwoPow53Inv));
}

constexpr int kUniformGroups = 8;  // 32 blocks, 64 elements per iteration

/// Uniform elements 2c .. 2c + 64 * iterations - 1 into out.
[[gnu::target("avx2")]] void uniform_avx2(PhiloxKey key, std::uint64_t c, double* out,
                                          std::size_t iterations) {
  constexpr int kBlocks = 4 * kUniformGroups;
  for (std::size_t it = 0; it < iterations;
       ++it, c += kBlocks, out += std::ptrdiff_t{2} * kBlocks) {
    __m256i w[4][kUniformGroups];
    philox_avx2<kUniformGroups>(key, c, kUniformTag, w);
#pragma GCC unroll 8
    for (int g = 0; g < kUniformGroups; ++g) {
      // Even elements take words (0, 1), odd elements words (2, 3); top 53 bits.
      const __m256i e =
          _mm256_srli_epi64(_mm256_or_si256(_mm256_slli_epi64(w[0][g], 32), w[1][g]), 11);
      const __m256i f =
          _mm256_srli_epi64(_mm256_or_si256(_mm256_slli_epi64(w[2][g], 32), w[3][g]), 11);
      const __m256d de = uniform53_avx2(e);
      const __m256d df = uniform53_avx2(f);
      const __m256d x = _mm256_unpacklo_pd(de, df);  // e0 f0 e2 f2
      const __m256d y = _mm256_unpackhi_pd(de, df);  // e1 f1 e3 f3
      _mm256_storeu_pd(out + std::ptrdiff_t{8} * g, _mm256_permute2f128_pd(x, y, 0x20));
      _mm256_storeu_pd(out + std::ptrdiff_t{8} * g + 4, _mm256_permute2f128_pd(x, y, 0x31));
    }
  }
}
#endif  // PARAKIT_GENERATE_AVX2

std::atomic<bool> g_force_portable{false};

/// Whether the AVX2 kernels may run.
bool use_avx2() {
#if PARAKIT_GENERATE_AVX2
  static const bool has_avx2 = __builtin_cpu_supports("avx2");
  return has_avx2 && !g_force_portable.load(std::memory_order_relaxed);
#else
  return false;
#endif
}

using BatchFn = void (*)(PhiloxKey, std::uint64_t, std::uint32_t, Batch&);

BatchFn batch_fn(bool avx2) {
#if PARAKIT_GENERATE_AVX2
  if (avx2) return &philox_batch_avx2;
#endif
  (void)avx2;
  return &philox_batch;
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
  e = static_cast<int>((std::uint64_t{w0} * 60u) >> 32);  // uniform in [0, 59]
  const auto mant = static_cast<std::int64_t>((std::uint64_t{1} << 51) | (join(w2, w3) >> 13));
  // +-(2^51 + m), negative when w1 is odd; branch-free (the sign is unpredictable).
  const std::int64_t neg = -static_cast<std::int64_t>(w1 & 1u);
  const std::int64_t signed_mant = (mant ^ neg) - neg;
  return static_cast<double>(signed_mant) * kCancelScale.pow2[e];
}

/// v in [-1, 1) for an odd cancel element whose partner has exponent e.
inline double cancel_v(std::uint32_t w0, std::uint32_t w1, int e) {
  const int shift = e + 1;  // grid 2^(e-51) = 2^-52 * 2^shift; shift <= 60
  // k uniform in [-2^52, 2^52), then rounded down to a multiple of 2^shift; 0 if the
  // grid is coarser than 1 (shift > 52).
  const std::int64_t k = static_cast<std::int64_t>(join(w0, w1) >> 11) - (std::int64_t{1} << 52);
  const std::int64_t keep = -static_cast<std::int64_t>(shift <= 52);
  const std::int64_t kq = ((k >> shift) * (std::int64_t{1} << shift)) & keep;
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

void fill_uniform(PhiloxKey key, std::uint64_t first, std::span<double> out, bool avx2) {
  const std::size_t n = out.size();
  std::size_t k = 0;
  std::uint64_t c = first / 2;
#if PARAKIT_GENERATE_AVX2
  if (avx2) {
    const std::size_t iterations = n / (std::size_t{8} * kUniformGroups);
    uniform_avx2(key, c, out.data(), iterations);
    k = iterations * 8 * kUniformGroups;
    c += iterations * 4 * kUniformGroups;
  }
#endif
  (void)avx2;
  Batch b;
  while (k < n) {
    philox_batch(key, c, kUniformTag, b);
    const std::size_t take = std::min<std::size_t>(n - k, std::size_t{2} * kBatch);
    if (take == std::size_t{2} * kBatch) {
      double* o = out.data() + k;
      for (int j = 0; j < kBatch; ++j) {
        o[std::ptrdiff_t{2} * j] = uniform53(join(b.w[0][j], b.w[1][j]));
        o[std::ptrdiff_t{2} * j + 1] = uniform53(join(b.w[2][j], b.w[3][j]));
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

void fill_normal(PhiloxKey key, std::uint64_t first, std::span<double> out, bool avx2) {
  const BatchFn philox = batch_fn(avx2);
  const std::size_t n = out.size();
  std::size_t k = 0;
  std::uint64_t c = first / 2;
  Batch b;
  while (k < n) {
    philox(key, c, kNormalTag, b);
    for (int j = 0; j < kBatch && k < n; ++j) {
      const auto [z0, z1] = normal_pair(b.w[0][j], b.w[1][j], b.w[2][j], b.w[3][j]);
      out[k++] = z0;
      if (k < n) out[k++] = z1;
    }
    c += kBatch;
  }
}

void fill_cancel(PhiloxKey key, std::uint64_t first, std::span<double> out, bool avx2) {
  // One block per element: counter = element index.
  const BatchFn philox = batch_fn(avx2);
  const std::size_t n = out.size();
  std::size_t k = 0;
  std::uint64_t c = first;
  Batch b;
  while (k < n) {
    philox(key, c, kCancelTag, b);
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

void set_portable_only(bool portable) noexcept {
  g_force_portable.store(portable, std::memory_order_relaxed);
}

bool simd_active() noexcept {
  return use_avx2();
}

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
  const bool avx2 = detail::use_avx2();
  switch (dist) {
    case Dist::uniform:
      detail::fill_uniform(key, first, out, avx2);
      return;
    case Dist::normal:
      detail::fill_normal(key, first, out, avx2);
      return;
    case Dist::cancel:
      detail::fill_cancel(key, first, out, avx2);
      return;
    case Dist::ones:
      return;
  }
}

}  // namespace parakit::data
