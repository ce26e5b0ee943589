// The exact sum as a library type: numeric::ExactAccumulator keeps every bit of a sum, so the
// total of values of wildly different magnitudes, whose double sum depends on the order it is
// added in, comes out correctly rounded -- the same bits for any number of ranks and threads.
//
//   exact_sum [N]                    (threads)
//   mpirun -np 4 exact_sum [N]       (ranks)
//
// Value i is (-1)^i (1 + (i mod 7) 2^-52) 2^((i mod 64) - 32). Each worker adds its block into
// an accumulator; the accumulators travel as integer wires, added across threads and then
// across ranks by one integer all-reduce. Rank 0 prints "N EXACT PLAIN", the exact sum and a
// plain double reduction of the same values for comparison (hex floats).
#include <cmath>
#include <cstdint>
#include <cstdio>

#include "parakit/backend/collective.hpp"
#include "parakit/core/parse.hpp"
#include "parakit/numeric/exact_sum.hpp"
#include "parakit/patterns/reduce.hpp"
#include "parakit/runtime/program.hpp"

namespace {

double value(std::uint64_t i) {
  const double mantissa = 1.0 + static_cast<double>(i % 7) * 0x1p-52;
  const double x = std::ldexp(mantissa, static_cast<int>(i % 64) - 32);
  return i % 2 == 0 ? x : -x;
}

}  // namespace

int main(int argc, char** argv) {
  using parakit::numeric::ExactAccumulator;
  return parakit::run_program("exact_sum", argc, argv, [](parakit::Team& team, auto args) {
    std::uint64_t n = 1'000'003;
    parakit::collectively(team.comm(), [&] {
      if (args.size() > 0) n = parakit::parse_count(args[0], "N");
    });
    const auto wire = parakit::reduce_blocks(
        team, n, ExactAccumulator::Wire{},
        [](parakit::Worker, parakit::IndexRange block) {
          ExactAccumulator sum;
          for (std::uint64_t i = block.begin; i < block.end; ++i) sum.add(value(i));
          return sum.to_wire();
        },
        &ExactAccumulator::add_wires, parakit::ops::plus{});
    const double exact = ExactAccumulator::from_wire(wire).round();
    const double plain = parakit::reduce(
        team, n, 0.0,
        [](parakit::Worker, parakit::IndexRange block) {
          double sum = 0;
          for (std::uint64_t i = block.begin; i < block.end; ++i) sum += value(i);
          return sum;
        },
        parakit::ops::plus{});
    if (team.rank() == 0)
      std::printf("%llu %a %a\n", static_cast<unsigned long long>(n), exact, plain);
    return 0;
  });
}
