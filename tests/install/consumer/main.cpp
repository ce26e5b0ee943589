// Uses parakit as a library inside an MPI program that owns MPI_Init/MPI_Finalize itself:
// the exact sum of 1..n over the ranks' blocks, checked against the closed form.
#include <mpi.h>

#include <cstdio>
#include <parakit/parakit.hpp>  // the umbrella header, as installed

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int code = 0;
  {
    parakit::Team team(parakit::Comm::from_mpi(MPI_COMM_WORLD), 2);  // the backend: mpi
    const std::uint64_t n = 1000001;
    using Wire = parakit::numeric::ExactAccumulator::Wire;
    const Wire wire = parakit::reduce_blocks<Wire>(
        team, n, Wire{},
        [](parakit::Worker, parakit::IndexRange block) {
          parakit::numeric::ExactAccumulator acc;
          for (std::uint64_t i = block.begin; i < block.end; ++i)
            acc.add(static_cast<double>(i + 1));
          return acc.to_wire();
        },
        parakit::numeric::ExactAccumulator::add_wires, parakit::ops::plus{});
    const double sum = parakit::numeric::ExactAccumulator::from_wire(wire).round();
    const double expected = static_cast<double>(n) * static_cast<double>(n + 1) / 2;
    if (team.rank() == 0) {
      std::printf("parakit %s consumer: %d ranks x %d threads, sum %.17g (expected %.17g)\n",
                  parakit::kVersion, team.ranks(), team.threads(), sum, expected);
    }
    code = sum == expected ? 0 : 1;
  }
  MPI_Finalize();
  return code;
}
