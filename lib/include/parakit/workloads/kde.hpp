// The Parzen kernel density workload: samples (generated or read), query points (one, a list
// or a grid), a sweep of window widths, optional bandwidth rule and leave-one-out
// cross-validation, computed on any backend.
//
// Distribution: the samples are sharded, each rank holding only its own rows (read with
// patterns/rows.hpp or generated from the global row index), in whole chunks of
// kde::chunk_rows(n) rows. Query points are on every rank; each rank adds its rows' share of
// every density and the shares are summed across ranks: hypercube counts are integers, and
// smooth-kernel sums are per-chunk ordered sums added into order-independent accumulators
// (kde/chunk_sums.hpp). Leave-one-out CV passes the shards around a ring of ranks. So every
// result (counts, densities, CV curve, chosen width) is bitwise the same for every backend,
// rank count and thread count. Global quantities (n, the samples' range, their variances) come
// from exact collectives.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "parakit/backend/team.hpp"
#include "parakit/core/progress.hpp"
#include "parakit/kde/bandwidth.hpp"
#include "parakit/kde/binned.hpp"
#include "parakit/kde/cv.hpp"
#include "parakit/kde/kernels.hpp"
#include "parakit/kde/pruned_sums.hpp"
#include "parakit/patterns/rows.hpp"

