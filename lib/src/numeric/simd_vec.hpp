// Internal to lib/src/numeric: GCC/Clang vector types of W lanes and the one load both
// summation kernels use. Only pointers and scalars cross function boundaries, so each kernel
// body compiles for every target (avx512f, avx2, baseline) from one source.
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>

namespace parakit::numeric::detail {

template <int W>
struct Vec {
  typedef double D __attribute__((vector_size(W * 8)));
  typedef std::int64_t I __attribute__((vector_size(W * 8)));
  typedef std::uint64_t U __attribute__((vector_size(W * 8)));
  typedef float F __attribute__((vector_size(W * 4)));
};

/// Loads W elements at p (unaligned) as W doubles; floats are widened exactly.
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

}  // namespace parakit::numeric::detail
