// Sums every value of a table file -- .npy, raw float64 .bin, an HDF5 dataset or CSV -- in
// bounded memory with parakit's input layer, on threads or MPI ranks alike:
//
//   stream_sum FILE [DATASET]                  (threads)
//   mpirun -np 4 stream_sum FILE [DATASET]     (ranks; parallel HDF5 for .h5)
//
// Each rank streams only its own part of the file (stream_table), every worker keeps an exact
// accumulator, and the partials are reduced as integer limbs: the printed sum is correctly
// rounded, so it is the same bits for any number of ranks and threads.
#include <cstdio>
#include <vector>

#include "parakit/backend/collective.hpp"
#include "parakit/numeric/exact_sum.hpp"
#include "parakit/patterns/rows.hpp"
#include "parakit/runtime/program.hpp"

int main(int argc, char** argv) {
  return parakit::run_program("stream_sum", argc, argv, [](parakit::Team& team, auto args) {
    parakit::collectively(team.comm(), [&] {
      if (args.empty() || args.size() > 2)
        throw parakit::UsageError("usage: stream_sum FILE [DATASET]");
    });
    using parakit::numeric::ExactAccumulator;
    std::vector<ExactAccumulator> partials(static_cast<std::size_t>(team.threads()));
    parakit::TableSource source;
    source.path = args[0];
    source.dataset = args.size() == 2 ? args[1] : "";
    source.role = "FILE";
    source.finite = false;
    const parakit::TableVisitor visit{[&](parakit::Worker w, std::span<const double> values) {
                                        partials[static_cast<std::size_t>(w.tid)].add(values);
                                      },
                                      [&](parakit::Worker w, std::span<const float> values) {
                                        partials[static_cast<std::size_t>(w.tid)].add(values);
                                      }};
    const std::uint64_t n = parakit::stream_table(team, source, std::uint64_t{1} << 20, visit);
    ExactAccumulator::Wire wire{};
    for (const auto& partial : partials) {
      wire = ExactAccumulator::add_wires(wire, partial.to_wire());
    }
    wire = team.comm().all_reduce(wire, parakit::ops::plus{});
    const double sum = ExactAccumulator::from_wire(wire).round();
    if (team.rank() == 0) {
      std::printf("%llu values, sum %.17g (%a)\n", static_cast<unsigned long long>(n), sum, sum);
    }
    return 0;
  });
}
