// The Parzen kernel density workload: samples (generated or read), query points (one, a list
// or a grid), a sweep of window widths, optional bandwidth rule and leave-one-out
// cross-validation, computed on any backend.
//
// Distribution: one query point splits the samples, several split the points, and the CV
// splits its query samples, always into chunks of a fixed size (patterns/chunks.hpp) folded in
// chunk order. Hypercube counts are integers, so every result (counts, densities, CV curve,
// chosen width) is bitwise the same for every backend and worker count; smooth-kernel sums
// are too, because the chunking never depends on the team.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "parakit/backend/team.hpp"
#include "parakit/kde/bandwidth.hpp"
#include "parakit/kde/cv.hpp"
#include "parakit/kde/kernels.hpp"

namespace parakit::workloads {

enum class KdeAlgo { automatic, naive, sweep };
KdeAlgo parse_kde_algo(std::string_view name);
std::string_view to_string(KdeAlgo algo) noexcept;

/// How generated samples are drawn: `numpy` is NumPy's legacy RandomState (MT19937 + polar
/// gaussians, as np.random.seed(seed); np.random.multivariate_normal(0, I, n)); `philox` is
/// the counter-based generator of data/generate.hpp.
enum class SampleRng { numpy, philox };
SampleRng parse_sample_rng(std::string_view name);
std::string_view to_string(SampleRng rng) noexcept;

/// A regular grid: cells[t] points per dimension from lo[t] to hi[t] inclusive. Empty bounds
/// mean the samples' range plus 10% on each side.
struct GridSpec {
  std::vector<std::uint64_t> cells;
  std::vector<double> lo, hi;
};
/// Parses "200x200" or "200x200:xmin:xmax:ymin:ymax" (any dimension: "50", "10x10x10:...").
GridSpec parse_grid(std::string_view text);

/// numpy.linspace(start, stop, count): start + i * step, the last one exactly stop.
std::vector<double> linspace(double start, double stop, std::uint64_t count);

/// Parses "start:stop:count" (numpy.linspace, both ends included) or "a,b,c". Throws
/// UsageError naming `what` for malformed text, a count of 0, or widths that are not positive
/// and finite.
std::vector<double> parse_widths(std::string_view text,
                                 std::string_view what = "KdeOptions::widths");

/// Parses "x,y,..." into finite coordinates; throws UsageError naming `what`.
std::vector<double> parse_point(std::string_view text,
                                std::string_view what = "KdeOptions::points");

struct KdeOptions {
  kde::Kernel kernel = kde::Kernel::hypercube;
  KdeAlgo algo = KdeAlgo::automatic;
  // Samples: read from `input` (CSV or .npy), else `samples` x `dim` standard normals.
  std::string input;
  std::uint64_t samples = 10000;
  int dim = 2;
  std::uint64_t seed = 123;
  SampleRng rng = SampleRng::numpy;
  // Queries: `points` (row-major, dim columns), else the grid, else the origin.
  std::vector<double> points;
  int point_dim = 0;          ///< columns of `points` (0: take the samples' dimension)
  std::string points_source;  ///< names the points in messages (default: KdeOptions::points)
  std::optional<GridSpec> grid;
  // Widths: given, else derived (see width_plan in the .cpp), else the seed's 1.0:1.2:100.
  std::vector<double> widths;
  std::optional<kde::BandwidthRule> bandwidth;
  std::optional<kde::CvMethod> cv;
  bool compare_naive = false;
};

struct KdeResult {
  kde::Samples samples;        ///< every rank holds them
  std::vector<double> widths;  ///< as used, in order
  std::vector<double> points;  ///< row-major, samples.cols() columns
  std::uint64_t point_count = 0;
  std::vector<std::uint64_t> grid_cells;  ///< set for a grid
  std::vector<std::uint64_t> counts;      ///< point_count x widths, hypercube only (rank 0)
  std::vector<double> density;            ///< point_count x widths (rank 0)
  std::optional<double> rule_width;       ///< the width KdeOptions::bandwidth's rule gave
  std::optional<kde::CvCurve> cv;         ///< every rank
  KdeAlgo algo = KdeAlgo::sweep;          ///< what ran
  double seconds = 0;                     ///< density kernel, max over ranks
  double cv_seconds = 0;                  ///< CV kernel, max over ranks
  double load_seconds = 0;                ///< generating or reading the samples
  std::optional<double> naive_seconds;    ///< with compare_naive
  bool naive_equal = true;                ///< naive == fast (counts exactly, else 1e-12 rel.)
};

/// Collective over the team; bad input raises AgreedError on every rank.
KdeResult run_kde(Team& team, const KdeOptions& options);

/// The samples the options describe (generated or read), on this process only.
kde::Samples load_samples(const KdeOptions& options);

}  // namespace parakit::workloads
