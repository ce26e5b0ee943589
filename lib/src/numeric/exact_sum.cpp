// Exact summation: an xsum-style fixed-point accumulator fed by blocked error-free extraction
// (Rump, Ogita and Oishi, "Accurate floating-point summation part I", SISC 2008).
//
// Extraction. Let every |x| of a block of n <= 2^11 terms be <= 2^(S-11) and sigma = 2^S.
// Then q = fl(sigma + x) - sigma and r = x - q are exact, q is a multiple of 2^(S-53) with
// |q| <= 2^(S-11), and |r| <= 2^(S-53). Any partial sum of the q's is a multiple of 2^(S-53)
// of magnitude <= 2^S, hence a double: the q-sum of a block is exact in any order, so it can
// be computed with vectors. The r's satisfy the same premise with S - 42, so the next level
// takes sigma * 2^-42 (never below 2^-1022, where q = x and r = 0). Each level's exact sum is
// added to the fixed-point accumulator.
//
// The fast path fuses L levels in a single pass over the block, with S guessed from the
// previous block; the pass also returns the block's true max |x| (as bits, which also catches
// NaN/Inf), the OR of the last and second-to-last level's r, and the count of -0.0. The block
// is accepted when the guess held and the last r is all zero; otherwise it is redone from L1
// with level-by-level extraction (S from the true max at each level). L adapts to the data.

#include "parakit/numeric/exact_sum.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "parakit/numeric/fast_sum.hpp"

