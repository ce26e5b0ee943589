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
#include <exception>
#include <optional>
#include <vector>

#include "parakit/backend/collective.hpp"
#include "parakit/numeric/exact_sum.hpp"
#include "parakit/patterns/rows.hpp"
#include "parakit/runtime/environment.hpp"

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: stream_sum FILE [DATASET]\n");
    return 2;
  }
  // The environment (MPI) outlives the error handling below, so that rank 0's message is out
  // before any rank finalizes MPI and exits.
  std::optional<parakit::Environment> env;
  try {
    env.emplace(parakit::RuntimeOptions{});
  } catch (const std::exception& error) {
    std::fprintf(stderr, "stream_sum: %s\n", error.what());
    return 2;
  }
  const int rank = env->world().rank();
  try {
    parakit::Team team = env->make_team();
    using parakit::numeric::ExactAccumulator;
    std::vector<ExactAccumulator> partials(static_cast<std::size_t>(team.threads()));
    parakit::TableSource source;
    source.path = argv[1];
    source.dataset = argc == 3 ? argv[2] : "";
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
  } catch (const parakit::AgreedError& error) {
    if (rank == 0) std::fprintf(stderr, "stream_sum: %s\n", error.what());
    return error.exit_code();
  } catch (const std::exception& error) {
    // Seen by this rank alone: end the whole job rather than leave the others waiting.
    std::fprintf(stderr, "stream_sum: %s\n", error.what());
    if (env->world().size() > 1) env->world().abort(1);
    return 1;
  }
}
