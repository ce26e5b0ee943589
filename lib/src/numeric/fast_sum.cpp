#include "parakit/numeric/fast_sum.hpp"

#include "simd_vec.hpp"

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace parakit::numeric {
namespace detail {
namespace {

SimdLevel detect_simd_level() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return SimdLevel::kAvx512;
  if (__builtin_cpu_supports("avx2")) return SimdLevel::kAvx2;
#endif
  return SimdLevel::kBaseline;
}

std::atomic<int>& current_level() noexcept {
  static std::atomic<int> level{static_cast<int>(max_simd_level())};
  return level;
}

// Four vector accumulators hide the add latency. (A software prefetch made it slower: the
// hardware prefetcher handles this single stream better.)
template <int W, class T>
[[gnu::always_inline]] inline double fast_sum_body(const T* x, std::size_t n) noexcept {
  using D = typename Vec<W>::D;
  constexpr std::size_t kStep = std::size_t{4} * W;
  D a0 = {}, a1 = {}, a2 = {}, a3 = {};
  std::size_t i = 0;
  for (; i + kStep <= n; i += kStep) {
    D v0, v1, v2, v3;
    load<W>(x + i, &v0);
    load<W>(x + i + W, &v1);
    load<W>(x + i + 2 * W, &v2);
    load<W>(x + i + 3 * W, &v3);
    a0 += v0;
    a1 += v1;
    a2 += v2;
    a3 += v3;
  }
  const D a = (a0 + a1) + (a2 + a3);
  double s = 0.0;
  for (int j = 0; j < W; ++j) s += a[j];
  for (; i < n; ++i) s += static_cast<double>(x[i]);
  return s;
}

template <class T>
__attribute__((target("avx512f"))) double fast_sum_avx512(const T* x, std::size_t n) noexcept {
  return fast_sum_body<8>(x, n);
}
template <class T>
__attribute__((target("avx2"))) double fast_sum_avx2(const T* x, std::size_t n) noexcept {
  return fast_sum_body<4>(x, n);
}
template <class T>
double fast_sum_baseline(const T* x, std::size_t n) noexcept {
  return fast_sum_body<2>(x, n);
}

template <class T>
double fast_sum_dispatch(std::span<const T> x) noexcept {
  switch (simd_level()) {
    case SimdLevel::kAvx512:
      return fast_sum_avx512(x.data(), x.size());
    case SimdLevel::kAvx2:
      return fast_sum_avx2(x.data(), x.size());
    default:
      return fast_sum_baseline(x.data(), x.size());
  }
}

}  // namespace

SimdLevel max_simd_level() noexcept {
  static const SimdLevel level = detect_simd_level();
  return level;
}

SimdLevel simd_level() noexcept {
  return static_cast<SimdLevel>(current_level().load(std::memory_order_relaxed));
}

void set_simd_level(SimdLevel level) noexcept {
  const int capped = std::min(static_cast<int>(level), static_cast<int>(max_simd_level()));
  current_level().store(capped, std::memory_order_relaxed);
}

}  // namespace detail

double fast_sum(std::span<const double> x) noexcept {
  return detail::fast_sum_dispatch(x);
}
double fast_sum(std::span<const float> x) noexcept {
  return detail::fast_sum_dispatch(x);
}

}  // namespace parakit::numeric
