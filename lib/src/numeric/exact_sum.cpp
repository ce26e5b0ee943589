// Exact summation: an xsum-style fixed-point accumulator fed by blocked error-free extraction
// (Rump, Ogita and Oishi, "Accurate floating-point summation part I", SISC 2008).
//
// Extraction. Let a block hold n <= 2^b terms (b = kBlockLog2), each |x| <= 2^(S-b), and let
// sigma = 2^S. Then q = fl(sigma + x) - sigma and r = x - q are exact, q is a multiple of
// 2^(S-53) with |q| <= 2^(S-b), and |r| <= 2^(S-53). Any partial sum of the q's is a multiple
// of 2^(S-53) of magnitude <= 2^S, hence a double: the q-sum of a block is exact in any order,
// so it can be computed with vectors. The r's meet the same premise with S' = S - (53 - b),
// so the next level takes that sigma (never below 2^-1022, where q = x and r = 0). Each level's
// exact sum is added to the fixed-point accumulator.
//
// Last level. Once every r is a multiple of 2^(S-53) (for which ulp(x) >= 2^(S-53) for every
// nonzero x suffices), the r's themselves sum exactly: that level is a plain sum.
//
// Fast path: one pass per block does L-1 extraction levels and the plain last level, with S
// guessed from the previous block, and also returns the max and min of |x| (as bits; the max
// catches NaN/Inf). The block is accepted when the max shows the guessed S valid and the min
// shows L levels enough; otherwise it is redone from L1 level by level (S from the true max at
// each level, until r is all zero). The min also picks L for the next block. A block holding
// zeros (min 0) takes one more pass to count -0.0 and find the min of the nonzero |x|.

#include "parakit/numeric/exact_sum.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "parakit/numeric/fast_sum.hpp"
#include "simd_vec.hpp"

