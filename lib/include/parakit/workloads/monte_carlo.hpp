// Monte Carlo estimate of pi with the reduce pattern: n points drawn uniformly in the unit
// square, k of them inside the quarter circle x^2 + y^2 < 1, pi ~ 4 k / n. Point i takes its
// coordinates from one Philox4x32-10 block of counter i under the key made from the seed, so
// the points (and k, an integer sum) are the same for every number of ranks and threads.
#pragma once

#include <cstdint>

#include "parakit/backend/team.hpp"
#include "parakit/data/philox.hpp"

namespace parakit::workloads {

struct PiOptions {
  std::uint64_t samples = 10'000'000;  ///< points n, at least 1
  std::uint64_t seed = 42;             ///< the Philox key
};

struct PiResult {
  std::uint64_t samples = 0;
  std::uint64_t inside = 0;   ///< k, the points inside the quarter circle
  double estimate = 0;        ///< 4 k / n
  double standard_error = 0;  ///< 4 sqrt(q (1 - q) / n) with q = k / n
  double seconds = 0;         ///< the counting after a barrier, max over ranks
};

/// Whether point i of the stream `seed` falls inside the quarter circle (each coordinate 53
/// random bits in [0, 1)). Inline: it is the whole of the counting loop's body.
inline bool in_quarter_circle(std::uint64_t i, std::uint64_t seed) noexcept {
  const auto block = data::philox4x32_10(
      {static_cast<std::uint32_t>(i), static_cast<std::uint32_t>(i >> 32), 0, 0},
      data::philox_key(seed));
  const auto unit = [](std::uint32_t lo, std::uint32_t hi) {
    return static_cast<double>(((std::uint64_t{hi} << 32) | lo) >> 11) * 0x1p-53;
  };
  const double x = unit(block[0], block[1]);
  const double y = unit(block[2], block[3]);
  return x * x + y * y < 1.0;
}

/// Collective over the team; the result on every rank. Throws UsageError for zero samples.
PiResult run_pi(Team& team, const PiOptions& options);

}  // namespace parakit::workloads
