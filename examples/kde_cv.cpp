// The KDE as a library call: leave-one-out cross-validation picks a Gaussian width for samples
// in a file (or generated ones), then the density at that width on a grid -- the samples
// sharded over the ranks, every result the same bits at any rank and thread count.
//
//   kde_cv [SAMPLES.npy|.csv|.h5]                 (threads; default: 4000 2-D normals)
//   mpirun -np 4 kde_cv [SAMPLES]                 (ranks: each reads its own rows)
//
// Rank 0 prints "h SCORE" for the chosen width, then "x y density" for a 21 x 21 grid over the
// samples' range.
#include <cstdio>

#include "parakit/runtime/program.hpp"
#include "parakit/workloads/kde.hpp"

int main(int argc, char** argv) {
  namespace kde = parakit::kde;
  using parakit::workloads::KdeOptions;
  return parakit::run_program("kde_cv", argc, argv, [](parakit::Team& team, auto args) {
    KdeOptions options;
    options.kernel = kde::Kernel::gaussian;
    if (args.size() > 0) {
      options.input = args[0];
    } else {
      options.samples = 4000;
      options.rng = parakit::workloads::SampleRng::philox;  // each rank draws its own rows
    }
    // 1. The CV: 41 widths log-spaced over a factor 16 around Scott's rule, scored by the
    //    leave-one-out log-likelihood (within the default 1e-12 bound), refined by Brent's
    //    method between the best width's neighbours.
    options.cv = kde::CvMethod::loglik;
    options.cv_optimize = true;
    const auto cv = parakit::workloads::run_kde(team, options);
    const double h = cv.cv->refined_h.value();
    // 2. The density at that width on a grid (default bounds: the samples' range + 10%).
    KdeOptions grid = options;
    grid.cv.reset();
    grid.cv_optimize = false;
    grid.widths = {h};
    grid.grid = parakit::workloads::parse_grid("21x21");
    const auto density = parakit::workloads::run_kde(team, grid);
    if (team.rank() == 0) {
      std::printf("%.17g %.17g\n", h, cv.cv->refined_score);
      for (std::size_t p = 0; p < density.point_count; ++p) {
        std::printf("%.17g %.17g %.17g\n", density.points[2 * p], density.points[2 * p + 1],
                    density.density[p]);
      }
    }
    return 0;
  });
}
