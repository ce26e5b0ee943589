#include "parakit/workloads/monte_carlo.hpp"

#include <cmath>

#include "parakit/backend/collective.hpp"
#include "parakit/core/error.hpp"
#include "parakit/core/timer.hpp"
#include "parakit/data/philox.hpp"
#include "parakit/patterns/reduce.hpp"

namespace parakit::workloads {

bool in_quarter_circle(std::uint64_t i, std::uint64_t seed) noexcept {
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

PiResult run_pi(Team& team, const PiOptions& options) {
  if (options.samples == 0) throw UsageError("PiOptions::samples must be at least 1");
  team.comm().barrier();
  Stopwatch clock;
  // Each worker counts its block of [0, n); the counts add in any order (integers).
  const std::uint64_t inside = reduce(
      team, options.samples, std::uint64_t{0},
      [&](Worker, IndexRange block) {
        std::uint64_t count = 0;
        for (std::uint64_t i = block.begin; i < block.end; ++i) {
          count += in_quarter_circle(i, options.seed) ? 1 : 0;
        }
        return count;
      },
      ops::plus{});
  PiResult result;
  result.seconds = team.comm().all_reduce(clock.seconds(), ops::max{});
  result.samples = options.samples;
  result.inside = inside;
  const double n = static_cast<double>(options.samples);
  const double q = static_cast<double>(inside) / n;
  result.estimate = 4 * q;
  result.standard_error = 4 * std::sqrt(q * (1 - q) / n);
  return result;
}

}  // namespace parakit::workloads
