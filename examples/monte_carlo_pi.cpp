// Monte Carlo pi with the reduce pattern: n points in the unit square, counted inside the
// quarter circle, pi ~ 4 k / n. Point i draws its coordinates from a Philox counter of i alone,
// so the points (and k) are the same whatever the number of ranks and threads:
//
//   monte_carlo_pi [N] [SEED]                    (threads)
//   mpirun -np 4 monte_carlo_pi [N] [SEED]       (ranks; PARAKIT_THREADS=2: hybrid)
//
// Prints "N K PI_ESTIMATE" on rank 0.
#include <cstdint>
#include <cstdio>

#include "parakit/backend/collective.hpp"
#include "parakit/core/parse.hpp"
#include "parakit/data/philox.hpp"
#include "parakit/patterns/reduce.hpp"
#include "parakit/runtime/program.hpp"

namespace {

/// Point i's coordinates, each 53 random bits in [0, 1).
bool inside(std::uint64_t i, std::uint64_t seed) {
  using namespace parakit::data;
  const auto c = philox4x32_10(
      {static_cast<std::uint32_t>(i), static_cast<std::uint32_t>(i >> 32), 0, 0}, philox_key(seed));
  const auto unit = [](std::uint32_t lo, std::uint32_t hi) {
    return static_cast<double>(((std::uint64_t{hi} << 32) | lo) >> 11) * 0x1p-53;
  };
  const double x = unit(c[0], c[1]), y = unit(c[2], c[3]);
  return x * x + y * y < 1.0;
}

}  // namespace

int main(int argc, char** argv) {
  return parakit::run_program("monte_carlo_pi", argc, argv, [](parakit::Team& team, auto args) {
    std::uint64_t n = 10'000'000, seed = 42;
    parakit::collectively(team.comm(), [&] {  // a bad argument: one message, every rank exits
      if (args.size() > 0) n = parakit::parse_count(args[0], "N");
      if (args.size() > 1) seed = parakit::parse_count(args[1], "SEED");
      if (n == 0) throw parakit::UsageError("N must be at least 1");
    });
    // Each worker counts its block of [0, n); the counts add in any order (integers).
    const std::uint64_t k = parakit::reduce(
        team, n, std::uint64_t{0},
        [&](parakit::Worker, parakit::IndexRange block) {
          std::uint64_t count = 0;
          for (std::uint64_t i = block.begin; i < block.end; ++i) count += inside(i, seed) ? 1 : 0;
          return count;
        },
        parakit::ops::plus{});
    if (team.rank() == 0) {
      std::printf("%llu %llu %.12f\n", static_cast<unsigned long long>(n),
                  static_cast<unsigned long long>(k),
                  4.0 * static_cast<double>(k) / static_cast<double>(n));
    }
    return 0;
  });
}
