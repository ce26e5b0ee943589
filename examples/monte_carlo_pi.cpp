// Monte Carlo pi with the reduce pattern: n points in the unit square, counted inside the
// quarter circle, pi ~ 4 k / n. Point i draws its coordinates from a Philox counter of i alone
// (workloads::in_quarter_circle), so the points (and k) are the same whatever the number of
// ranks and threads; `parakit pi` is the same count as a library call (workloads::run_pi):
//
//   monte_carlo_pi [N] [SEED]                    (threads)
//   mpirun -np 4 monte_carlo_pi [N] [SEED]       (ranks; PARAKIT_THREADS=2: hybrid)
//
// Prints "N K PI_ESTIMATE" on rank 0.
#include <cstdint>
#include <cstdio>

#include "parakit/backend/collective.hpp"
#include "parakit/core/parse.hpp"
#include "parakit/patterns/reduce.hpp"
#include "parakit/runtime/program.hpp"
#include "parakit/workloads/monte_carlo.hpp"

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
          for (std::uint64_t i = block.begin; i < block.end; ++i)
            count += parakit::workloads::in_quarter_circle(i, seed) ? 1 : 0;
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
