// Philox4x32-10 counter-based random number generator (Salmon, Moraes, Dror,
// Shaw, "Parallel random numbers: as easy as 1, 2, 3", SC'11), with the
// constants of the Random123 reference implementation. Output depends only on
// (counter, key), so any element of a random stream can be computed directly.
#pragma once

#include <array>
#include <cstdint>

namespace parakit::data {

using PhiloxCounter = std::array<std::uint32_t, 4>;
using PhiloxKey = std::array<std::uint32_t, 2>;

namespace detail {

inline constexpr std::uint32_t kPhiloxM0 = 0xD2511F53u;  // multiplier, words 0/1
inline constexpr std::uint32_t kPhiloxM1 = 0xCD9E8D57u;  // multiplier, words 2/3
inline constexpr std::uint32_t kPhiloxW0 = 0x9E3779B9u;  // key bump (golden ratio)
inline constexpr std::uint32_t kPhiloxW1 = 0xBB67AE85u;  // key bump (sqrt(3) - 1)

/// One Philox S-box/P-box round on ctr with round key k.
constexpr void philox_round(std::uint32_t& c0, std::uint32_t& c1, std::uint32_t& c2,
                            std::uint32_t& c3, std::uint32_t k0, std::uint32_t k1) {
  const std::uint64_t p0 = std::uint64_t{kPhiloxM0} * c0;
  const std::uint64_t p1 = std::uint64_t{kPhiloxM1} * c2;
  const auto hi0 = static_cast<std::uint32_t>(p0 >> 32);
  const auto lo0 = static_cast<std::uint32_t>(p0);
  const auto hi1 = static_cast<std::uint32_t>(p1 >> 32);
  const auto lo1 = static_cast<std::uint32_t>(p1);
  c0 = hi1 ^ c1 ^ k0;
  c1 = lo1;
  c2 = hi0 ^ c3 ^ k1;
  c3 = lo0;
}

}  // namespace detail

/// Philox4x32 with 10 rounds: a bijection of the 128-bit counter for each
/// 64-bit key. Bit-exact with Random123's philox4x32_R(10, ctr, key).
constexpr PhiloxCounter philox4x32_10(PhiloxCounter ctr, PhiloxKey key) {
  std::uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
  std::uint32_t k0 = key[0], k1 = key[1];
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      k0 += detail::kPhiloxW0;
      k1 += detail::kPhiloxW1;
    }
    detail::philox_round(c0, c1, c2, c3, k0, k1);
  }
  return {c0, c1, c2, c3};
}

/// The Philox key for a 64-bit seed: low word first.
constexpr PhiloxKey philox_key(std::uint64_t seed) {
  return {static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32)};
}

}  // namespace parakit::data