namespace parakit::numeric {
namespace detail {
namespace {

__extension__ typedef unsigned __int128 U128;

constexpr int kBlockLog2 = 11;
constexpr std::size_t kBlock = std::size_t{1} << kBlockLog2;  // terms per extraction
constexpr int kSigmaOffset = kBlockLog2 + 1;  // S = emax + kSigmaOffset, 2^emax <= max|x|
constexpr int kLevelShift = 53 - kBlockLog2;  // S of a level = S of the level before - this
constexpr int kMaxFused = 4;                  // most levels fused into one pass
constexpr int kGuessSlack = 2;                // guessed exponent = previous block's + slack
constexpr std::int64_t kAbsMask = 0x7FFF'FFFF'FFFF'FFFF;
constexpr std::int64_t kNegZeroBits = std::numeric_limits<std::int64_t>::min();
constexpr std::int64_t kNonFiniteBits = 0x7FF0'0000'0000'0000;
constexpr int kMinSigmaExponent = -1022;
// Largest exponent field E of a block max whose sigma 2^(E - 1023 + kSigmaOffset) is finite.
constexpr int kMaxBlockExponent = 1023 + 1023 - kSigmaOffset;

struct FusedResult {
  double q[kMaxFused];   // exact sum of each level (valid only if the block is accepted)
  std::int64_t max_abs;  // max of the bits of |x|
  std::int64_t min_abs;  // min of the bits of |x| (0 if the block holds a zero)
};

// What a block's zeros need: the count of -0.0 and the min of the nonzero |x|.
struct ZeroScan {
  std::int64_t neg_zeros;
  std::int64_t min_nonzero_abs;  // 0 if there is no nonzero term
};

struct LevelResult {
  double q;              // exact q-sum
  std::int64_t max_abs;  // max of the bits of |r|
};

// The fused pass prefetches this far ahead: the hardware prefetcher alone leaves the pass
// short of fast_sum's bandwidth on arrays much larger than the caches.
constexpr std::size_t kPrefetchBytes = 8192;

template <class T, std::size_t kStep>
[[gnu::always_inline]] inline void prefetch_ahead(const T* p) noexcept {
  const char* line = reinterpret_cast<const char*>(p);
  for (std::size_t b = 0; b < kStep * sizeof(T); b += 64) {
    __builtin_prefetch(line + kPrefetchBytes + b);
  }
}

// One pass over x[0..n): L-1 extraction levels with sigma[0..L-1), then the plain sum of the
// last r. prefetch_avail: number of elements readable from x on (for the software prefetch).
template <int W, class T, int L>
[[gnu::always_inline]] inline void fused_body(const T* x, std::size_t n, std::size_t prefetch_avail,
                                              const double* sigma, FusedResult* out) noexcept {
  using D = typename Vec<W>::D;
  using I = typename Vec<W>::I;
  constexpr std::size_t kStep = std::size_t{2} * W;
  constexpr std::size_t kPrefetchElems = kPrefetchBytes / sizeof(T);
  D s[L];
  D acc[L][2];
  for (int k = 0; k < L; ++k) {
    s[k] = D{} + (k + 1 < L ? sigma[k] : 0.0);
    acc[k][0] = D{};
    acc[k][1] = D{};
  }
  const I abs_mask = I{} + kAbsMask;
  I mx = {};
  I mn = I{} + kAbsMask;

  // The tail goes through the same loop, padded with +0.0: that adds nothing, but it sets
  // min_abs to 0, which sends the block through zero_scan_body.
  const std::size_t n_main = n - n % kStep;
  T tail[kStep] = {};
  if (n_main != n) std::memcpy(tail, x + n_main, (n - n_main) * sizeof(T));
  const std::size_t prefetch_end =
      prefetch_avail > kPrefetchElems ? prefetch_avail - kPrefetchElems : 0;

  for (int pass = 0; pass < 2; ++pass) {
    const T* p = pass == 0 ? x : tail;
    const std::size_t m = pass == 0 ? n_main : (n_main == n ? 0 : kStep);
    const std::size_t pf_end = pass == 0 ? prefetch_end : 0;
    for (std::size_t i = 0; i < m; i += kStep) {
      if (i < pf_end) prefetch_ahead<T, kStep>(p + i);
      for (int u = 0; u < 2; ++u) {
        D v;
        load<W>(p + i + u * W, &v);
        const I a = __builtin_bit_cast(I, v) & abs_mask;
        mx = a > mx ? a : mx;
        mn = a < mn ? a : mn;
        D r = v;
        for (int k = 0; k + 1 < L; ++k) {
          const D t = s[k] + r;
          const D q = t - s[k];
          r -= q;
          acc[k][u] += q;
        }
        acc[L - 1][u] += r;
      }
    }
  }

  for (int k = 0; k < L; ++k) {
    const D a = acc[k][0] + acc[k][1];
    double sum = 0.0;
    for (int j = 0; j < W; ++j) sum += a[j];
    out->q[k] = sum;
  }
  std::int64_t hi = 0, lo = kAbsMask;
  for (int j = 0; j < W; ++j) {
    hi = std::max(hi, mx[j]);
    lo = std::min(lo, mn[j]);
  }
  out->max_abs = hi;
  out->min_abs = lo;
}

// Counts the -0.0 of x[0..n) and finds the min of the nonzero |x|.
template <int W, class T>
[[gnu::always_inline]] inline void zero_scan_body(const T* x, std::size_t n,
                                                  ZeroScan* out) noexcept {
  std::int64_t neg_zeros = 0;
  std::uint64_t lo = ~std::uint64_t{0};  // min of |x| - 1: zeros wrap to the top
  for (std::size_t i = 0; i < n; ++i) {
    const auto bits = std::bit_cast<std::uint64_t>(static_cast<double>(x[i]));
    neg_zeros += bits == static_cast<std::uint64_t>(kNegZeroBits);
    lo = std::min(lo, (bits & kAbsMask) - 1);
  }
  out->neg_zeros = neg_zeros;
  out->min_nonzero_abs = static_cast<std::int64_t>(lo + 1);
}

// One extraction level with the given sigma: r_out[i] = in[i] - q[i]; in may equal r_out.
template <int W, class T>
[[gnu::always_inline]] inline void extract_body(const T* in, std::size_t n, double sigma,
                                                double* r_out, LevelResult* out) noexcept {
  using D = typename Vec<W>::D;
  using I = typename Vec<W>::I;
  constexpr std::size_t kStep = std::size_t{2} * W;
  const D s = D{} + sigma;
  const I abs_mask = I{} + kAbsMask;
  D acc[2] = {D{}, D{}};
  I mx = {};

  const std::size_t n_main = n - n % kStep;
  T tail[kStep] = {};
  double tail_r[kStep];
  std::memcpy(tail, in + n_main, (n - n_main) * sizeof(T));

  for (int pass = 0; pass < 2; ++pass) {
    const T* p = pass == 0 ? in : tail;
    double* ro = pass == 0 ? r_out : tail_r;
    const std::size_t m = pass == 0 ? n_main : (n_main == n ? 0 : kStep);
    for (std::size_t i = 0; i < m; i += kStep) {
      for (int u = 0; u < 2; ++u) {
        D v;
        load<W>(p + i + u * W, &v);
        const D t = s + v;
        const D q = t - s;
        const D r = v - q;
        acc[u] += q;
        const I a = __builtin_bit_cast(I, r) & abs_mask;
        mx = a > mx ? a : mx;
        std::memcpy(ro + i + static_cast<std::size_t>(u) * W, &r, sizeof r);
      }
    }
  }
  std::memcpy(r_out + n_main, tail_r, (n - n_main) * sizeof(double));

  const D a = acc[0] + acc[1];
  double sum = 0.0;
  std::int64_t m = 0;
  for (int j = 0; j < W; ++j) {
    sum += a[j];
    m = std::max(m, mx[j]);
  }
  out->q = sum;
  out->max_abs = m;
}

// The kernels of one instruction-set level.
struct Kernels {
  void (*fused_d[kMaxFused])(const double*, std::size_t, std::size_t, const double*,
                             FusedResult*) noexcept;
  void (*fused_f[kMaxFused])(const float*, std::size_t, std::size_t, const double*,
                             FusedResult*) noexcept;
  void (*extract_d)(const double*, std::size_t, double, double*, LevelResult*) noexcept;
  void (*extract_f)(const float*, std::size_t, double, double*, LevelResult*) noexcept;
  void (*zero_scan_d)(const double*, std::size_t, ZeroScan*) noexcept;
  void (*zero_scan_f)(const float*, std::size_t, ZeroScan*) noexcept;

