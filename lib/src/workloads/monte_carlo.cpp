#include "parakit/workloads/monte_carlo.hpp"

#include <cmath>

#include "parakit/backend/collective.hpp"
#include "parakit/core/error.hpp"
#include "parakit/core/timer.hpp"
#include "parakit/patterns/reduce.hpp"

namespace parakit::workloads {

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