namespace parakit::numeric {
namespace detail {
namespace {

__extension__ typedef unsigned __int128 U128;

constexpr std::size_t kBlock = 2048;  // at most 2^11 terms per extraction
constexpr int kMaxFused = 4;          // most levels fused into one pass
constexpr int kGuessSlack = 2;        // guessed exponent = previous block's + slack
constexpr std::int64_t kAbsMask = 0x7FFF'FFFF'FFFF'FFFF;
constexpr std::int64_t kNegZeroBits = std::numeric_limits<std::int64_t>::min();
constexpr std::int64_t kNonFiniteBits = 0x7FF0'0000'0000'0000;
// Largest exponent field E of a block max such that sigma = 2^(E-1023+12) is finite.
constexpr int kMaxBlockExponent = 1023 + 1023 - 12;
constexpr int kMinSigmaExponent = -1022;

template <int W>
struct Vec {
  typedef double D __attribute__((vector_size(W * 8)));
  typedef std::int64_t I __attribute__((vector_size(W * 8)));
  typedef float F __attribute__((vector_size(W * 4)));
};

struct FusedResult {
  double q[kMaxFused];     // exact q-sum of each level
  std::int64_t max_abs;    // max of the bits of |x|
  std::int64_t r_last;     // OR of the bits of the last level's r
  std::int64_t r_prev;     // OR of the bits of the level before's r
  std::int64_t neg_zeros;  // number of -0.0 terms
};

struct LevelResult {
  double q;             // exact q-sum
  std::int64_t max_abs; // max of the bits of |r|
};

// Only pointers and scalars cross function boundaries, so each body compiles for every
// target (GCC and Clang both refuse or warn on vector arguments across targets).
template <int W, class T>
[[gnu::always_inline]] inline void load(const T* p, typename Vec<W>::D* v) noexcept {
  if constexpr (std::is_same_v<T, float>) {
    typename Vec<W>::F f;
    std::memcpy(&f, p, sizeof f);
    *v = __builtin_convertvector(f, typename Vec<W>::D);
  } else {
    std::memcpy(v, p, sizeof *v);
  }
}

constexpr std::size_t kPrefetchBytes = 2048;

template <class T, std::size_t kStep>
[[gnu::always_inline]] inline void prefetch_ahead(const T* p) noexcept {
  const char* line = reinterpret_cast<const char*>(p);
  for (std::size_t b = 0; b < kStep * sizeof(T); b += 64) {
    __builtin_prefetch(line + kPrefetchBytes + b);
  }
}

// L fused extraction levels with sigma[0..L) over x[0..n); L = 0 only scans. prefetch_avail:
// number of elements readable from x on (for the software prefetch).
template <int W, class T, int L>
[[gnu::always_inline]] inline void fused_body(const T* x, std::size_t n,
                                              std::size_t prefetch_avail, const double* sigma,
                                              FusedResult* out) noexcept {
  using D = typename Vec<W>::D;
  using I = typename Vec<W>::I;
  constexpr std::size_t kStep = 2 * W;
  constexpr int kL = L > 0 ? L : 1;
  D s[kL];
  D acc[kL][2];
  for (int k = 0; k < kL; ++k) {
    s[k] = D{} + (L > 0 ? sigma[k] : 0.0);
    acc[k][0] = D{};
    acc[k][1] = D{};
  }
  const I abs_mask = I{} + kAbsMask;
  const I neg_zero = I{} + kNegZeroBits;
  I mx = {}, r_last = {}, r_prev = {}, nz = {};

  // The tail goes through the same loop, zero-padded (+0.0 changes nothing).
  const std::size_t n_main = n - n % kStep;
  T tail[kStep] = {};
  std::memcpy(tail, x + n_main, (n - n_main) * sizeof(T));

  for (int pass = 0; pass < 2; ++pass) {
    const T* p = pass == 0 ? x : tail;
    const std::size_t m = pass == 0 ? n_main : (n_main == n ? 0 : kStep);
    for (std::size_t i = 0; i < m; i += kStep) {
      if (pass == 0 && i + kPrefetchBytes / sizeof(T) < prefetch_avail) {
        prefetch_ahead<T, kStep>(p + i);
      }
      for (int u = 0; u < 2; ++u) {
        D v;
        load<W>(p + i + u * W, &v);
        const I b = (I)v;
        const I a = b & abs_mask;
        mx = a > mx ? a : mx;
        nz += (b == neg_zero);  // -1 per -0.0
        D r = v;
        for (int k = 0; k < L; ++k) {
          const D t = s[k] + r;
          const D q = t - s[k];
          r -= q;
          acc[k][u] += q;
          if (k == L - 2) r_prev |= (I)r;
        }
        r_last |= (I)r;
      }
    }
  }

  for (int k = 0; k < L; ++k) {
    const D a = acc[k][0] + acc[k][1];
    double sum = 0.0;
    for (int j = 0; j < W; ++j) sum += a[j];
    out->q[k] = sum;
  }
  std::int64_t m = 0, rl = 0, rp = 0, z = 0;
  for (int j = 0; j < W; ++j) {
    m = std::max(m, mx[j]);
    rl |= r_last[j];
    rp |= r_prev[j];
    z -= nz[j];
  }
  out->max_abs = m;
  out->r_last = rl;
  out->r_prev = rp;
  out->neg_zeros = z;
}

// One extraction level with the given sigma: r_out[i] = in[i] - q[i]; in may equal r_out.
template <int W, class T>
[[gnu::always_inline]] inline void extract_body(const T* in, std::size_t n, double sigma,
                                                double* r_out, LevelResult* out) noexcept {
  using D = typename Vec<W>::D;
  using I = typename Vec<W>::I;
  constexpr std::size_t kStep = 2 * W;
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
        const I a = (I)r & abs_mask;
        mx = a > mx ? a : mx;
        std::memcpy(ro + i + u * W, &r, sizeof r);
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
  void (*fused_d[kMaxFused + 1])(const double*, std::size_t, std::size_t, const double*,
                                 FusedResult*) noexcept;
  void (*fused_f[kMaxFused + 1])(const float*, std::size_t, std::size_t, const double*,
                                 FusedResult*) noexcept;
  void (*extract_d)(const double*, std::size_t, double, double*, LevelResult*) noexcept;
  void (*extract_f)(const float*, std::size_t, double, double*, LevelResult*) noexcept;

  template <class T>
  auto fused(int levels) const noexcept {
    if constexpr (std::is_same_v<T, float>) {
      return fused_f[levels];
    } else {
      return fused_d[levels];
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
template <class T, int L>
void fused_baseline(const T* x, std::size_t n, std::size_t pf, const double* s,
                    FusedResult* o) noexcept {
  fused_body<2, T, L>(x, n, pf, s, o);
}
template <class T>
void extract_baseline(const T* in, std::size_t n, double s, double* r, LevelResult* o) noexcept {
  extract_body<2, T>(in, n, s, r, o);
}

constexpr Kernels kAvx512Kernels = {
    {&fused_avx512<double, 0>, &fused_avx512<double, 1>, &fused_avx512<double, 2>,
     &fused_avx512<double, 3>, &fused_avx512<double, 4>},
    {&fused_avx512<float, 0>, &fused_avx512<float, 1>, &fused_avx512<float, 2>,
     &fused_avx512<float, 3>, &fused_avx512<float, 4>},
    &extract_avx512<double>,
    &extract_avx512<float>};
constexpr Kernels kAvx2Kernels = {
    {&fused_avx2<double, 0>, &fused_avx2<double, 1>, &fused_avx2<double, 2>,
     &fused_avx2<double, 3>, &fused_avx2<double, 4>},
    {&fused_avx2<float, 0>, &fused_avx2<float, 1>, &fused_avx2<float, 2>, &fused_avx2<float, 3>,
     &fused_avx2<float, 4>},
    &extract_avx2<double>,
    &extract_avx2<float>};
constexpr Kernels kBaselineKernels = {
    {&fused_baseline<double, 0>, &fused_baseline<double, 1>, &fused_baseline<double, 2>,
     &fused_baseline<double, 3>, &fused_baseline<double, 4>},
    {&fused_baseline<float, 0>, &fused_baseline<float, 1>, &fused_baseline<float, 2>,
     &fused_baseline<float, 3>, &fused_baseline<float, 4>},
    &extract_baseline<double>,
    &extract_baseline<float>};

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
// finite, exponent field <= kMaxBlockExponent): 2^emax <= max|x| < 2^(emax+1), S = emax + 12.
int sigma_exponent(std::int64_t max_abs) noexcept {
  const int e = static_cast<int>(max_abs >> 52);
  const int emax = e > 0 ? e - 1023 : (63 - std::countl_zero(static_cast<std::uint64_t>(max_abs))) - 1074;
  return std::max(emax + 12, kMinSigmaExponent);
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
  int guess = -1;  // exponent field every |x| of the block is assumed not to exceed
  int levels = 2;  // levels fused in one pass
  for (std::size_t off = 0; off < x.size(); off += kBlock) {
    const T* p = x.data() + off;
    const std::size_t n = std::min(kBlock, x.size() - off);
    detail::FusedResult res;
    int used = 0;
    if (guess >= 0) {
      double sigma[detail::kMaxFused];
      int s = guess - 1023 + 12;
      for (int k = 0; k < levels; ++k, s -= 42) {
        sigma[k] = detail::pow2(std::max(s, detail::kMinSigmaExponent));
      }
      kern.fused<T>(levels)(p, n, x.size() - off, sigma, &res);
      used = levels;
    } else {
      kern.fused<T>(0)(p, n, x.size() - off, nullptr, &res);
    }
    const int e = static_cast<int>(res.max_abs >> 52);
    if (res.max_abs >= detail::kNonFiniteBits || e > detail::kMaxBlockExponent) {
      // NaN/Inf, or too large for sigma: one term at a time.
      for (std::size_t i = 0; i < n; ++i) add_term(static_cast<double>(p[i]));
      guess = -1;
      continue;
    }
    neg_zero_ += res.neg_zeros;
    if (used > 0 && e <= guess && res.r_last == 0) {
      for (int k = 0; k < used; ++k) add_extracted(res.q[k]);
      if (levels > 1 && res.r_prev == 0) --levels;
    } else if (res.max_abs != 0) {
      // Level by level, from L1. The first level reads the input, later ones r in place.
      detail::LevelResult lr;
      kern.extract<T>()(p, n, detail::pow2(detail::sigma_exponent(res.max_abs)), r, &lr);
      add_extracted(lr.q);
      while (lr.max_abs != 0) {
        kern.extract<double>()(r, n, detail::pow2(detail::sigma_exponent(lr.max_abs)), r, &lr);
        add_extracted(lr.q);
      }
      if (used > 0 && e <= guess) levels = std::min(levels + 1, detail::kMaxFused);
    }
    guess = std::clamp(e + detail::kGuessSlack, 1, detail::kMaxBlockExponent);
  }
  terms_ += static_cast<std::int64_t>(x.size());
}

void ExactAccumulator::add(std::span<const double> x) noexcept { add_blocks(x); }
void ExactAccumulator::add(std::span<const float> x) noexcept { add_blocks(x); }

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
    const auto units = static_cast<std::uint64_t>(c[0]) |
                       (i >= 1 ? static_cast<std::uint64_t>(c[1]) << 32 : 0);
    return sign * std::ldexp(static_cast<double>(units), -1074);
  }
  // A 96-bit window of chunks i, i-1, i-2 (i >= 1) holds the top 53 bits plus a guard bit.
  const auto chunk_at = [&](int j) { return j >= 0 ? static_cast<std::uint64_t>(c[j]) : 0; };
  const detail::U128 window = (static_cast<detail::U128>(chunk_at(i)) << 64) |
                              (static_cast<detail::U128>(chunk_at(i - 1)) << 32) |
                              chunk_at(i - 2);
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