namespace parakit::workloads {

/// How hypercube counts are found: `naive` is the plain loop (the reference), `sweep` scans
/// the samples in a band along one coordinate, `range` counts rectangles by an offline sweep
/// (1-D and 2-D samples, kde/range_counter.hpp), `tree` counts whole nodes of a k-d tree (any
/// dimension, kde/range_tree.hpp); `automatic` takes range (d <= 2) or tree for many points
/// and the sweep for a few. Smooth kernels have `naive` and a fast path (any other value).
enum class KdeAlgo { automatic, naive, sweep, tree, range };
KdeAlgo parse_kde_algo(std::string_view name);
std::string_view to_string(KdeAlgo algo) noexcept;

/// How generated samples are drawn: `numpy` is NumPy's legacy RandomState (MT19937 + polar
/// gaussians, as np.random.seed(seed); np.random.multivariate_normal(0, I, n)), a sequential
/// stream that rank 0 draws and sends to each rank in blocks; `philox` is the counter-based
/// generator of data/generate.hpp, which every rank runs for its own rows.
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

/// One block of query points and their results, handed to KdeOptions::on_block on rank 0,
/// blocks in point order.
struct DensityBlock {
  std::uint64_t first_point = 0;          ///< global index of the block's first point
  std::uint64_t point_count = 0;          ///< points in all blocks together
  int dim = 0;                            ///< coordinates per point
  std::span<const double> widths;         ///< the widths, in order
  std::span<const double> points;         ///< the block's points, row-major
  std::span<const std::uint64_t> counts;  ///< hypercube: points x widths; else empty
  std::span<const double> density;        ///< points x widths
  /// points x widths, the natural logs of the densities, finite where a density underflows
  /// (smooth kernels with KdeOptions::log_density; else empty)
  std::span<const double> log_density;
};

struct KdeOptions {
  kde::Kernel kernel = kde::Kernel::hypercube;
  KdeAlgo algo = KdeAlgo::automatic;
  // Samples: read from `input` (CSV, .npy, HDF5 or raw float64 with `cols` columns), else
  // `samples` x `dim` standard normals.
  std::string input;
  std::uint64_t cols = 0;  ///< columns of a raw float64 `input`
  std::string dataset;     ///< the dataset of an HDF5 `input`; empty: its only dataset
  /// Sample weights: one per sample (a one-column table of as many rows, in any format
  /// `input` takes), each finite and >= 0, not all 0. Every density is then
  /// sum_i w_i K(x - x_i) / sum_i w_i, for every kernel and mode; path empty: every weight 1.
  TableSource weights;
  std::uint64_t samples = 10000;
  int dim = 2;
  std::uint64_t seed = 123;
  SampleRng rng = SampleRng::numpy;
  // Queries: the grid, else `points_file`, else `points` (row-major, dim columns), else the
  // origin. They are processed in blocks of `point_block` points, so a file of millions of
  // points needs memory for one block only (each rank reads its rows of the file; a block's
  // owner broadcasts it).
  std::vector<double> points;
  int point_dim = 0;          ///< columns of `points` (0: take the samples' dimension)
  std::string points_source;  ///< names the points in messages (default: KdeOptions::points)
  TableSource points_file;    ///< query points from a file (path empty: none)
  std::optional<GridSpec> grid;
  std::uint64_t point_block = 0;  ///< points per block (0: a block fits about 64 MiB)
  /// Rank 0 gets each block's densities here, in point order, instead of KdeResult holding
  /// every point's (KdeResult::points, counts and density then stay empty).
  std::function<void(const DensityBlock&)> on_block;
  // Widths: given, else derived (see width_plan in the .cpp), else 1.0:1.2:100 (100 widths).
  std::vector<double> widths;
  std::optional<kde::BandwidthRule> bandwidth;
  std::optional<kde::CvMethod> cv;
  /// Smooth kernels: refine the CV's best width by Brent's method on log h between its
  /// neighbours in the sweep (to 1e-9 in log h; kde::CvCurve::refined_h).
  bool cv_optimize = false;
  /// Smooth kernels: every density within bound.atol + bound.rtol * density of the sum over
  /// all samples (kde/pruned_sums.hpp); samples farther away are skipped. The fast path sorts
  /// the samples spatially first (KdeResult::samples is then in that order).
  kde::ErrorBound bound;
  bool log_density = false;  ///< also hand on each density's logarithm (DensityBlock)
  /// Smooth kernels in 1-D to 3-D: the binned approximation instead (kde/binned.hpp), with
  /// `bin_cells` grid points per dimension (0: chosen from the widths); densities at points
  /// and the loglik CV. The result states an error estimate (KdeResult::binned).
  bool binned = false;
  std::uint64_t bin_cells = 0;
  /// A bandwidth matrix instead of one width: `dim_scale` multiplies every width along each
  /// dimension (diagonal); `data_covariance` (Gaussian) makes the kernel covariance h^2 times
  /// the samples' covariance (ddof 1), SciPy gaussian_kde's convention, so that h is a factor
  /// (Scott's rule then gives n^(-1/(d+4))). Both are computed in transformed coordinates
  /// x' = D^-1 L^-1 x (L the covariance's Cholesky factor, D = diag(dim_scale)), where the
  /// kernel is isotropic; densities are divided by det(D L), and every rule, reach and grid
  /// works there. Points and grids stay in the samples' coordinates.
  std::vector<double> dim_scale;
  bool data_covariance = false;
  bool compare_naive = false;
  /// A progress line: query points done of the total (with the query block), then the
  /// cross-validation's query blocks done (with the ring step and the batch of widths). Enable
  /// it on one process only: on several ranks it reports that rank's own share (the shares
  /// are balanced).
  ProgressOptions progress;
};

struct KdeResult {
  /// This rank's rows: those of [first_row, first_row + samples.rows()) as loaded, reordered by
  /// the counting index; with KdeAlgo::range in 2-D on several ranks, a slab of the first
  /// coordinate instead (the rows moved between ranks: first_row then numbers the slabs' rows);
  /// for the smooth kernels' fast path, rows first_row... of the samples in Z-order
  /// (sort_rows_spatially).
  kde::Samples samples;
  std::uint64_t n = 0;  ///< samples on all ranks
  int dim = 0;          ///< their dimension
  std::uint64_t first_row = 0;
  std::vector<double> plot_samples;  ///< rank 0: up to 5000 rows spread over all (row-major)
  std::vector<double> widths;        ///< as used, in order
  std::vector<double> points;        ///< rank 0: row-major, dim columns (empty with on_block)
  std::uint64_t point_count = 0;
  std::vector<std::uint64_t> grid_cells;  ///< set for a grid
  std::vector<std::uint64_t> counts;  ///< rank 0: point_count x widths, hypercube (not on_block)
  std::vector<double> density;        ///< rank 0: point_count x widths (not with on_block)
  double max_density = 0;             ///< rank 0: the largest density (first in point order)
  std::uint64_t max_point = 0;        ///< rank 0: at this point
  std::size_t max_width = 0;          ///< rank 0: and this width
  std::optional<double> rule_width;   ///< the width KdeOptions::bandwidth's rule gave
  /// With KdeOptions::weights: their total, Kish's effective sample size
  /// (sum w)^2 / sum w^2 (which the bandwidth rules take for n), and how many samples had
  /// weight 0: those are left out (KdeResult::n counts the others).
  struct Weights {
    double total = 0;
    double effective = 0;
    std::uint64_t dropped = 0;
  };
  std::optional<Weights> weights;
  /// log |det A| of the bandwidth matrix's transform (KdeOptions::dim_scale, data_covariance;
  /// 0 without one): samples is then in the transformed coordinates
  double log_det = 0;
  std::optional<kde::CvCurve> cv;  ///< every rank
  struct Binned {
    /// per width, the binning grid's points per dimension
    std::vector<std::vector<std::uint64_t>> cells;
    /// rank 0: the largest relative difference to the sum over all samples, over up to 64
    /// samples' positions spread over the data (fewer past 2 million samples: about 2^27 / n),
    /// as many points two widths off them, and every width, where that density is at least
    /// 1e-3 of the largest checked (not in KdeResult::seconds)
    double error_estimate = 0;
    std::uint64_t checked = 0;  ///< the positions checked
  };
  std::optional<Binned> binned;
  KdeAlgo algo = KdeAlgo::sweep;        ///< what ran
  double seconds = 0;                   ///< density kernel, max over ranks
  double cv_seconds = 0;                ///< CV kernel, max over ranks
  double load_seconds = 0;              ///< generating or reading the samples
  std::optional<double> naive_seconds;  ///< with compare_naive
  bool naive_equal = true;  ///< naive == fast (counts exactly, densities within the bound)
};

/// Collective over the team; bad input raises AgreedError on every rank.
KdeResult run_kde(Team& team, const KdeOptions& options);

}  // namespace parakit::workloads
