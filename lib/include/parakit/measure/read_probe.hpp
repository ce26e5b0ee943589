// The STREAM-like reference for the sum benchmark: the plainest vectorised pass that reads
// every byte of an array (an integer OR over 64-byte vectors, four accumulators, no prefetch
// hints). It does no floating-point work, so it measures what the memory system delivers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace parakit::measure {

namespace detail {
template <int Bytes>
struct Lanes {
  typedef std::uint64_t V __attribute__((vector_size(Bytes)));
};

template <int Bytes>
[[gnu::always_inline]] inline std::uint64_t or_read(const std::byte* p, std::size_t bytes) {
  using V = typename Lanes<Bytes>::V;
  constexpr std::size_t kLane = Bytes;
  V a0 = {}, a1 = {}, a2 = {}, a3 = {};
  std::size_t i = 0;
  for (; i + 4 * kLane <= bytes; i += 4 * kLane) {
    V v0, v1, v2, v3;
    std::memcpy(&v0, p + i, kLane);
    std::memcpy(&v1, p + i + kLane, kLane);
    std::memcpy(&v2, p + i + 2 * kLane, kLane);
    std::memcpy(&v3, p + i + 3 * kLane, kLane);
    a0 |= v0;
    a1 |= v1;
    a2 |= v2;
    a3 |= v3;
  }
  const V a = (a0 | a1) | (a2 | a3);
  std::uint64_t out = 0;
  for (std::size_t j = 0; j < Bytes / 8; ++j) out |= a[j];
  for (; i < bytes; ++i) out |= static_cast<std::uint64_t>(p[i]);
  return out;
}

__attribute__((target("avx512f"))) inline std::uint64_t read_avx512(const std::byte* p,
                                                                    std::size_t n) {
  return or_read<64>(p, n);
}
__attribute__((target("avx2"))) inline std::uint64_t read_avx2(const std::byte* p, std::size_t n) {
  return or_read<32>(p, n);
}
inline std::uint64_t read_sse2(const std::byte* p, std::size_t n) {
  return or_read<16>(p, n);
}
}  // namespace detail

/// Reads every byte of `data` with the widest vectors this CPU has. The result only exists so
/// the compiler cannot drop the loads.
template <class T>
std::uint64_t read_probe(std::span<const T> data) {
  const auto* p = reinterpret_cast<const std::byte*>(data.data());
  const std::size_t bytes = data.size_bytes();
  if (__builtin_cpu_supports("avx512f")) return detail::read_avx512(p, bytes);
  if (__builtin_cpu_supports("avx2")) return detail::read_avx2(p, bytes);
  return detail::read_sse2(p, bytes);
}

}  // namespace parakit::measure