  template <class T>
  auto fused(int levels) const noexcept {
    if constexpr (std::is_same_v<T, float>) {
      return fused_f[levels - 1];
    } else {
      return fused_d[levels - 1];
    }
  }
  template <class T>
  auto extract() const noexcept {
    if constexpr (std::is_same_v<T, float>) {
      return extract_f;
    } else {
      return extract_d;
    }
  }
  template <class T>
  auto zero_scan() const noexcept {
    if constexpr (std::is_same_v<T, float>) {
      return zero_scan_f;
    } else {
      return zero_scan_d;
    }
  }
};

template <class T, int L>
__attribute__((target("avx512f"))) void fused_avx512(const T* x, std::size_t n, std::size_t pf,
                                                     const double* s, FusedResult* o) noexcept {
  fused_body<8, T, L>(x, n, pf, s, o);
}
template <class T>
__attribute__((target("avx512f"))) void extract_avx512(const T* in, std::size_t n, double s,
                                                       double* r, LevelResult* o) noexcept {
  extract_body<8, T>(in, n, s, r, o);
}
template <class T>
__attribute__((target("avx512f"))) void zero_scan_avx512(const T* x, std::size_t n,
                                                         ZeroScan* o) noexcept {
  zero_scan_body<8, T>(x, n, o);
}
template <class T, int L>
__attribute__((target("avx2"))) void fused_avx2(const T* x, std::size_t n, std::size_t pf,
                                                const double* s, FusedResult* o) noexcept {
  fused_body<4, T, L>(x, n, pf, s, o);
}
template <class T>
__attribute__((target("avx2"))) void extract_avx2(const T* in, std::size_t n, double s, double* r,
                                                  LevelResult* o) noexcept {
  extract_body<4, T>(in, n, s, r, o);
}
template <class T>
__attribute__((target("avx2"))) void zero_scan_avx2(const T* x, std::size_t n,
                                                    ZeroScan* o) noexcept {
  zero_scan_body<4, T>(x, n, o);
}
template <class T, int L>
void fused_baseline(const T* x, std::size_t n, std::size_t pf, const double* s,
                    FusedResult* o) noexcept {
  fused_body<2, T, L>(x, n, pf, s, o);
}
template <class T>
void extract_baseline(const T* in, std::size_t n, double s, double* r, LevelResult* o) noexcept {
  extract_body<2, T>(in, n, s, r, o);
}
template <class T>
void zero_scan_baseline(const T* x, std::size_t n, ZeroScan* o) noexcept {
  zero_scan_body<2, T>(x, n, o);
}

constexpr Kernels kAvx512Kernels = {{&fused_avx512<double, 1>, &fused_avx512<double, 2>,
                                     &fused_avx512<double, 3>, &fused_avx512<double, 4>},
                                    {&fused_avx512<float, 1>, &fused_avx512<float, 2>,
                                     &fused_avx512<float, 3>, &fused_avx512<float, 4>},
                                    &extract_avx512<double>,
                                    &extract_avx512<float>,
                                    &zero_scan_avx512<double>,
                                    &zero_scan_avx512<float>};
constexpr Kernels kAvx2Kernels = {
    {&fused_avx2<double, 1>, &fused_avx2<double, 2>, &fused_avx2<double, 3>,
     &fused_avx2<double, 4>},
    {&fused_avx2<float, 1>, &fused_avx2<float, 2>, &fused_avx2<float, 3>, &fused_avx2<float, 4>},
    &extract_avx2<double>,
    &extract_avx2<float>,
    &zero_scan_avx2<double>,
    &zero_scan_avx2<float>};
constexpr Kernels kBaselineKernels = {{&fused_baseline<double, 1>, &fused_baseline<double, 2>,
                                       &fused_baseline<double, 3>, &fused_baseline<double, 4>},
                                      {&fused_baseline<float, 1>, &fused_baseline<float, 2>,
                                       &fused_baseline<float, 3>, &fused_baseline<float, 4>},
                                      &extract_baseline<double>,
                                      &extract_baseline<float>,
                                      &zero_scan_baseline<double>,
                                      &zero_scan_baseline<float>};

const Kernels& kernels() noexcept {
  switch (simd_level()) {
    case SimdLevel::kAvx512:
      return kAvx512Kernels;
    case SimdLevel::kAvx2:
      return kAvx2Kernels;
    default:
      return kBaselineKernels;
  }
}

// 2^e for -1022 <= e <= 1023.
double pow2(int e) noexcept {
  return std::bit_cast<double>(static_cast<std::uint64_t>(e + 1023) << 52);
}

// Exponent S of the smallest valid sigma for terms whose max |x| has bits max_abs (> 0,
// finite, exponent field <= kMaxBlockExponent): 2^emax <= max|x| < 2^(emax+1).
int sigma_exponent(std::int64_t max_abs) noexcept {
  const int e = static_cast<int>(max_abs >> 52);
  const int emax =
      e > 0 ? e - 1023 : (63 - std::countl_zero(static_cast<std::uint64_t>(max_abs))) - 1074;
  return std::max(emax + kSigmaOffset, kMinSigmaExponent);
}

// Exponent of the sigma valid for terms whose exponent fields are <= e (1 <= e).
int guessed_sigma_exponent(int e) noexcept {
  return e - 1023 + kSigmaOffset;
}

// Sigma exponent of level k (from 0) when level 0's is s0.
int level_sigma_exponent(int s0, int k) noexcept {
  return std::max(s0 - k * kLevelShift, kMinSigmaExponent);
}

// Fewest levels, from sigma exponent s0 on, after which the remainders sum exactly, for
// terms whose min nonzero |x| has bits min_abs (0: no nonzero term). Level L-1 is a plain sum
// when ulp(x) >= 2^(S-53) for its S, i.e. max(E_x, 1) - 1075 >= S - 53.
int levels_needed(int s0, std::int64_t min_abs) noexcept {
  const int e_min = std::max(static_cast<int>(min_abs >> 52), 1);
  int levels = 1;
  while (min_abs != 0 && level_sigma_exponent(s0, levels - 1) + 1022 > e_min) ++levels;
  return levels;
}

}  // namespace
}  // namespace detail

namespace {

constexpr std::int64_t kPendingLimit = std::int64_t{1} << 30;
constexpr std::int64_t kChunkMask = 0xFFFF'FFFF;

}  // namespace

void ExactAccumulator::normalize(Chunks& c) noexcept {
  for (std::size_t i = 0; i + 1 < kChunks; ++i) {
    const std::int64_t carry = c[i] >> 32;  // arithmetic shift: floor division
    c[i] &= kChunkMask;
    c[i + 1] += carry;
  }
}

// Adds the finite nonzero double with these bits. Its 53-bit significand lands on at most
// three chunks, each receiving less than 2^32 in magnitude.
void ExactAccumulator::add_finite_bits(std::uint64_t bits) noexcept {
  const int e = static_cast<int>((bits >> 52) & 0x7FF);
  std::uint64_t m = bits & ((std::uint64_t{1} << 52) - 1);
  int pos = 0;  // bit position of m's lowest bit, in units of 2^-1074
  if (e > 0) {
    m |= std::uint64_t{1} << 52;
    pos = e - 1;
  }
  const std::size_t i = static_cast<std::size_t>(pos >> 5);
  const detail::U128 v = static_cast<detail::U128>(m) << (pos & 31);
  const auto c0 = static_cast<std::int64_t>(static_cast<std::uint64_t>(v) & kChunkMask);
  const auto c1 = static_cast<std::int64_t>(static_cast<std::uint64_t>(v >> 32) & kChunkMask);
  const auto c2 = static_cast<std::int64_t>(static_cast<std::uint64_t>(v >> 64));
  if (bits >> 63) {
    chunk_[i] -= c0;
    chunk_[i + 1] -= c1;
    chunk_[i + 2] -= c2;
  } else {
    chunk_[i] += c0;
    chunk_[i + 1] += c1;
    chunk_[i + 2] += c2;
  }
  if (++pending_ >= kPendingLimit) {
    normalize(chunk_);
    pending_ = 0;
  }
}

void ExactAccumulator::add_extracted(double q) noexcept {
  if (q != 0.0) add_finite_bits(std::bit_cast<std::uint64_t>(q));
}

void ExactAccumulator::add(double x) noexcept {
  ++terms_;
  add_term(x);
}

void ExactAccumulator::add_term(double x) noexcept {
  const auto bits = std::bit_cast<std::uint64_t>(x);
  if ((bits & detail::kNonFiniteBits) == static_cast<std::uint64_t>(detail::kNonFiniteBits)) {
    if (bits & ((std::uint64_t{1} << 52) - 1)) {
      ++nan_;
    } else if (bits >> 63) {
      ++neg_inf_;
    } else {
      ++pos_inf_;
    }
  } else if ((bits << 1) == 0) {
    if (bits) ++neg_zero_;
  } else {
    add_finite_bits(bits);
  }
}

template <class T>
void ExactAccumulator::add_blocks(std::span<const T> x) noexcept {
  using detail::kBlock;
  const detail::Kernels& kern = detail::kernels();
  alignas(64) double r[kBlock];
  int guess = -1;  // exponent field that no |x| of the block is assumed to exceed
  int levels = 2;  // levels of the fused pass
  for (std::size_t off = 0; off < x.size(); off += kBlock) {
    const T* p = x.data() + off;
    const std::size_t n = std::min(kBlock, x.size() - off);
    if (guess < 0) {
      const auto first = std::bit_cast<std::uint64_t>(static_cast<double>(p[0]));
      guess = std::clamp(static_cast<int>((first >> 52) & 0x7FF) + detail::kGuessSlack, 1,
                         detail::kMaxBlockExponent);
    }
    const int s0 = detail::guessed_sigma_exponent(guess);
    double sigma[detail::kMaxFused] = {};
    for (int k = 0; k + 1 < levels; ++k) {
      sigma[k] = detail::pow2(detail::level_sigma_exponent(s0, k));
    }
    detail::FusedResult res;
    kern.fused<T>(levels)(p, n, x.size() - off, sigma, &res);

    const int e = static_cast<int>(res.max_abs >> 52);
    if (res.max_abs >= detail::kNonFiniteBits || e > detail::kMaxBlockExponent) {
      // NaN/Inf, or too large for sigma: one term at a time.
      for (std::size_t i = 0; i < n; ++i) add_term(static_cast<double>(p[i]));
      guess = -1;
      continue;
    }
    std::int64_t min_abs = res.min_abs;
    if (min_abs == 0) {  // zeros (or the zero-padded tail): count -0.0, find the nonzero min
      detail::ZeroScan zs;
      kern.zero_scan<T>()(p, n, &zs);
      neg_zero_ += zs.neg_zeros;
      min_abs = zs.min_nonzero_abs;
    }
    if (e <= guess && levels >= detail::levels_needed(s0, min_abs)) {
      for (int k = 0; k < levels; ++k) add_extracted(res.q[k]);
    } else if (res.max_abs != 0) {
      // Level by level, from L1. The first level reads the input, later ones r in place.
      detail::LevelResult lr;
      kern.extract<T>()(p, n, detail::pow2(detail::sigma_exponent(res.max_abs)), r, &lr);
      add_extracted(lr.q);
      while (lr.max_abs != 0) {
        kern.extract<double>()(r, n, detail::pow2(detail::sigma_exponent(lr.max_abs)), r, &lr);
        add_extracted(lr.q);
      }
    }
    guess = std::clamp(e + detail::kGuessSlack, 1, detail::kMaxBlockExponent);
    levels = std::min(detail::levels_needed(detail::guessed_sigma_exponent(guess), min_abs),
                      detail::kMaxFused);
  }
  terms_ += static_cast<std::int64_t>(x.size());
}

void ExactAccumulator::add(std::span<const double> x) noexcept {
  add_blocks(x);
}
void ExactAccumulator::add(std::span<const float> x) noexcept {
  add_blocks(x);
}

void ExactAccumulator::merge(const ExactAccumulator& other) noexcept {
  for (std::size_t i = 0; i < kChunks; ++i) chunk_[i] += other.chunk_[i];
  pending_ += other.pending_ + 1;
  if (pending_ >= kPendingLimit) {
    normalize(chunk_);
    pending_ = 0;
  }
  pos_inf_ += other.pos_inf_;
  neg_inf_ += other.neg_inf_;
  nan_ += other.nan_;
  terms_ += other.terms_;
  neg_zero_ += other.neg_zero_;
}

ExactAccumulator::Wire ExactAccumulator::to_wire() const noexcept {
  Chunks c = chunk_;
  normalize(c);
  Wire w{};
  std::copy(c.begin(), c.end(), w.begin());
  w[kWirePosInf] = pos_inf_;
  w[kWireNegInf] = neg_inf_;
  w[kWireNaN] = nan_;
  w[kWireTerms] = terms_;
  w[kWireNotNegZero] = terms_ - neg_zero_;
  return w;
}

ExactAccumulator ExactAccumulator::from_wire(const Wire& w) noexcept {
  ExactAccumulator a;
  std::copy(w.begin(), w.begin() + kChunks, a.chunk_.begin());
  normalize(a.chunk_);
  a.pos_inf_ = w[kWirePosInf];
  a.neg_inf_ = w[kWireNegInf];
  a.nan_ = w[kWireNaN];
  a.terms_ = w[kWireTerms];
  a.neg_zero_ = w[kWireTerms] - w[kWireNotNegZero];
  return a;
}

double ExactAccumulator::round() const noexcept {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  if (nan_ > 0 || (pos_inf_ > 0 && neg_inf_ > 0)) return std::numeric_limits<double>::quiet_NaN();
  if (pos_inf_ > 0) return kInf;
  if (neg_inf_ > 0) return -kInf;

  // Magnitude as normalised chunks, sign apart.
  Chunks c = chunk_;
  normalize(c);
  const bool negative = c[kChunks - 1] < 0;
  if (negative) {
    for (auto& v : c) v = -v;
    normalize(c);
  }
  const double sign = negative ? -1.0 : 1.0;
  if (c[kChunks - 1] != 0) return sign * kInf;  // >= 2^(32*66-1074) = 2^1038

  int i = static_cast<int>(kChunks) - 2;
  while (i >= 0 && c[i] == 0) --i;
  if (i < 0) return (terms_ > 0 && neg_zero_ == terms_) ? -0.0 : 0.0;

  // Highest set bit, in units of 2^-1074.
  const int top = 32 * i + 31 - std::countl_zero(static_cast<std::uint32_t>(c[i]));
  if (top <= 52) {
    // Below 2^53 units: exact, normal or subnormal.
    const auto units =
        static_cast<std::uint64_t>(c[0]) | (i >= 1 ? static_cast<std::uint64_t>(c[1]) << 32 : 0);
    return sign * std::ldexp(static_cast<double>(units), -1074);
  }
  // A 96-bit window of chunks i, i-1, i-2 (i >= 1) holds the top 53 bits plus a guard bit.
  const auto chunk_at = [&](int j) { return j >= 0 ? static_cast<std::uint64_t>(c[j]) : 0; };
  const detail::U128 window = (static_cast<detail::U128>(chunk_at(i)) << 64) |
                              (static_cast<detail::U128>(chunk_at(i - 1)) << 32) | chunk_at(i - 2);
  const int guard_pos = top - 53 - 32 * (i - 2);  // bit index of the guard bit in window
  const auto top54 = static_cast<std::uint64_t>(window >> guard_pos);
  std::uint64_t mant = top54 >> 1;
  const bool guard = top54 & 1;
  bool sticky = (window & ((static_cast<detail::U128>(1) << guard_pos) - 1)) != 0;
  for (int j = 0; j < i - 2 && !sticky; ++j) sticky = c[j] != 0;
  int exp = top - 52 - 1074;  // value = mant * 2^exp
  if (guard && (sticky || (mant & 1))) {
    if (++mant == (std::uint64_t{1} << 53)) {
      mant >>= 1;
      ++exp;
    }
  }
  if (exp > 1023 - 52) return sign * kInf;
  return sign * std::ldexp(static_cast<double>(mant), exp);
}

double exact_sum(std::span<const double> x) noexcept {
  ExactAccumulator a;
  a.add(x);
  return a.round();
}

double exact_sum(std::span<const float> x) noexcept {
  ExactAccumulator a;
  a.add(x);
  return a.round();
}

}  // namespace parakit::numeric
