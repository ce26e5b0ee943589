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
#include <cstdlib>
#include <exception>
#include <optional>

#include "parakit/backend/collective.hpp"
#include "parakit/runtime/environment.hpp"
#include "parakit/workloads/kde.hpp"

int main(int argc, char** argv) {
  // The environment (MPI) outlives the error handling below, so that rank 0's message is out
  // before any rank finalizes MPI and exits.
  std::optional<parakit::Environment> env;
  try {
    env.emplace(parakit::RuntimeOptions{});
  } catch (const std::exception& error) {
    std::fprintf(stderr, "kde_blocks: %s\n", error.what());
    return 2;
  }
  const int rank = env->world().rank();
  try {
    parakit::Team team = env->make_team();
    parakit::workloads::KdeOptions options;
    options.kernel = parakit::kde::Kernel::gaussian;
    options.samples = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 100000;
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
  } catch (const parakit::AgreedError& error) {
    if (rank == 0) std::fprintf(stderr, "kde_blocks: %s\n", error.what());
    return error.exit_code();
  } catch (const std::exception& error) {
    // Seen by this rank alone: end the whole job rather than leave the others waiting.
    std::fprintf(stderr, "kde_blocks: %s\n", error.what());
    if (env->world().size() > 1) env->world().abort(1);
    return 1;
  }
}
