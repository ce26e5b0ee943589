// A Gaussian kernel density estimate on a grid with the samples sharded over the ranks and the
// results handed over block by block (KdeOptions::on_block), so no process ever holds more
// than its shard of the samples and one block of results:
//
//   kde_blocks [SAMPLES]                  (threads)
//   mpirun -np 4 kde_blocks [SAMPLES]     (ranks)
//
// Rank 0 prints the grid's densities as CSV (x, y, density) and, on stderr, the largest one.
// The densities are the same bits for any number of ranks and threads.
#include <cstdio>

#include "parakit/backend/collective.hpp"
#include "parakit/core/parse.hpp"
#include "parakit/runtime/program.hpp"
#include "parakit/workloads/kde.hpp"

int main(int argc, char** argv) {
  return parakit::run_program("kde_blocks", argc, argv, [](parakit::Team& team, auto args) {
    parakit::workloads::KdeOptions options;
    options.kernel = parakit::kde::Kernel::gaussian;
    options.samples = 100000;
    parakit::collectively(team.comm(), [&] {
      if (!args.empty()) options.samples = parakit::parse_count(args[0], "SAMPLES");
    });
    options.rng = parakit::workloads::SampleRng::philox;  // each rank draws its own rows
    options.grid = parakit::workloads::parse_grid("41x41:-3:3:-3:3");
    options.widths = {0.3};
    options.point_block = 256;  // small blocks, to show the streaming
    options.on_block = [](const parakit::workloads::DensityBlock& block) {
      const auto points = block.density.size();
      for (std::size_t p = 0; p < points; ++p) {
        std::printf("%.6f,%.6f,%.17g\n", block.points[2 * p], block.points[2 * p + 1],
                    block.density[p]);
      }
    };
    const auto result = parakit::workloads::run_kde(team, options);
    if (team.rank() == 0) {
      std::fprintf(stderr,
                   "%llu samples on %d ranks x %d threads: max density %.17g at point %llu\n",
                   static_cast<unsigned long long>(result.n), team.ranks(), team.threads(),
                   result.max_density, static_cast<unsigned long long>(result.max_point));
    }
    return 0;
  });
}
