#include "parakit/workloads/kde.hpp"

#include <Eigen/Cholesky>
#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numbers>
#include <sstream>
#include <string>

#include "parakit/backend/collective.hpp"
#include "parakit/core/buffer.hpp"
#include "parakit/core/error.hpp"
#include "parakit/core/parse.hpp"
#include "parakit/core/progress.hpp"
#include "parakit/core/system.hpp"
#include "parakit/core/timer.hpp"
#include "parakit/data/generate.hpp"
#include "parakit/data/numpy_random.hpp"
#include "parakit/kde/chunk_sums.hpp"
#include "parakit/kde/isj.hpp"
#include "parakit/kde/neighbors.hpp"
#include "parakit/kde/range_counter.hpp"
#include "parakit/kde/range_tree.hpp"
#include "parakit/numeric/binned_sum.hpp"
#include "parakit/numeric/exact_sum.hpp"
#include "parakit/patterns/reduce.hpp"
#include "parakit/patterns/rows.hpp"

namespace parakit::workloads {
namespace {

using kde::Kernel;
using kde::Samples;

/// Message tags of the sample scatter (numpy rng) and the CV ring.
constexpr int kScatterTag = 7410;
constexpr int kRingTag = 7411;
/// Values per message when rank 0 scatters sequentially generated samples.
constexpr std::uint64_t kScatterValues = std::uint64_t{1} << 20;

/// The kernel's width that has the standard deviation of a unit gaussian (hypercube: side
/// sqrt(12); epanechnikov, support radius sqrt(5)), so a rule of thumb centres any kernel.
double equivalent_width(Kernel kernel) {
  switch (kernel) {
    case Kernel::hypercube:
      return std::sqrt(12.0);
    case Kernel::epanechnikov:
      return std::sqrt(5.0);
    case Kernel::gaussian:
      return 1.0;
  }
  return 1.0;
}

double max_over_ranks(const Comm& comm, double seconds) {
  return comm.all_reduce(seconds, ops::max{});
}

// ------------------------------------------------------------------ the samples, sharded

/// Rows of generated samples: Philox from each row's global index on every rank at once, or
/// NumPy's sequential stream drawn by rank 0 and sent to each rank in blocks.
void generate_shard(const Comm& comm, const KdeOptions& options, RowShard& shard) {
  const std::uint64_t d = shard.cols;
  std::span<double> mine(shard.values.data(), static_cast<std::size_t>(shard.values.size()));
  if (options.rng == SampleRng::philox) {
    data::generate(data::Dist::normal, options.seed, shard.mine().begin * d, mine);
    return;
  }
  if (comm.rank() != 0) {
    for (std::uint64_t at = 0; at < mine.size(); at += kScatterValues) {
      const std::size_t offset = at;
      const std::size_t length = std::min<std::uint64_t>(kScatterValues, mine.size() - at);
      comm.receive_pieces(mine.data(), std::span(&offset, 1), std::span(&length, 1), 0,
                          kScatterTag);
    }
    return;
  }
  data::NumpyRandomState state(options.seed);
  std::vector<double> block;
  for (int r = 0; r < comm.size(); ++r) {
    const std::uint64_t values = shard.layout.of(r).size() * d;
    for (std::uint64_t at = 0; at < values; at += kScatterValues) {
      block.resize(std::min(kScatterValues, values - at));
      for (double& x : block) x = state.standard_normal();
      if (r == 0) {
        std::copy(block.begin(), block.end(), mine.begin() + static_cast<std::ptrdiff_t>(at));
      } else {
        const std::span<const double> piece(block);
        comm.send_pieces(std::span(&piece, 1), r, kScatterTag);
      }
    }
  }
}

/// This rank's rows of the samples, read or generated, laid out in whole chunks
/// (kde::chunk_rows) so that chunk sums do not depend on the layout.
RowShard load_shard(const Comm& comm, const KdeOptions& options) {
  if (!options.input.empty()) {
    return read_rows(comm, {options.input, options.cols, options.dataset, "KdeOptions::input"},
                     [](std::uint64_t n) { return kde::chunk_rows(n); });
  }
  RowShard shard;
  collectively(comm, [&] {
    if (options.samples == 0) throw UsageError("KdeOptions::samples must be at least 1");
    if (options.dim < 1) throw UsageError("KdeOptions::dim must be at least 1");
    if (options.rng == SampleRng::numpy) data::NumpyRandomState check(options.seed);
    shard.rank = comm.rank();
    shard.cols = static_cast<std::uint64_t>(options.dim);
    shard.layout =
        RowLayout::aligned_blocks(options.samples, comm.size(), kde::chunk_rows(options.samples));
    const auto share = comm.node_share();
    require_memory(static_cast<long double>(shard.rows()) * options.dim * 8 * share.ranks_on_node,
                   "KdeOptions::samples");
    shard.values.resize(static_cast<Eigen::Index>(shard.rows()), options.dim);
  });
  generate_shard(comm, options, shard);
  return shard;
}

/// Every column's smallest and largest value over all ranks (MPI_MIN/MAX: exact).
void column_ranges(const Comm& comm, const Samples& local, std::vector<double>& lo,
                   std::vector<double>& hi) {
  const auto d = static_cast<std::size_t>(local.cols());
  lo.assign(d, std::numeric_limits<double>::infinity());
  hi.assign(d, -std::numeric_limits<double>::infinity());
  if (local.rows() > 0) {
    for (std::size_t t = 0; t < d; ++t) {
      lo[t] = local.col(static_cast<Eigen::Index>(t)).minCoeff();
      hi[t] = local.col(static_cast<Eigen::Index>(t)).maxCoeff();
    }
  }
  comm.all_reduce_in_place(std::span<double>(lo), ops::min{});
  comm.all_reduce_in_place(std::span<double>(hi), ops::max{});
}

/// KdeOptions::weights, divided by the largest so that every weight is in [0, 1] and a
/// weighted term is never larger than an unweighted one (the sums' error bounds hold as
/// they are); densities divide by their total instead of n.
struct SampleWeights {
  bool weighted = false;
  std::vector<double> local;  // this rank's rows' weights, in the rows' order
  double mass = 0;            // their sum over all ranks (exact, correctly rounded)
  double smallest = 1;        // the smallest
  double largest = 1;         // the largest weight as given (the scale)
  double squares = 0;         // the sum of their squares (exact, correctly rounded)
  double effective = 0;       // Kish's effective sample size (sum w)^2 / sum w^2
  std::uint64_t dropped = 0;  // samples of weight 0, left out (drop_zero_weights)
};

/// For k < count, the sum over every rank's rows i of term(i, k), exactly (correctly rounded,
/// ExactAccumulator wires added as integers): the same bits for any layout. Needs no copy of
/// the rows.
template <class Term>
std::vector<double> exact_row_sums(const Comm& comm, std::uint64_t rows, std::size_t count,
                                   Term term) {
  std::vector<std::int64_t> wires;
  std::vector<double> buffer;
  for (std::size_t k = 0; k < count; ++k) {
    numeric::ExactAccumulator sum;
    for (std::uint64_t i0 = 0; i0 < rows; i0 += 4096) {
      buffer.clear();
      for (std::uint64_t i = i0; i < std::min(rows, i0 + 4096); ++i) buffer.push_back(term(i, k));
      sum.add(std::span<const double>(buffer));
    }
    const auto wire = sum.to_wire();
    wires.insert(wires.end(), wire.begin(), wire.end());
  }
  comm.all_reduce_in_place(std::span<std::int64_t>(wires), ops::plus{});
  return kde::column_sums(wires);
}

/// The samples' covariance matrix, weighted as NumPy's cov(aweights=w, ddof=1) and SciPy's
/// gaussian_kde weigh it: sum_i w_i (x_i - m)(x_i - m)^T / (sum w - sum w^2 / sum w), m the
/// weighted mean sum_i w_i x_i / sum w; without weights (w_i = 1 exactly) the plain ddof-1
/// covariance. From exact sums: the same bits for any layout. `diagonal_only`: the variances.
Eigen::MatrixXd sample_covariance(const Comm& comm, const Samples& local,
                                  const SampleWeights& weights, bool diagonal_only = false) {
  const Eigen::Index d = local.cols();
  const auto rows = static_cast<std::uint64_t>(local.rows());
  auto w = [&](std::uint64_t i) { return weights.weighted ? weights.local[i] : 1.0; };
  auto x = [&](std::uint64_t i, Eigen::Index t) { return local(static_cast<Eigen::Index>(i), t); };
  auto mean = exact_row_sums(
      comm, rows, static_cast<std::size_t>(d),
      [&](std::uint64_t i, std::size_t t) { return w(i) * x(i, static_cast<Eigen::Index>(t)); });
  for (double& m : mean) m /= weights.mass;
  std::vector<std::pair<Eigen::Index, Eigen::Index>> pairs;
  for (Eigen::Index s = 0; s < d; ++s) {
    for (Eigen::Index t = s; t < (diagonal_only ? s + 1 : d); ++t) pairs.emplace_back(s, t);
  }
  const auto sums = exact_row_sums(comm, rows, pairs.size(), [&](std::uint64_t i, std::size_t k) {
    const auto [s, t] = pairs[k];
    return w(i) * ((x(i, s) - mean[static_cast<std::size_t>(s)]) *
                   (x(i, t) - mean[static_cast<std::size_t>(t)]));
  });
  const double divisor = weights.mass - weights.squares / weights.mass;
  Eigen::MatrixXd cov = Eigen::MatrixXd::Zero(d, d);
  for (std::size_t k = 0; k < pairs.size(); ++k)
    cov(pairs[k].first, pairs[k].second) = cov(pairs[k].second, pairs[k].first) = sums[k] / divisor;
  return cov;
}

/// Column variances (as sample_covariance's diagonal).
std::vector<double> column_variances(const Comm& comm, const Samples& local,
                                     const SampleWeights& weights) {
  const Eigen::VectorXd diagonal = sample_covariance(comm, local, weights, true).diagonal();
  return {diagonal.data(), diagonal.data() + diagonal.size()};
}

/// Up to `most` rows spread evenly over all samples, on rank 0 (for plots).
std::vector<double> subsample(const Comm& comm, const Samples& local, std::uint64_t first,
                              std::uint64_t n, std::uint64_t most) {
  const std::uint64_t stride = std::max<std::uint64_t>(1, (n + most - 1) / most);
  const auto rows = static_cast<std::uint64_t>(local.rows());
  std::vector<double> picked;
  for (std::uint64_t g = (first + stride - 1) / stride * stride; g < first + rows; g += stride) {
    const auto row = local.row(static_cast<Eigen::Index>(g - first));
    picked.insert(picked.end(), row.begin(), row.end());
  }
  return comm.gather_concat(std::span<const double>(picked), 0);
}

// ------------------------------------------------------------------ bandwidth matrices

/// x' = A x for a bandwidth matrix: A = D^-1 L^-1 (see KdeOptions::dim_scale). Empty when the
/// kernel is isotropic in the samples' own coordinates.
struct SampleTransform {
  Eigen::MatrixXd a;   // d x d
  double log_det = 0;  // log |det A|: densities are multiplied by |det A|

  bool active() const noexcept { return a.size() > 0; }
  /// Rows (row-major, d values each) mapped in place.
  void apply(double* rows, std::uint64_t count, Eigen::Index d) const {
    if (!active()) return;
    Eigen::Map<Samples> m(rows, static_cast<Eigen::Index>(count), d);
    m = (m * a.transpose()).eval();
  }
};

/// The transform KdeOptions asks for (collective: the covariance's sums).
SampleTransform plan_transform(const Comm& comm, const KdeOptions& options, const Samples& local,
                               std::uint64_t n, const SampleWeights& weights) {
  const auto d = static_cast<std::size_t>(local.cols());
  SampleTransform transform;
  std::optional<Eigen::MatrixXd> cov;
  if (options.data_covariance && n >= 2) cov = sample_covariance(comm, local, weights);
  collectively(comm, [&] {
    if (!options.dim_scale.empty() && options.dim_scale.size() != d) {
      throw UsageError("KdeOptions::dim_scale has " + std::to_string(options.dim_scale.size()) +
                       " values but the samples have " + std::to_string(d) + " dimensions");
    }
    for (const double s : options.dim_scale) {
      if (!(s > 0) || !std::isfinite(s))
        throw UsageError("KdeOptions::dim_scale values must be positive and finite");
    }
    if (options.data_covariance && options.kernel != Kernel::gaussian)
      throw UsageError("KdeOptions::data_covariance is for the gaussian kernel");
    if (options.data_covariance && n < 2)
      throw InputError("KdeOptions::data_covariance needs at least 2 samples");
    if (!cov && options.dim_scale.empty()) return;
    const auto dd = static_cast<Eigen::Index>(d);
    transform.a = Eigen::MatrixXd::Identity(dd, dd);
    if (cov) {
      const Eigen::LLT<Eigen::MatrixXd> llt(*cov);
      const Eigen::MatrixXd l = llt.matrixL();
      bool definite = llt.info() == Eigen::Success;
      for (Eigen::Index t = 0; definite && t < dd; ++t)
        definite = l(t, t) > 0 && std::isfinite(l(t, t));
      // relative to the largest variance: a rank-deficient covariance is numerically singular
      const double largest = cov->diagonal().maxCoeff();
      for (Eigen::Index t = 0; definite && t < dd; ++t)
        definite = l(t, t) * l(t, t) > 1e-12 * largest;
      if (!definite) {
        throw InputError(
            "KdeOptions::data_covariance: the samples' covariance is singular (a column is "
            "constant or a combination of the others)");
      }
      transform.a = l.triangularView<Eigen::Lower>().solve(transform.a);
      for (Eigen::Index t = 0; t < dd; ++t) transform.log_det -= std::log(l(t, t));
    }
    for (Eigen::Index t = 0; t < static_cast<Eigen::Index>(options.dim_scale.size()); ++t) {
      transform.a.row(t) /= options.dim_scale[static_cast<std::size_t>(t)];
      transform.log_det -= std::log(options.dim_scale[static_cast<std::size_t>(t)]);
    }
  });
  return transform;
}

// ------------------------------------------------------------------ widths and points

/// Whether the widths come from a rule (KdeOptions::bandwidth, or a CV sweep centred on Scott's).
bool uses_rule(const KdeOptions& options) {
  return options.bandwidth || (options.cv && options.widths.empty());
}

/// A rule's InputError, said in terms of the option that asked for the rule and the samples.
InputError rule_error(const KdeOptions& options, const InputError& error) {
  const std::string option =
      options.bandwidth
          ? "KdeOptions::bandwidth " + std::string(kde::to_string(*options.bandwidth))
          : std::string("KdeOptions::cv without KdeOptions::widths (centred on Scott's rule)");
  const std::string source =
      options.input.empty() ? std::string("the generated samples") : options.input;
  return InputError(option + ": " + source + ": " + error.what());
}

/// The ISJ width of 1-D samples spread over ranks (kde/isj.hpp): each rank bins its rows, the
/// fixed-point bins add exactly, rank 0 solves and broadcasts.
double isj_width(const Comm& comm, const KdeOptions& options, const Samples& local,
                 const SampleWeights& weights, std::uint64_t n, double lo, double hi) {
  kde::BinGrid grid;
  std::vector<std::int64_t> bins;
  collectively(comm, [&] {
    if (local.cols() != 1) {
      throw UsageError("KdeOptions::bandwidth isj is for 1-D samples, not " +
                       std::to_string(local.cols()) + "-D (use scott or silverman)");
    }
    if (n < 2 || !(weights.effective >= 2))  // (weighted: the effective number)
      throw rule_error(options, InputError("a bandwidth rule needs at least 2 samples"));
    try {
      grid = kde::isj_grid(lo, hi);
    } catch (const InputError& error) {
      throw rule_error(options, error);
    }
    bins.assign(grid.size(), 0);
    kde::bin_rows(grid, local.data(), static_cast<std::uint64_t>(local.rows()), bins,
                  weights.weighted ? weights.local.data() : nullptr);
  });
  comm.all_reduce_in_place(std::span<std::int64_t>(bins), ops::plus{});
  double h = 0;
  collectively(comm, [&] {
    if (comm.rank() != 0) return;
    try {
      h = kde::isj_bandwidth(grid, bins, weights.effective);
    } catch (const InputError& error) {
      throw rule_error(options, error);
    }
  });
  return comm.broadcast(h, 0);
}

/// The widths to evaluate. `rule_width`: the rule's width when one is used (given, as ISJ's,
/// or computed here from n and the column variances).
std::vector<double> plan_widths(const KdeOptions& options, double n,
                                const std::vector<double>& variances,
                                std::optional<double>& rule_width) {
  if (uses_rule(options) && !rule_width) {
    const auto rule = options.bandwidth.value_or(kde::BandwidthRule::scott);
    try {
      rule_width = kde::rule_of_thumb_bandwidth(rule, n, variances);  // n: effective with weights
    } catch (const InputError& error) {
      throw rule_error(options, error);
    }
  }
  if (!options.widths.empty()) {
    if (options.bandwidth && !options.cv) {
      throw UsageError(
          "KdeOptions::bandwidth picks the width itself: drop KdeOptions::widths, or add "
          "KdeOptions::cv to choose among them");
    }
    return options.widths;
  }
  if (options.cv) {
    // 41 widths, log-spaced over a factor of 16 around the rule's width.
    const double centre = *rule_width * equivalent_width(options.kernel);
    auto logs = linspace(std::log(centre / 4), std::log(centre * 4), 41);
    for (double& w : logs) w = std::exp(w);
    return logs;
  }
  if (options.bandwidth) return {*rule_width};
  return linspace(1.0, 1.2, 100);
}

/// The query points a block at a time: a grid's from their index (bounds from the samples'
/// range plus 10% each side when not given), a given list's, a file's (each rank reads its
/// rows in whole blocks; a block's owner broadcasts it), else the origin.
class QueryPoints {
 public:
  QueryPoints(const Comm& comm, const KdeOptions& options, std::size_t d,
              const std::vector<double>& lo, const std::vector<double>& hi, std::uint64_t block)
      : d_(d), block_(std::max<std::uint64_t>(block, 1)) {
    if (options.grid) {
      plan_grid(*options.grid, lo, hi);
    } else if (!options.points_file.path.empty()) {
      TableSource source = options.points_file;
      if (source.role.empty()) source.role = "KdeOptions::points_file";
      file_ = read_rows(comm, source, [&](std::uint64_t) { return block_; });
      collectively(comm, [&] {
        if (file_->cols != d) {
          throw UsageError(source.path + " has " + std::to_string(file_->cols) +
                           " coordinates per point but the samples have " + std::to_string(d) +
                           " (" + source.role + ")");
        }
      });
      count_ = file_->layout.rows();
    } else if (!options.points.empty()) {
      collectively(comm, [&] { check_list(options); });
      list_ = options.points;
      count_ = list_.size() / d;
    } else {
      list_.assign(d, 0.0);
      count_ = 1;
    }
  }

  std::uint64_t count() const noexcept { return count_; }
  std::uint64_t blocks() const noexcept { return (count_ + block_ - 1) / block_; }
  IndexRange block(std::uint64_t b) const noexcept {
    return {b * block_, std::min(count_, (b + 1) * block_)};
  }
  const std::vector<std::uint64_t>& grid_cells() const noexcept { return cells_; }

  /// The points of block b, row-major, on every rank (collective for a file).
  std::vector<double> points(const Comm& comm, std::uint64_t b) const {
    const IndexRange range = block(b);
    std::vector<double> out(range.size() * d_);
    if (file_) {
      int owner = 0;
      while (file_->layout.of(owner).end <= range.begin) ++owner;
      if (owner == comm.rank()) {
        const auto first = static_cast<std::ptrdiff_t>((range.begin - file_->mine().begin) * d_);
        std::copy_n(file_->values.data() + first, out.size(), out.begin());
      }
      comm.broadcast_in_place(std::span<double>(out), owner);
    } else if (!axes_.empty()) {
      for (std::uint64_t p = range.begin; p < range.end; ++p) {  // C order: last fastest
        std::uint64_t rest = p;
        for (std::size_t t = d_; t-- > 0;) {
          out[(p - range.begin) * d_ + t] = axes_[t][rest % cells_[t]];
          rest /= cells_[t];
        }
      }
    } else {
      std::copy_n(list_.begin() + static_cast<std::ptrdiff_t>(range.begin * d_), out.size(),
                  out.begin());
    }
    return out;
  }

 private:
  void plan_grid(GridSpec grid, const std::vector<double>& lo, const std::vector<double>& hi) {
    if (grid.cells.size() != d_) {
      throw UsageError("KdeOptions::grid has " + std::to_string(grid.cells.size()) +
                       " dimensions but the samples have " + std::to_string(d_));
    }
    if (grid.lo.empty()) {
      for (std::size_t t = 0; t < d_; ++t) {
        const double margin = hi[t] > lo[t] ? 0.1 * (hi[t] - lo[t]) : 1.0;
        grid.lo.push_back(lo[t] - margin);
        grid.hi.push_back(hi[t] + margin);
      }
    }
    long double total = 1;
    for (const auto c : grid.cells) total *= static_cast<long double>(c);
    // Blocks keep the memory bounded at any size, but a grid past 2^32 points is a mistake
    // (its CSV alone would pass 100 GB); scattered queries belong in a points file.
    if (total > 4294967296.0L) {
      std::ostringstream text;
      text.precision(3);
      text << "KdeOptions::grid has " << static_cast<double>(total)
           << " points; at most 2^32 are allowed (use a points file for more)";
      throw UsageError(text.str());
    }
    for (std::size_t t = 0; t < d_; ++t)
      axes_.push_back(linspace(grid.lo[t], grid.hi[t], grid.cells[t]));
    cells_ = grid.cells;
    count_ = static_cast<std::uint64_t>(total);
  }

  void check_list(const KdeOptions& options) const {
    if (options.point_dim != 0 && static_cast<std::size_t>(options.point_dim) != d_) {
      throw UsageError(options.points_source + " has " + std::to_string(options.point_dim) +
                       " coordinates but the samples have " + std::to_string(d_));
    }
    if (options.points.size() % d_ != 0) {
      throw UsageError("the query points have " + std::to_string(options.points.size()) +
                       " coordinates in all, not a multiple of the samples' dimension " +
                       std::to_string(d_));
    }
  }

  std::size_t d_;
  std::uint64_t block_;
  std::uint64_t count_ = 0;
  std::vector<std::uint64_t> cells_;
  std::vector<std::vector<double>> axes_;
  std::vector<double> list_;
  std::optional<RowShard> file_;
};

// ------------------------------------------------------------------ sample weights

/// Reads the weights: one per sample, laid out as the samples are (whole chunks), each finite
/// and >= 0, not all 0.
SampleWeights load_weights(const Comm& comm, const KdeOptions& options, std::uint64_t n,
                           std::uint64_t local_rows) {
  SampleWeights weights;
  weights.mass = weights.squares = weights.effective = static_cast<double>(n);
  if (options.weights.path.empty()) return weights;
  TableSource source = options.weights;
  if (source.role.empty()) source.role = "KdeOptions::weights";
  const RowShard read = read_rows(comm, source, [n](std::uint64_t) { return kde::chunk_rows(n); });
  collectively(comm, [&] {
    if (read.layout.rows() != n || read.cols != 1) {
      throw InputError(source.path + ": " + std::to_string(read.layout.rows()) + " rows of " +
                       std::to_string(read.cols) + " columns for " + std::to_string(n) +
                       " samples: KdeOptions::weights needs one weight per sample");
    }
    if (read.rows() != local_rows) throw InternalError("load_weights: the samples' layout differs");
    for (std::uint64_t i = 0; i < read.rows(); ++i) {
      const double w = read.values(static_cast<Eigen::Index>(i), 0);
      if (!(w >= 0)) {
        std::ostringstream what;
        what << source.path << ": row " << read.mine().begin + i + 1 << ": weight " << w
             << " is negative";
        throw InputError(what.str());
      }
    }
  });
  weights.weighted = true;
  weights.local.assign(read.values.data(), read.values.data() + read.rows());
  double largest = 0;
  for (const double w : weights.local) largest = std::max(largest, w);
  weights.largest = comm.all_reduce(largest, ops::max{});
  collectively(comm, [&] {
    if (!(weights.largest > 0)) throw InputError(source.path + ": every weight is 0");
  });
  double smallest = 1;  // of the positive weights (those of weight 0 are dropped)
  for (double& w : weights.local) {
    w /= weights.largest;
    if (w > 0) smallest = std::min(smallest, w);
  }
  weights.smallest = comm.all_reduce(smallest, ops::min{});
  // the total and the sum of squares, exactly (one all-reduce)
  const auto totals =
      exact_row_sums(comm, weights.local.size(), 2, [&](std::uint64_t i, std::size_t k) {
        return k == 0 ? weights.local[i] : weights.local[i] * weights.local[i];
      });
  weights.mass = totals[0];
  weights.squares = totals[1];
  weights.effective = weights.mass * weights.mass / weights.squares;
  return weights;
}

/// Rows of weight 0 add nothing to any sum: they are left out, the rest keeping their global
/// order, laid out in whole chunks again (so every row left has a positive weight, which the
/// pruning bounds rely on: the nearest sample's term is at least the smallest weight).
void drop_zero_weights(const Comm& comm, RowShard& shard, SampleWeights& weights) {
  if (!weights.weighted) return;
  std::uint64_t zeros = 0;
  for (const double w : weights.local) zeros += w == 0 ? 1 : 0;
  weights.dropped = comm.all_reduce(zeros, ops::plus{});
  if (weights.dropped == 0) return;
  const auto d = static_cast<Eigen::Index>(shard.cols);
  RowMatrix kept(static_cast<Eigen::Index>(weights.local.size() - zeros), d + 1);
  Eigen::Index at = 0;
  for (std::size_t i = 0; i < weights.local.size(); ++i) {
    if (weights.local[i] == 0) continue;
    kept.row(at).head(d) = shard.values.row(static_cast<Eigen::Index>(i));
    kept(at++, d) = weights.local[i];
  }
  shard.values = std::move(kept);
  shard.cols = static_cast<std::uint64_t>(d) + 1;
  shard.layout = RowLayout::gather(comm, static_cast<std::uint64_t>(shard.values.rows()));
  const std::uint64_t n = shard.layout.rows();
  redistribute_rows(comm, shard, RowLayout::aligned_blocks(n, comm.size(), kde::chunk_rows(n)));
  shard.cols = static_cast<std::uint64_t>(d);
  const Eigen::VectorXd w = shard.values.col(d);
  weights.local.assign(w.data(), w.data() + w.size());
  RowMatrix narrow = shard.values.leftCols(d);
  shard.values = std::move(narrow);
}

/// sort_rows_spatially with each row's weight travelling with it (as one more column).
void sort_weighted_rows_spatially(const Comm& comm, RowShard& shard, SampleWeights& weights,
                                  std::span<const double> lo, std::span<const double> hi,
                                  std::uint64_t align) {
  if (!weights.weighted) {
    sort_rows_spatially(comm, shard, lo, hi, align);
    return;
  }
  const auto d = static_cast<Eigen::Index>(shard.cols);
  Samples wide(shard.values.rows(), d + 1);
  wide.leftCols(d) = shard.values;
  wide.col(d) = Eigen::Map<const Eigen::VectorXd>(weights.local.data(), shard.values.rows());
  shard.values = std::move(wide);
  ++shard.cols;
  sort_rows_spatially(comm, shard, lo, hi, align);  // the keys use the first d columns
  --shard.cols;
  const Eigen::VectorXd w = shard.values.col(d);
  weights.local.assign(w.data(), w.data() + w.size());
  Samples narrow = shard.values.leftCols(d);
  shard.values = std::move(narrow);
}

// ------------------------------------------------------------------ densities

/// What the density kernels work on: this rank's rows of the samples and a block of query
/// points, which every rank holds.
struct DensityProblem {
  Samples& local;   // the tree reorders it
  std::uint64_t n;  // samples on all ranks
  std::span<const double> points;
  std::uint64_t point_count;
  std::span<const double> widths;
  Kernel kernel;
  KdeAlgo algo;
  kde::ErrorBound bound;
  const SampleWeights* weights = nullptr;  // with KdeOptions::weights
  Progress* progress = nullptr;            // advanced by the points done, where one is kept

  std::size_t dim() const noexcept { return static_cast<std::size_t>(local.cols()); }
  bool weighted() const noexcept { return weights != nullptr && weights->weighted; }
  /// The local rows' weights (or nullptr: every weight 1), from row `first` on.
  const double* row_weights(std::uint64_t first = 0) const noexcept {
    return weighted() ? weights->local.data() + first : nullptr;
  }
  /// What the sums are divided by: the total weight (scaled), else n.
  double mass() const noexcept { return weighted() ? weights->mass : static_cast<double>(n); }
  std::span<const double> point(std::uint64_t p) const noexcept {
    return points.subspan(p * dim(), dim());
  }
};

/// Rows per work item when several workers split one rank's rows.
constexpr std::uint64_t kRowBlock = 1 << 15;

/// A rank's index of its shard for hypercube counts, built once and queried block by block:
/// the range counter or the k-d tree (both reorder the shard's rows in place), or a sorted copy
/// for the sweep.
struct CountIndex {
  std::optional<kde::RangeCounter> range;
  std::optional<kde::RangeTree> tree;
  std::optional<kde::SortedSamples> sorted;
  std::optional<kde::SampleBoxes> boxes;  // smooth kernels: the spatially sorted shard's boxes
};

/// Runs f(k) for k in [0, count) on the team's threads (what the indexes take).
std::function<void(std::uint64_t, const std::function<void(std::uint64_t)>&)> parallel_on(
    Team& team) {
  return [&team](std::uint64_t count, const std::function<void(std::uint64_t)>& f) {
    for_each_item(team, count, [&](std::uint64_t k, Worker) { f(k); });
  };
}

/// The index `algo` needs over `local` for `points` query points in all.
CountIndex build_index(Team& team, Samples& local, KdeAlgo algo, std::uint64_t points) {
  CountIndex index;
  collectively(team.comm(), [&] {
    const auto parallel = parallel_on(team);
    if (algo == KdeAlgo::range) {
      index.range.emplace(local, parallel);
    } else if (algo == KdeAlgo::tree) {
      index.tree.emplace(local, parallel);
    } else if (algo == KdeAlgo::sweep && points > 1) {
      index.sorted.emplace(local);
    }
  });
  return index;
}

void local_counts(Team& team, const DensityProblem& problem, const CountIndex& index,
                  std::span<std::uint64_t> counts);
void add_onto_first_rank(const Comm& comm, std::span<std::uint64_t> counts);

/// Hypercube counts at every point and width, summed over ranks onto rank 0 (integers:
/// exact); the other ranks keep their own parts.
LargeBuffer<std::uint64_t> hypercube_counts(Team& team, const DensityProblem& problem,
                                            const CountIndex& index) {
  const std::size_t m = problem.widths.size();
  // Zeroed by one thread: first touches from several threads at once fault far more slowly
  // on a virtual machine.
  LargeBuffer<std::uint64_t> counts(problem.point_count * m);
  std::fill(counts.data(), counts.data() + counts.size(), std::uint64_t{0});
  collectively(team.comm(), [&] { local_counts(team, problem, index, counts.span()); });
  add_onto_first_rank(team.comm(), counts.span());
  return counts;
}

/// Sums `counts` over ranks onto rank 0. A rank's counts are zero for the points beyond reach
/// of its rows (after range counting's spatial split, most points but its slab's), so each
/// rank sends rank 0 only the span from its first to its last nonzero count.
void add_onto_first_rank(const Comm& comm, std::span<std::uint64_t> counts) {
  if (comm.size() == 1) return;
  constexpr int kCountsTag = 0x5c0;
  std::uint64_t first = 0, last = counts.size();
  while (first < last && counts[first] == 0) ++first;
  while (last > first && counts[last - 1] == 0) --last;
  const auto spans = comm.gather(std::array<std::uint64_t, 2>{first, last}, 0);
  if (comm.rank() != 0) {
    if (last > first) {
      comm.start_exchange(std::span<const std::uint64_t>(counts.subspan(first, last - first)), 0,
                          std::span<std::uint64_t>(), Comm::kNobody, kCountsTag)
          .wait();
    }
    return;
  }
  std::uint64_t widest = 0;
  for (const auto& [begin, end] : spans) widest = std::max(widest, end - begin);
  LargeBuffer<std::uint64_t> part(widest);
  for (int r = 1; r < comm.size(); ++r) {
    const auto [begin, end] = spans[static_cast<std::size_t>(r)];
    if (end <= begin) continue;
    const std::span<std::uint64_t> into = part.span().first(end - begin);
    comm.start_exchange(std::span<const std::uint64_t>(), Comm::kNobody, into, r, kCountsTag)
        .wait();
    for (std::uint64_t k = 0; k < into.size(); ++k) counts[begin + k] += into[k];
  }
}

/// This rank's part of hypercube_counts.
void local_counts(Team& team, const DensityProblem& problem, const CountIndex& index,
                  std::span<std::uint64_t> counts) {
  const std::size_t m = problem.widths.size();
  const auto rows = static_cast<std::uint64_t>(problem.local.rows());
  const kde::HypercubeWidths widths(problem.widths);
  constexpr std::uint64_t kPoints = 16;
  const std::uint64_t point_blocks = (problem.point_count + kPoints - 1) / kPoints;
  auto each_point = [&](auto&& histogram_of) {
    for_each_item(team, point_blocks, [&](std::uint64_t b, Worker) {
      std::vector<std::uint64_t> histogram(m + 1);
      const std::uint64_t end = std::min(problem.point_count, (b + 1) * kPoints);
      for (std::uint64_t p = b * kPoints; p < end; ++p) {
        std::fill(histogram.begin(), histogram.end(), 0);
        histogram_of(problem.point(p), std::span<std::uint64_t>(histogram));
        widths.to_counts(histogram, counts.subspan(p * m, m));
      }
    });
  };
  if (index.range) {
    // The shard sorted in place; every window is a rectangle counted by an offline sweep.
    index.range->add_counts(problem.points, problem.widths, counts, parallel_on(team),
                            team.threads());
  } else if (index.tree) {
    // A point costs the nodes on its windows' edges.
    each_point([&](std::span<const double> point, std::span<std::uint64_t> histogram) {
      index.tree->histogram(widths, point, histogram);
    });
  } else if (index.sorted) {
    // Each point visits only its window's band of the sorted copy.
    each_point([&](std::span<const double> point, std::span<std::uint64_t> histogram) {
      kde::hypercube_histogram(*index.sorted, widths, point, histogram);
    });
  } else {
    // Few points (or the naive reference): split the shard's rows too.
    const std::uint64_t blocks = (rows + kRowBlock - 1) / kRowBlock;
    std::vector<std::vector<std::uint64_t>> local(static_cast<std::size_t>(team.threads()),
                                                  std::vector<std::uint64_t>(counts.size(), 0));
    for_each_item(team, problem.point_count * blocks, [&](std::uint64_t item, Worker worker) {
      const std::uint64_t p = item / blocks;
      const auto first = static_cast<Eigen::Index>(item % blocks * kRowBlock);
      const auto last = static_cast<Eigen::Index>(std::min(rows, (item % blocks + 1) * kRowBlock));
      const auto k =
          problem.algo == KdeAlgo::naive
              ? kde::hypercube_counts_naive(problem.local.middleRows(first, last - first),
                                            problem.point(p), problem.widths)
              : kde::hypercube_counts_sweep(problem.local, problem.point(p), problem.widths, first,
                                            last);
      auto& mine = local[static_cast<std::size_t>(worker.tid)];
      for (std::size_t j = 0; j < m; ++j) mine[p * m + j] += k[j];
    });
    for (const auto& part : local) {
      for (std::size_t c = 0; c < counts.size(); ++c) counts[c] += part[c];
    }
  }
}

/// Sums over ranks of BinnedSum accumulators, cell by cell: aligned to each cell's highest top
/// over ranks and added as integers, so the result is the same bits for any layout.
void reduce_binned(Team& team, std::vector<std::vector<numeric::BinnedSum>>& acc,
                   std::span<double> out) {
  const std::size_t cells = out.size();
  std::vector<int> tops(cells);
  for (std::size_t cell = 0; cell < cells; ++cell) {
    for (std::size_t t = 1; t < acc.size(); ++t) acc[0][cell].merge(acc[t][cell]);
    tops[cell] = acc[0][cell].top();
  }
  team.comm().all_reduce_in_place(std::span<int>(tops), ops::max{});
  std::vector<std::int64_t> wires(cells * numeric::BinnedSum::kWireSize);
  for (std::size_t cell = 0; cell < cells; ++cell) {
    acc[0][cell].align_to(tops[cell]);
    const auto wire = acc[0][cell].to_wire();
    std::copy(wire.begin(), wire.end(),
              wires.begin() + static_cast<std::ptrdiff_t>(cell * wire.size()));
  }
  team.comm().all_reduce_in_place(std::span<std::int64_t>(wires), ops::plus{});
  numeric::BinnedSum::Wire wire;
  for (std::size_t cell = 0; cell < cells; ++cell) {
    std::copy_n(wires.begin() + static_cast<std::ptrdiff_t>(cell * wire.size()), wire.size(),
                wire.begin());
    out[cell] = numeric::BinnedSum::from_wire(wire, tops[cell]).value();
  }
}

/// The pruned sums' per-point inputs for points [p0, p0 + points): each point's smallest
/// squared distance to a sample over all ranks (MPI_MIN: exact) and, for the Gaussian, its
/// reach at each width (kde/pruned_sums.hpp), tightened by the samples known to lie within
/// r2min + 2 h^2 (whole pieces, counted over all ranks: integers). Functions of the samples
/// and the points only.
void reach_of_points(Team& team, const DensityProblem& problem, const kde::SampleBoxes& boxes,
                     std::uint64_t p0, std::uint64_t points, std::vector<double>& nearest,
                     std::vector<double>& reach2) {
  const std::size_t m = problem.widths.size();
  nearest.assign(points, std::numeric_limits<double>::infinity());
  constexpr std::uint64_t kPoints = 64;
  auto each_point = [&](auto&& f) {
    collectively(team.comm(), [&] {
      for_each_item(team, (points + kPoints - 1) / kPoints, [&](std::uint64_t b, Worker) {
        for (std::uint64_t p = b * kPoints; p < std::min(points, (b + 1) * kPoints); ++p) f(p);
      });
    });
  };
  each_point([&](std::uint64_t p) { nearest[p] = boxes.nearest(problem.point(p0 + p).data()); });
  team.comm().all_reduce_in_place(std::span<double>(nearest), ops::min{});
  reach2.assign(points * m, std::numeric_limits<double>::infinity());
  if (problem.kernel != Kernel::gaussian) return;
  std::vector<std::uint64_t> close(points * m, 0);
  each_point([&](std::uint64_t p) {
    for (std::size_t j = 0; j < m; ++j) {
      const double h = problem.widths[j];
      close[p * m + j] = boxes.count_within(problem.point(p0 + p).data(), nearest[p] + 2 * h * h);
    }
  });
  team.comm().all_reduce_in_place(std::span<std::uint64_t>(close), ops::plus{});
  // Each of those terms is at least e^-1 (relative to the nearest) times its weight (with
  // weights, `close` is their fixed-point total), and the nearest sample's own term is at least
  // the smallest weight.
  const double smallest = problem.weighted() ? problem.weights->smallest : 1.0;
  const double unit = problem.weighted() ? kde::SampleBoxes::kMassUnit : 1.0;
  for (std::uint64_t p = 0; p < points; ++p) {
    for (std::size_t j = 0; j < m; ++j) {
      const double close_terms = static_cast<double>(close[p * m + j]) / unit / std::numbers::e;
      reach2[p * m + j] =
          kde::gaussian_reach2(nearest[p], problem.widths[j], static_cast<int>(problem.dim()),
                               problem.mass(), problem.bound, std::max(smallest, close_terms));
    }
  }
}

/// Unnormalised smooth-kernel sums at every point and width, the same bits on every layout:
/// each chunk of rows is summed in its fixed order, the chunk sums go into BinnedSum
/// accumulators, which ranks align to their highest top and add exactly. Points are taken in
/// blocks so that the accumulators stay small. With the boxes of a spatially sorted shard, a
/// chunk adds only its pieces within each point's reach, and Gaussian terms are taken relative
/// to the point's nearest sample, whose squared distance goes into `shift`.
std::vector<double> smooth_sums(Team& team, const DensityProblem& problem, const CountIndex& index,
                                std::vector<double>& shift) {
  const std::size_t m = problem.widths.size();
  const auto rows = static_cast<std::uint64_t>(problem.local.rows());
  const int d = static_cast<int>(problem.dim());
  const std::uint64_t chunk = kde::chunk_rows(problem.n);
  const std::uint64_t chunks = (rows + chunk - 1) / chunk;
  const std::uint64_t block_points = std::max<std::uint64_t>(1, (std::uint64_t{1} << 15) / m);
  constexpr std::uint64_t kPoints = 8;  // points per work item
  const auto threads = static_cast<std::uint64_t>(team.threads());
  const kde::SampleBoxes* boxes = index.boxes ? &*index.boxes : nullptr;
  std::vector<double> sums(problem.point_count * m);
  shift.assign(boxes && problem.kernel == Kernel::gaussian ? problem.point_count : 0, 0.0);
  std::vector<double> nearest, reach2;
  for (std::uint64_t p0 = 0; p0 < problem.point_count; p0 += block_points) {
    const std::uint64_t points = std::min(block_points, problem.point_count - p0);
    if (boxes) reach_of_points(team, problem, *boxes, p0, points, nearest, reach2);
    const bool shifted = !shift.empty();
    // (a distance that overflows to infinity shifts nothing: its terms are 0 either way)
    for (std::uint64_t p = 0; shifted && p < points; ++p)
      shift[p0 + p] = std::isfinite(nearest[p]) ? nearest[p] : 0.0;
    std::vector<std::vector<numeric::BinnedSum>> acc(threads,
                                                     std::vector<numeric::BinnedSum>(points * m));
    const std::uint64_t point_items = (points + kPoints - 1) / kPoints;
    const std::uint64_t groups = std::clamp<std::uint64_t>(
        (4 * threads + point_items - 1) / point_items, 1, std::max<std::uint64_t>(chunks, 1));
    collectively(team.comm(), [&] {
      for_each_item(team, point_items * groups, [&](std::uint64_t item, Worker worker) {
        thread_local std::vector<double> out;
        out.resize(m);
        std::optional<kde::ChunkSums> fast;
        std::optional<kde::PrunedSums> pruned;
        if (boxes) {
          pruned.emplace(problem.kernel, problem.widths);
        } else if (problem.algo != KdeAlgo::naive) {
          fast.emplace(problem.kernel, problem.widths);
        }
        auto& mine = acc[static_cast<std::size_t>(worker.tid)];
        const IndexRange group = block_range(chunks, groups, item % groups);
        const std::uint64_t first_point = item / groups * kPoints;
        const std::uint64_t last_point = std::min(points, first_point + kPoints);
        for (std::uint64_t c = group.begin; c < group.end; ++c) {
          const std::uint64_t begin = c * chunk, count = std::min(chunk, rows - begin);
          for (std::uint64_t p = first_point; p < last_point; ++p) {
            const auto point = problem.point(p0 + p);
            if (pruned) {
              (*pruned)(*boxes, c, point.data(), shifted ? shift[p0 + p] : 0.0, &reach2[p * m],
                        out.data(), UINT64_MAX, problem.row_weights());
            } else if (fast) {
              (*fast)(problem.local.data() + begin * problem.dim(), count, d, point.data(),
                      out.data(), SIZE_MAX, problem.row_weights(begin));
            } else {
              out = kde::smooth_kernel_sums_naive(problem.kernel, problem.local, point,
                                                  problem.widths, static_cast<Eigen::Index>(begin),
                                                  static_cast<Eigen::Index>(begin + count),
                                                  problem.row_weights());
            }
            for (std::size_t j = 0; j < m; ++j) mine[p * m + j].add(out[j]);
          }
        }
      });
    });
    reduce_binned(team, acc, std::span<double>(sums).subspan(p0 * m, points * m));
    if (problem.progress) problem.progress->advance(points);
  }
  return sums;
}

/// Counts (hypercube) or smooth-kernel sums at every point and width: the totals on rank 0
/// (counts) or every rank (sums).
struct Raw {
  LargeBuffer<std::uint64_t> counts;
  std::vector<double> sums;
  std::vector<double> shift;  // per point: the squared distance the terms are relative to
  double mass = 0;            // what the sums are divided by: n, or the total (scaled) weight
};

Raw compute(Team& team, const DensityProblem& problem, const CountIndex& index) {
  Raw raw;
  // Weighted windows hold sums of weights, not counts: the chunk sums take them (kernel terms
  // of 0 or the weight).
  if (problem.kernel == Kernel::hypercube && !problem.weighted()) {
    raw.counts = hypercube_counts(team, problem, index);
  } else {
    raw.sums = smooth_sums(team, problem, index, raw.shift);
  }
  raw.mass = problem.mass();
  return raw;
}

// ------------------------------------------------------------------ the binned approximation

/// The binned estimate's state, per width: its grid on every rank and, on rank 0, the kernel
/// sums on it.
struct BinnedModel {
  std::vector<kde::BinGrid> grids;
  std::vector<std::vector<double>> smoothed;
};

/// Width h's grid, and its kernel sums on rank 0 (every rank with `everywhere`): this rank's
/// rows binned (per thread when the bins are small), the bins of all ranks added (integers:
/// exact in any order), convolved on rank 0.
void bin_and_smooth(Team& team, const Samples& local, const double* weights,
                    const kde::BinGrid& grid, Kernel kernel, double h, std::vector<double>& out,
                    bool everywhere) {
  const Comm& comm = team.comm();
  const auto rows = static_cast<std::uint64_t>(local.rows());
  const auto threads = static_cast<std::uint64_t>(team.threads());
  const bool split = threads > 1 && grid.size() * threads <= (std::uint64_t{8} << 20);
  std::vector<std::int64_t> bins(grid.size(), 0);
  collectively(comm, [&] {
    if (!split) {
      kde::bin_rows(grid, local.data(), rows, bins, weights);
      return;
    }
    std::vector<std::vector<std::int64_t>> parts(threads, bins);
    for_each_item(team, threads, [&](std::uint64_t k, Worker worker) {
      const IndexRange range = block_range(rows, threads, k);
      kde::bin_rows(grid, local.data() + range.begin * static_cast<std::uint64_t>(local.cols()),
                    range.size(), parts[static_cast<std::size_t>(worker.tid)],
                    weights != nullptr ? weights + range.begin : nullptr);
    });
    for (const auto& part : parts) {
      for (std::size_t g = 0; g < part.size(); ++g) bins[g] += part[g];
    }
  });
  comm.all_reduce_in_place(std::span<std::int64_t>(bins), ops::plus{});
  out.resize(grid.size());
  collectively(comm, [&] {
    if (comm.rank() == 0) kde::BinConvolution(grid, kernel, h, bins).smooth(out);
  });
  if (everywhere) comm.broadcast_in_place(std::span<double>(out), 0);
}

/// Refuses a binning grid that does not fit: `grids` at once on rank 0, plus one transform.
void require_binned_memory(const Comm& comm, const std::vector<kde::BinGrid>& grids, Kernel kernel,
                           std::span<const double> widths, bool all_at_once) {
  long double points = 0, total = 0, largest = 0;
  for (std::size_t j = 0; j < grids.size(); ++j) {
    const auto size = static_cast<long double>(grids[j].size());
    points = std::max(points, size);
    total += size;
    largest = std::max(
        largest, static_cast<long double>(kde::BinConvolution::bytes(grids[j], kernel, widths[j])));
  }
  // bins (int64) and the grid's kernel sums, the transform on rank 0
  const long double bytes = (all_at_once ? total : points) * 16 + largest;
  std::ostringstream what;
  what.precision(3);
  what << "KdeOptions::bin_cells (a binning grid of up to " << static_cast<double>(points)
       << " points: give fewer cells per dimension, or wider widths)";
  require_memory(bytes * comm.node_share().ranks_on_node, what.str());
}

/// The binned model for every width, for densities at query points.
BinnedModel build_binned(Team& team, const Samples& local, const double* weights,
                         std::span<const double> lo, std::span<const double> hi,
                         const KdeOptions& options, std::span<const double> widths) {
  BinnedModel model;
  collectively(team.comm(), [&] {
    for (const double h : widths)
      model.grids.push_back(kde::BinGrid::around(lo, hi, options.kernel, h, options.bin_cells));
    require_binned_memory(team.comm(), model.grids, options.kernel, widths, true);
  });
  model.smoothed.resize(widths.size());
  for (std::size_t j = 0; j < widths.size(); ++j) {
    bin_and_smooth(team, local, weights, model.grids[j], options.kernel, widths[j],
                   model.smoothed[j], false);
  }
  return model;
}

/// A block's kernel sums from the binned model, on rank 0 (interpolated on the grid).
std::vector<double> binned_sums(const Comm& comm, const BinnedModel& model,
                                const DensityProblem& problem) {
  const std::size_t m = problem.widths.size();
  std::vector<double> sums(problem.point_count * m, 0.0);
  if (comm.rank() != 0) return sums;
  for (std::uint64_t p = 0; p < problem.point_count; ++p) {
    for (std::size_t j = 0; j < m; ++j) {
      sums[p * m + j] =
          kde::interpolate(model.grids[j], model.smoothed[j], problem.point(p).data());
    }
  }
  return sums;
}

/// The binned model against the sums over all samples at up to 64 samples' positions spread
/// over the data (global rows k n / count) and as many points two widths off them: the largest
/// relative difference where the density is at least 1e-3 of the largest checked, on rank 0.
void estimate_binned_error(Team& team, const Samples& local, const SampleWeights& weights,
                           std::uint64_t first_row, const KdeOptions& options,
                           const BinnedModel& model, KdeResult& result) {
  const Comm& comm = team.comm();
  const std::uint64_t n = result.n;
  // Up to 64 samples, fewer for large n: the check costs 2 x count x n kernel terms, kept near
  // 2^28 (a fraction of a second) so that it never dwarfs the estimate it checks.
  const std::uint64_t count =
      std::min<std::uint64_t>(n, std::clamp<std::uint64_t>((std::uint64_t{1} << 27) / n, 4, 64));
  std::vector<double> mine;
  for (std::uint64_t k = 0; k < count; ++k) {
    const std::uint64_t row = k * n / count;
    if (row < first_row || row >= first_row + static_cast<std::uint64_t>(local.rows())) continue;
    const auto r = local.row(static_cast<Eigen::Index>(row - first_row));
    mine.insert(mine.end(), r.begin(), r.end());
    // and a point 2 widths away along the first axis, where the density is lower
    mine.insert(mine.end(), r.begin(), r.end());
    mine[mine.size() - static_cast<std::size_t>(result.dim)] += 2 * result.widths.front();
  }
  std::vector<double> points = comm.gather_concat(std::span<const double>(mine), 0);
  std::uint64_t size = points.size();
  comm.broadcast_in_place(std::span<std::uint64_t>(&size, 1), 0);
  points.resize(size);
  comm.broadcast_in_place(std::span<double>(points), 0);
  const std::uint64_t checked = points.size() / static_cast<std::size_t>(result.dim);
  // The samples here are unsorted: the sums run over every row.
  const DensityProblem problem{const_cast<Samples&>(local),
                               n,
                               points,
                               checked,
                               result.widths,
                               options.kernel,
                               KdeAlgo::sweep,
                               options.bound,
                               &weights,
                               nullptr};
  std::vector<double> shift;
  const std::vector<double> exact = smooth_sums(team, problem, CountIndex{}, shift);
  const std::vector<double> approx = binned_sums(comm, model, problem);
  result.binned->checked = checked;
  if (comm.rank() != 0 || exact.empty()) return;
  const double largest = *std::max_element(exact.begin(), exact.end());
  double worst = 0;
  for (std::size_t k = 0; k < exact.size(); ++k) {
    if (exact[k] >= 1e-3 * largest && exact[k] > 0)
      worst = std::max(worst, std::abs(approx[k] - exact[k]) / exact[k]);
  }
  result.binned->error_estimate = worst;
}

/// The leave-one-out log-likelihood curve from binned sums, one width at a time: every rank
/// gets the width's kernel sums on its grid and scores its own samples: the interpolated sum
/// at the sample less its own binned contribution. Logs go into exact accumulators: the same
/// bits at any P.
kde::CvCurve binned_cross_validation(Team& team, const Samples& local, const SampleWeights& weights,
                                     std::uint64_t n, std::span<const double> lo,
                                     std::span<const double> hi, const KdeOptions& options,
                                     std::span<const double> widths) {
  const double* w = weights.weighted ? weights.local.data() : nullptr;
  collectively(team.comm(), [&] {
    if (weights.weighted && !(weights.mass > 1)) {
      throw InputError(
          "weighted cross-validation needs positive weights on at least two samples (a "
          "sample's leave-one-out density needs the others)");
    }
  });
  const Comm& comm = team.comm();
  const auto rows = static_cast<std::uint64_t>(local.rows());
  const int d = static_cast<int>(local.cols());
  std::vector<kde::BinGrid> grids;
  collectively(comm, [&] {
    for (const double h : widths)
      grids.push_back(kde::BinGrid::around(lo, hi, options.kernel, h, options.bin_cells));
    require_binned_memory(comm, grids, options.kernel, widths, false);
  });
  kde::CvCurve curve;
  curve.method = kde::CvMethod::loglik;
  curve.widths.assign(widths.begin(), widths.end());
  std::vector<double> sums;
  for (std::size_t j = 0; j < widths.size(); ++j) {
    const double h = widths[j];
    bin_and_smooth(team, local, w, grids[j], options.kernel, h, sums, true);
    std::vector<numeric::ExactAccumulator> logs(static_cast<std::size_t>(team.threads()));
    std::vector<std::int64_t> lonely(static_cast<std::size_t>(team.threads()), 0);
    constexpr std::uint64_t kRows = 1024;
    for_each_item(team, (rows + kRows - 1) / kRows, [&](std::uint64_t b, Worker worker) {
      for (std::uint64_t i = b * kRows; i < std::min(rows, (b + 1) * kRows); ++i) {
        const double* x = local.data() + i * static_cast<std::uint64_t>(d);
        const double own = w != nullptr ? w[i] : 1.0;
        const double loo = kde::interpolate(grids[j], sums, x) -
                           kde::self_contribution(grids[j], options.kernel, h, x, own);
        if (loo > 0 && (w == nullptr || weights.mass > own)) {
          // weighted: w_i (log S_-i - log(mass - w_i)), the terms of sum_i w_i log f_-i
          logs[static_cast<std::size_t>(worker.tid)].add(
              w != nullptr ? own * (std::log(loo) - std::log(weights.mass - own)) : std::log(loo));
        } else if (own > 0 || w == nullptr) {
          ++lonely[static_cast<std::size_t>(worker.tid)];
        }
      }
    });
    for (std::size_t t = 1; t < logs.size(); ++t) {
      logs[0].merge(logs[t]);
      lonely[0] += lonely[t];
    }
    auto wire = logs[0].to_wire();
    std::vector<std::int64_t> all(wire.begin(), wire.end());
    all.push_back(lonely[0]);
    comm.all_reduce_in_place(std::span<std::int64_t>(all), ops::plus{});
    std::copy_n(all.begin(), wire.size(), wire.begin());
    const auto nd = static_cast<double>(n);
    const double total = numeric::ExactAccumulator::from_wire(wire).round();
    curve.score.push_back(all.back() > 0 ? -std::numeric_limits<double>::infinity()
                          : w != nullptr
                              ? total / weights.mass + kde::log_kernel_norm(options.kernel, h, d)
                              : total / nd + kde::log_kernel_norm(options.kernel, h, d) -
                                    std::log(nd - 1));
  }
  curve.best = kde::choose_width(curve);
  return curve;
}

// ------------------------------------------------------------------ cross-validation

/// Every rank's shard visits this rank once, around a ring of ranks: visit(block, progress)
/// runs for this rank's own rows first, then for each other shard in turn (P - 1 shifts of a
/// buffer of the largest shard), while the next one arrives. The visit calls progress() now
/// and then from the main thread (worker 0, the one that may call MPI) to let it move.
void around_ring(
    const Comm& comm, const RowShard& shard, const Samples& local, std::array<Samples, 2>& ring,
    const std::function<void(const kde::SampleBlock&, const std::function<void()>&)>& visit,
    const SampleWeights* weights = nullptr) {
  auto whole = [](Samples& m) {
    return std::span<double>(m.data(), static_cast<std::size_t>(m.size()));
  };
  ring[0].topRows(local.rows()) = local;
  // With weights, the rows' weights travel around the ring beside them.
  const bool weighted = weights != nullptr && weights->weighted;
  std::array<std::vector<double>, 2> weight_ring;
  if (weighted) {
    for (auto& buffer : weight_ring) buffer.resize(shard.layout.max_rows());
    std::copy(weights->local.begin(), weights->local.end(), weight_ring[0].begin());
  }
  for (int step = 0; step < comm.size(); ++step) {
    const int source = (comm.rank() - step + comm.size()) % comm.size();
    const IndexRange held = shard.layout.of(source);
    const auto now = static_cast<std::size_t>(step % 2), next = 1 - now;
    Samples& visiting = ring[now];
    const int to = (comm.rank() + 1) % comm.size();
    const int from = (comm.rank() - 1 + comm.size()) % comm.size();
    Comm::Exchange exchange, weight_exchange;
    if (step + 1 < comm.size()) {
      exchange = comm.start_exchange(std::span<const double>(whole(visiting)), to,
                                     whole(ring[next]), from, kRingTag);
      if (weighted) {
        weight_exchange =
            comm.start_exchange(std::span<const double>(weight_ring[now]), to,
                                std::span<double>(weight_ring[next]), from, kRingTag + 1);
      }
    }
    collectively(comm, [&] {
      visit(
          {visiting.data(), held.size(), held.begin, weighted ? weight_ring[now].data() : nullptr},
          [&] {
            exchange.test();
            weight_exchange.test();
          });
      exchange.wait();
      weight_exchange.wait();
    });
  }
}

/// "what, ring step s/P" for the progress line (no step on one rank).
std::string ring_stage(const std::string& what, int step, int steps) {
  if (steps == 1) return what;
  return what + ", ring step " + std::to_string(step) + "/" + std::to_string(steps);
}

/// Each of this rank's samples' squared distance to its nearest other sample, over all ranks
/// (a minimum: the same bits in any order of blocks).
std::vector<double> nearest_others(Team& team, const RowShard& shard, const Samples& local,
                                   std::array<Samples, 2>& ring, Progress& progress) {
  const auto rows = static_cast<std::uint64_t>(local.rows());
  const auto d = static_cast<std::size_t>(local.cols());
  const std::uint64_t chunk = kde::chunk_rows(shard.layout.rows());
  std::vector<double> nearest(rows, std::numeric_limits<double>::infinity());
  constexpr std::uint64_t kQueries = 64;
  int step = 0;
  around_ring(team.comm(), shard, local, ring, [&](const kde::SampleBlock& block, auto& poll) {
    progress.stage(ring_stage("nearest neighbours", ++step, team.comm().size()));
    const kde::SampleBoxes boxes(block.values, block.rows, static_cast<int>(d), chunk);
    for_each_item(team, (rows + kQueries - 1) / kQueries, [&](std::uint64_t b, Worker worker) {
      for (std::uint64_t q = b * kQueries; q < std::min(rows, (b + 1) * kQueries); ++q) {
        const std::uint64_t row = shard.mine().begin + q;
        const std::uint64_t self = row - block.first < block.rows ? row - block.first : UINT64_MAX;
        nearest[q] = std::min(nearest[q], boxes.nearest(local.data() + q * d, self));
      }
      progress.advance();
      if (worker.tid == 0) poll();
    });
  });
  return nearest;
}

/// The leave-one-out curve with the samples spread over ranks: this rank's samples are the
/// queries, and every rank's shard visits every rank once around a ring. Widths go in batches
/// whose per-query sums fit a budget. Smooth kernels' loglik on spatially sorted samples sums
/// only what lies within each query's reach (a first trip around the ring finds each
/// sample's nearest neighbour).
kde::CvCurve cross_validate(Team& team, const RowShard& shard, const Samples& local,
                            const SampleWeights& weights, Kernel kernel, kde::CvMethod method,
                            const std::vector<double>& widths,
                            const std::optional<kde::ErrorBound>& prune, Progress& progress) {
  const Comm& comm = team.comm();
  const std::uint64_t n = shard.layout.rows();
  const std::uint64_t d = shard.cols;
  const std::uint64_t rows = shard.rows();
  // Per-query state at most half the shard's bytes, or 64 MiB, and at least one width.
  const std::uint64_t budget = std::max<std::uint64_t>(rows * d * 4, std::uint64_t{64} << 20);
  const std::uint64_t per_width = std::max<std::uint64_t>(
      1, rows * kde::CvProblem::query_bytes(kernel, method, 1, weights.weighted));
  const std::size_t batch = std::max<std::size_t>(1, budget / per_width);
  // Two ring buffers: the shard being visited, and the next one arriving meanwhile.
  std::array<Samples, 2> ring;
  for (auto& buffer : ring) {
    buffer.resize(static_cast<Eigen::Index>(shard.layout.max_rows()), static_cast<Eigen::Index>(d));
  }
  const bool pruned = prune && kernel != Kernel::hypercube && method == kde::CvMethod::loglik;
  constexpr std::uint64_t kQueries = 32;
  const std::uint64_t items = (rows + kQueries - 1) / kQueries;
  const auto steps = static_cast<std::uint64_t>(comm.size());
  const std::uint64_t batches = (widths.size() + batch - 1) / batch;
  progress.set_total(progress.total() + batches * steps * items +
                     (pruned && n > 1 ? steps * ((rows + 63) / 64) : 0));
  const std::vector<double> nearest =
      pruned && n > 1 ? nearest_others(team, shard, local, ring, progress) : std::vector<double>();
  kde::CvCurve curve;
  curve.method = method;
  for (std::size_t w0 = 0; w0 < widths.size(); w0 += batch) {
    const std::span<const double> part =
        std::span(widths).subspan(w0, std::min(batch, widths.size() - w0));
    std::optional<kde::CvProblem> problem;
    collectively(comm, [&] {
      problem.emplace(kernel, method, part, n, local, shard.mine().begin);
      if (weights.weighted) {
        problem->weigh({weights.local, weights.mass, weights.squares, weights.smallest});
      }
      if (pruned) problem->prune(nearest, *prune);
    });
    std::vector<kde::CvTotals> totals(static_cast<std::size_t>(team.threads()),
                                      problem->new_totals());
    const std::string what = batches == 1 ? std::to_string(widths.size()) + " widths"
                                          : "widths " + std::to_string(w0 + 1) + "-" +
                                                std::to_string(w0 + part.size()) + " of " +
                                                std::to_string(widths.size());
    int step = 0;
    auto query_block = [&](std::uint64_t b) {
      return IndexRange{b * kQueries, std::min(rows, (b + 1) * kQueries)};
    };
    around_ring(
        comm, shard, local, ring,
        [&](const kde::SampleBlock& block, auto& poll) {
          progress.stage(ring_stage(what, ++step, comm.size()));
          const auto visit = problem->visit(block);
          for_each_item(team, items, [&](std::uint64_t b, Worker worker) {
            problem->add(visit, query_block(b), totals[static_cast<std::size_t>(worker.tid)]);
            progress.advance();
            if (worker.tid == 0) poll();
          });
        },
        &weights);
    for_each_item(team, items, [&](std::uint64_t b, Worker worker) {
      problem->close(query_block(b), totals[static_cast<std::size_t>(worker.tid)]);
    });
    std::vector<std::int64_t> wire = totals[0].wire();
    for (std::size_t t = 1; t < totals.size(); ++t) {
      const auto more = totals[t].wire();
      for (std::size_t k = 0; k < wire.size(); ++k) wire[k] += more[k];
    }
    comm.all_reduce_in_place(std::span<std::int64_t>(wire), ops::plus{});
    const kde::CvCurve piece = problem->finish(wire);
    curve.widths.insert(curve.widths.end(), piece.widths.begin(), piece.widths.end());
    curve.score.insert(curve.score.end(), piece.score.begin(), piece.score.end());
    curve.lonely.insert(curve.lonely.end(), piece.lonely.begin(), piece.lonely.end());
    curve.score_bound.insert(curve.score_bound.end(), piece.score_bound.begin(),
                             piece.score_bound.end());
  }
  curve.best = kde::choose_width(curve);
  return curve;
}

}  // namespace

std::vector<double> linspace(double start, double stop, std::uint64_t count) {
  std::vector<double> out(count);
  const double step = count > 1 ? (stop - start) / static_cast<double>(count - 1) : 0.0;
  for (std::uint64_t i = 0; i < count; ++i) out[i] = static_cast<double>(i) * step + start;
  if (count > 1) out.back() = stop;
  return out;
}

KdeAlgo parse_kde_algo(std::string_view name) {
  if (name == "auto") return KdeAlgo::automatic;
  if (name == "naive") return KdeAlgo::naive;
  if (name == "sweep") return KdeAlgo::sweep;
  if (name == "tree") return KdeAlgo::tree;
  if (name == "range") return KdeAlgo::range;
  throw UsageError("KdeOptions::algo must be auto, naive, sweep, tree or range, not '" +
                   std::string(name) + "'");
}

std::string_view to_string(KdeAlgo algo) noexcept {
  switch (algo) {
    case KdeAlgo::automatic:
      return "auto";
    case KdeAlgo::naive:
      return "naive";
    case KdeAlgo::sweep:
      return "sweep";
    case KdeAlgo::tree:
      return "tree";
    case KdeAlgo::range:
      return "range";
  }
  return "unknown";
}

SampleRng parse_sample_rng(std::string_view name) {
  if (name == "numpy") return SampleRng::numpy;
  if (name == "philox") return SampleRng::philox;
  throw UsageError("KdeOptions::rng must be numpy or philox, not '" + std::string(name) + "'");
}

std::string_view to_string(SampleRng rng) noexcept {
  return rng == SampleRng::numpy ? "numpy" : "philox";
}

namespace {

/// Splits on `separator` and parses each part as a finite double.
std::vector<double> parse_numbers(std::string_view text, char separator, std::string_view what) {
  std::vector<double> out;
  std::string_view rest = text;
  while (true) {
    const auto cut = rest.find(separator);
    std::string part(rest.substr(0, cut));
    const auto first = part.find_first_not_of(" \t");
    const auto last = part.find_last_not_of(" \t");
    part = first == std::string::npos ? "" : part.substr(first, last - first + 1);
    if (!part.empty() && part.front() == '+') part.erase(0, 1);
    double value = 0;
    const auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), value);
    if (part.empty() || ec != std::errc() || end != part.data() + part.size() ||
        !std::isfinite(value)) {
      throw UsageError(std::string(what) + " '" + std::string(text) + "': '" + part +
                       "' is not a finite number");
    }
    out.push_back(value);
    if (cut == std::string_view::npos) break;
    rest.remove_prefix(cut + 1);
  }
  return out;
}

}  // namespace

std::vector<double> parse_point(std::string_view text, std::string_view what) {
  return parse_numbers(text, ',', what);
}

std::vector<double> parse_widths(std::string_view text, std::string_view what) {
  std::vector<double> widths;
  if (text.find(':') != std::string_view::npos) {
    const auto parts = parse_numbers(text, ':', what);
    if (parts.size() != 3) {
      throw UsageError(std::string(what) + " '" + std::string(text) +
                       "': expected start:stop:count or a,b,c");
    }
    const double count = parts[2];
    if (count < 1 || count != std::floor(count) || count > 1e8) {
      throw UsageError(std::string(what) + " '" + std::string(text) +
                       "': the count must be a whole number from 1 to 1e8");
    }
    widths = linspace(parts[0], parts[1], static_cast<std::uint64_t>(count));
  } else {
    widths = parse_numbers(text, ',', what);
  }
  for (const double h : widths) {
    if (!(h > 0)) {
      throw UsageError(std::string(what) + " '" + std::string(text) +
                       "': widths must be positive (found " + format_short(h) + ")");
    }
  }
  return widths;
}

GridSpec parse_grid(std::string_view text) {
  const std::string whole(text);
  auto bad = [&](const std::string& why) {
    return UsageError("KdeOptions::grid '" + whole + "': " + why +
                      " (expected AxB or AxB:xmin:xmax:ymin:ymax)");
  };
  GridSpec grid;
  const auto colon = text.find(':');
  std::string_view cells = text.substr(0, colon);
  while (true) {
    const auto x = cells.find('x');
    const std::string_view part = cells.substr(0, x);
    std::uint64_t value = 0;
    const auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), value);
    if (part.empty() || ec != std::errc() || end != part.data() + part.size()) {
      throw bad("'" + std::string(part) + "' is not a whole number of cells");
    }
    if (value == 0) throw bad("a grid needs at least 1 cell per dimension");
    grid.cells.push_back(value);
    if (x == std::string_view::npos) break;
    cells.remove_prefix(x + 1);
  }
  if (colon == std::string_view::npos) return grid;
  std::string_view rest = text.substr(colon + 1);
  std::vector<double> bounds;
  while (true) {
    const auto c = rest.find(':');
    const std::string part(rest.substr(0, c));
    double value = 0;
    const auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), value);
    if (part.empty() || ec != std::errc() || end != part.data() + part.size() ||
        !std::isfinite(value)) {
      throw bad("'" + part + "' is not a finite number");
    }
    bounds.push_back(value);
    if (c == std::string_view::npos) break;
    rest.remove_prefix(c + 1);
  }
  if (bounds.size() != 2 * grid.cells.size()) {
    throw bad("needs 2 bounds per dimension, got " + std::to_string(bounds.size()));
  }
  for (std::size_t t = 0; t < grid.cells.size(); ++t) {
    grid.lo.push_back(bounds[2 * t]);
    grid.hi.push_back(bounds[2 * t + 1]);
    if (!(grid.lo.back() < grid.hi.back()) && grid.cells[t] > 1) {
      throw bad("each min must be below its max");
    }
  }
  return grid;
}

namespace {

/// KdeOptions::cv_optimize: Brent's method on log h between the best width's neighbours in the
/// sorted sweep (the sweep's ends when it is at one), to 1e-9 in log h. Every rank computes
/// the same scores (bitwise), so every rank takes the same steps.
void refine_width(const std::function<double(double)>& score_at, kde::CvCurve& curve) {
  if (!curve.best) return;  // no finite score to start from
  std::vector<double> sorted = curve.widths;
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  const double best = curve.widths[*curve.best];
  const auto at = std::lower_bound(sorted.begin(), sorted.end(), best);
  const double lo = at == sorted.begin() ? best : *(at - 1);
  const double hi = at + 1 == sorted.end() ? best : *(at + 1);
  curve.refined_h = best;
  curve.refined_score = curve.score[*curve.best];
  if (!(lo < hi)) return;
  const bool loglik = curve.method == kde::CvMethod::loglik;
  double best_score = curve.refined_score;
  auto cost = [&](double log_h) {
    const double h = std::exp(log_h);
    const double score = score_at(h);
    const bool better = loglik ? score > best_score : score < best_score;
    if (std::isfinite(score) && better) {
      best_score = score;
      curve.refined_h = h;
    }
    const double value = loglik ? -score : score;
    return std::isfinite(value) ? value : std::numeric_limits<double>::max();
  };
  int calls = 0;
  kde::brent_minimum(cost, std::log(lo), std::log(hi), 1e-9, calls);
  curve.refined_score = best_score;
  curve.evaluations = calls;
}

/// What the binned approximation supports.
void check_binned(const KdeOptions& options, int dim) {
  if (!options.binned) return;
  if (options.kernel == Kernel::hypercube) {
    throw UsageError(
        "KdeOptions::binned is for the gaussian and epanechnikov kernels (the hypercube's counts "
        "are exact and fast)");
  }
  if (dim > 3) {
    throw UsageError("KdeOptions::binned is for 1-D, 2-D and 3-D samples, not " +
                     std::to_string(dim) + "-D");
  }
  if (options.bin_cells == 1)
    throw UsageError("KdeOptions::bin_cells must be at least 2 (or 0: chosen from the widths)");
  if (options.cv && *options.cv != kde::CvMethod::loglik)
    throw UsageError("KdeOptions::binned cross-validates by loglik only");
  if (options.compare_naive)
    throw UsageError("KdeOptions::binned states its own error estimate: drop compare_naive");
}

/// What the continuous refinement of the CV needs.
void check_optimize(const KdeOptions& options) {
  if (!options.cv_optimize) return;
  if (!options.cv) throw UsageError("KdeOptions::cv_optimize refines a CV: add KdeOptions::cv");
  if (options.kernel == Kernel::hypercube) {
    throw UsageError(
        "KdeOptions::cv_optimize is for the smooth kernels (the hypercube's score is a step "
        "function of h)");
  }
}

/// The algorithm that runs: the tree for hypercube counts at many points, else the sweep.
KdeAlgo resolve_algo(const KdeOptions& options, std::uint64_t points, std::size_t dim) {
  const bool index = options.algo == KdeAlgo::tree || options.algo == KdeAlgo::range;
  if (index && options.kernel != Kernel::hypercube) {
    throw UsageError("KdeOptions::algo " + std::string(to_string(options.algo)) +
                     " counts hypercube windows: use the hypercube kernel");
  }
  if (options.algo == KdeAlgo::range && dim > 2) {
    throw UsageError("KdeOptions::algo range counts 1-D and 2-D samples, not " +
                     std::to_string(dim) + "-D: use tree");
  }
  if (index && !options.weights.path.empty()) {
    throw UsageError("KdeOptions::algo " + std::string(to_string(options.algo)) +
                     " counts windows: with KdeOptions::weights the hypercube sums the weights "
                     "by sweep (or naive)");
  }
  if (options.algo != KdeAlgo::automatic) return options.algo;
  if (options.kernel != Kernel::hypercube || points < 64 || !options.weights.path.empty())
    return KdeAlgo::sweep;
  return dim <= 2 ? KdeAlgo::range : KdeAlgo::tree;
}

/// Cell k's smooth-kernel density (or its log) from the raw sums of a block.
double cell_density(const KdeOptions& options, const KdeResult& result, const Raw& raw,
                    std::size_t k, bool log) {
  const std::size_t m = result.widths.size();
  const double shift = raw.shift.empty() ? 0.0 : raw.shift[k / m];
  const double n = raw.mass;
  const double h = result.widths[k % m];
  if (options.kernel == Kernel::hypercube) {  // weighted: sum of weights / (mass h^d)
    const double density = kde::HypercubeScale(n, h, result.dim)(raw.sums[k]) *
                           (result.log_det != 0 ? std::exp(result.log_det) : 1.0);
    return log ? std::log(density) : density;
  }
  // A bandwidth matrix: |det A| as a shift of log |det A| / (-1 / 2h^2) would lose bits;
  // apply it to the result.
  if (log) {
    return kde::log_smooth_density(options.kernel, h, result.dim, raw.sums[k], n, shift) +
           result.log_det;
  }
  const double density = kde::smooth_density(options.kernel, h, result.dim, raw.sums[k], n, shift);
  return result.log_det == 0 ? density : density * std::exp(result.log_det);
}

/// Whether the other algorithm's results agree: counts exactly; densities within the stated
/// bound plus both sides' rounding (the naive loop's terms also lose up to 2^-1075 each where
/// they underflow).
bool same_results(const KdeOptions& options, const KdeResult& result, const Raw& a, const Raw& b) {
  if (!std::ranges::equal(a.counts.span(), b.counts.span())) return false;
  const std::size_t m = result.widths.size();
  for (std::size_t k = 0; k < a.sums.size(); ++k) {
    const double x = cell_density(options, result, a, k, false);
    const double y = cell_density(options, result, b, k, false);
    const double underflow =
        options.kernel == Kernel::hypercube
            ? 0.0
            : kde::kernel_norm(options.kernel, result.widths[k % m], result.dim) * 0x1p-1074;
    const double allowed =
        options.bound.atol + underflow +
        (options.bound.rtol + 4 * kde::ErrorBound::kRounding) * std::max(std::abs(x), std::abs(y));
    if (!(std::abs(x - y) <= allowed)) return false;
  }
  return true;
}

/// Densities (and, for the hypercube, counts) of one block, from its raw sums; their logs too
/// with KdeOptions::log_density.
void block_densities(const KdeOptions& options, const KdeResult& result, Raw& raw,
                     std::vector<double>& density, std::vector<double>& log_density) {
  const std::size_t m = result.widths.size();
  const bool counts = options.kernel == Kernel::hypercube && !result.weights;
  const std::size_t cells = counts ? raw.counts.size() : raw.sums.size();
  density.resize(cells);
  if (counts) {
    std::vector<kde::HypercubeScale> scale;
    for (const double h : result.widths) scale.emplace_back(result.n, h, result.dim);
    const double det = std::exp(result.log_det);
    for (std::size_t k = 0; k < cells; ++k) {
      density[k] = scale[k % m](raw.counts.data()[k]);
      if (result.log_det != 0) density[k] *= det;
    }
    return;
  }
  for (std::size_t k = 0; k < cells; ++k) density[k] = cell_density(options, result, raw, k, false);
  log_density.resize(options.log_density ? cells : 0);
  for (std::size_t k = 0; k < log_density.size(); ++k)
    log_density[k] = cell_density(options, result, raw, k, true);
}

/// Query points per block: KdeOptions::point_block, else as many as keep a block within about
/// 64 MiB: its points, results (16 bytes per cell) and the counting index's work per point
/// (about 256 bytes), but at least 65536 (an index pass costs O(shard) per block).
std::uint64_t point_block(const KdeOptions& options, std::size_t m, std::size_t d) {
  if (options.point_block > 0) return options.point_block;
  return std::max<std::uint64_t>(65536, (std::uint64_t{64} << 20) / (16 * m + 8 * d + 256));
}

}  // namespace

namespace {

/// One run_kde call on one rank: the phases of the estimate, each collective over the team, and
/// the state they hand on (the shard, its weights and ranges, the transform, the indexes).
class KdeRun {
 public:
  KdeRun(Team& team, const KdeOptions& options)
      : team_(team), comm_(team.comm()), options_(options) {}

  KdeResult run() {
    load_samples();
    order_samples();
    plan_queries();
    build_indexes();
    // Block by block: every rank adds its shard's part of each block's cells, the parts are
    // summed over ranks, and rank 0 turns them into densities and hands them on (or keeps them).
    grid_progress_ = Progress(options_.progress, "kde", result_.point_count, "points");
    for (std::uint64_t b = 0; b < queries_->blocks(); ++b) compute_block(b);
    grid_progress_.finish("finished densities");
    finish_timings();
    if (binned_ && result_.n > 0) {
      estimate_binned_error(team_, samples(), weights_, result_.first_row, options_, *binned_,
                            result_);
    }
    if (options_.cv) cross_validate_widths();
    return std::move(result_);
  }

 private:
  Samples& samples() { return result_.samples; }
  std::size_t dim() const { return static_cast<std::size_t>(result_.dim); }

  /// Loads the shard and its weights (dropping samples of weight 0), their ranges, the plotted
  /// subsample, and maps the samples where the kernel is isotropic (a bandwidth matrix).
  void load_samples() {
    comm_.barrier();
    Stopwatch load;
    collectively(comm_, [&] {
      options_.bound.check();
      options_.progress.check();
    });
    shard_ = load_shard(comm_, options_);
    result_.load_seconds = max_over_ranks(comm_, load.seconds());
    result_.n = shard_.layout.rows();
    result_.dim = static_cast<int>(shard_.cols);
    weights_ = load_weights(comm_, options_, result_.n, shard_.rows());
    drop_zero_weights(comm_, shard_, weights_);
    result_.n = shard_.layout.rows();
    if (weights_.weighted) {
      result_.weights = KdeResult::Weights{weights_.mass * weights_.largest, weights_.effective,
                                           weights_.dropped};
    }
    column_ranges(comm_, shard_.values, lo_, hi_);
    // The query grid's default bounds and the plotted samples are in the samples' coordinates;
    // the rest runs where the kernel is isotropic (a bandwidth matrix moves the samples).
    grid_lo_ = lo_;
    grid_hi_ = hi_;
    result_.plot_samples = subsample(comm_, shard_.values, shard_.mine().begin, result_.n, 5000);
    transform_ = plan_transform(comm_, options_, shard_.values, result_.n, weights_);
    if (transform_.active()) {
      transform_.apply(shard_.values.data(), shard_.rows(), shard_.values.cols());
      column_ranges(comm_, shard_.values, lo_, hi_);
    }
    result_.log_det = transform_.log_det;
  }

  /// Checks the options that depend on the data, and for the smooth kernels' fast path puts the
  /// samples in an order of their own (Z-order), so that chunks and their pieces are compact
  /// boxes the sums can skip (kde/pruned_sums.hpp). The samples end up in result_.samples.
  void order_samples() {
    collectively(comm_, [&] {
      check_binned(options_, result_.dim);
      check_optimize(options_);
    });
    pruned_ =
        options_.kernel != Kernel::hypercube && options_.algo != KdeAlgo::naive && !options_.binned;
    if (pruned_) {
      comm_.barrier();
      Stopwatch clock;
      sort_weighted_rows_spatially(comm_, shard_, weights_, lo_, hi_, kde::chunk_rows(result_.n));
      kernel_seconds_ += clock.seconds();
    }
    result_.first_row = shard_.mine().begin;
    result_.samples = std::move(shard_.values);
  }

  /// The widths (by a rule, ISJ, or as given), the query points and the algorithm.
  void plan_queries() {
    const std::size_t d = dim();
    std::vector<double> variances;
    if (options_.bandwidth == kde::BandwidthRule::isj) {
      result_.rule_width =
          isj_width(comm_, options_, samples(), weights_, result_.n, lo_[0], hi_[0]);
    } else if (uses_rule(options_)) {
      variances = column_variances(comm_, samples(), weights_);
    }
    collectively(comm_, [&] {
      result_.widths = plan_widths(options_, weights_.effective, variances, result_.rule_width);
      for (const double h : result_.widths) {
        if (!(h > 0) || !std::isfinite(h))
          throw UsageError("KdeOptions::widths must be positive and finite");
      }
    });
    const std::size_t m = result_.widths.size();
    collectively(comm_, [&] {
      queries_.emplace(comm_, options_, d, grid_lo_, grid_hi_, point_block(options_, m, d));
    });
    result_.point_count = queries_->count();
    result_.grid_cells = queries_->grid_cells();
    collectively(comm_, [&] { result_.algo = resolve_algo(options_, result_.point_count, d); });
  }

  /// What the blocks' sums query: the hypercube's counting index, the pruned sums' boxes or the
  /// binned model, and the index of the algorithm compared with (KdeOptions::compare_naive).
  void build_indexes() {
    other_ = result_.algo == KdeAlgo::naive ? KdeAlgo::sweep : KdeAlgo::naive;
    comm_.barrier();
    Stopwatch index_clock;
    if (options_.kernel == Kernel::hypercube && result_.algo == KdeAlgo::range && dim() == 2 &&
        comm_.size() > 1) {
      // Range counting on several ranks: the ranks' rows become slabs of the first coordinate,
      // so that each window is swept by the ranks its slab reaches and costs the others a
      // subtraction: the queries' work is split, not repeated on every rank.
      split_rows_by_column(comm_, samples(), 0,
                           balanced_splitters(comm_, samples(), 0, lo_[0], hi_[0]));
      shard_.layout = RowLayout::gather(comm_, static_cast<std::uint64_t>(samples().rows()));
      result_.first_row = shard_.mine().begin;
    }
    const bool counting = options_.kernel == Kernel::hypercube && !weights_.weighted;
    index_.emplace(counting ? build_index(team_, samples(), result_.algo, result_.point_count)
                            : CountIndex{});
    if (pruned_) {
      index_->boxes.emplace(samples(), kde::chunk_rows(result_.n));
      if (weights_.weighted) index_->boxes->set_weights(weights_.local.data());
    }
    if (options_.binned) {
      binned_.emplace(build_binned(team_, samples(),
                                   weights_.weighted ? weights_.local.data() : nullptr, lo_, hi_,
                                   options_, result_.widths));
      result_.binned = KdeResult::Binned{{}, 0.0, 0};
      for (const auto& grid : binned_->grids) result_.binned->cells.push_back(grid.cells);
    }
    kernel_seconds_ += index_clock.seconds();
    if (options_.compare_naive && counting) {
      Stopwatch clock;
      other_index_.emplace(build_index(team_, samples(), other_, result_.point_count));
      other_seconds_ += clock.seconds();
    }
  }

  /// Block b of the query points: its sums over every rank's samples (and the comparison's),
  /// then its densities on rank 0.
  void compute_block(std::uint64_t b) {
    const std::vector<double> points = queries_->points(comm_, b);
    const IndexRange range = queries_->block(b);
    std::vector<double> moved;  // the points where the samples are
    if (transform_.active()) {
      moved = points;
      transform_.apply(moved.data(), range.size(), static_cast<Eigen::Index>(dim()));
    }
    const DensityProblem problem{
        samples(),      result_.n,      transform_.active() ? moved : points,
        range.size(),   result_.widths, options_.kernel,
        result_.algo,   options_.bound, &weights_,
        &grid_progress_};
    if (queries_->blocks() > 1) {
      grid_progress_.stage("query block " + std::to_string(b + 1) + "/" +
                           std::to_string(queries_->blocks()));
    }
    Stopwatch clock;
    Raw raw;
    if (binned_) {
      raw.sums = binned_sums(comm_, *binned_, problem);
      raw.mass = problem.mass();
    } else {
      raw = compute(team_, problem, *index_);
    }
    kernel_seconds_ += clock.seconds();
    if (options_.compare_naive) {
      DensityProblem reference = problem;
      reference.algo = other_;
      reference.progress = nullptr;
      Stopwatch other_clock;
      const Raw check = compute(team_, reference, other_index_ ? *other_index_ : CountIndex{});
      other_seconds_ += other_clock.seconds();
      result_.naive_equal = result_.naive_equal && same_results(options_, result_, raw, check);
    }
    hand_on(range, points, raw);
    grid_progress_.update(range.end);
  }

  /// Rank 0 turns a block's sums into densities, notes the largest, and hands the block to
  /// KdeOptions::on_block (or keeps it in the result); an error there (a full disk, say) ends
  /// every rank together.
  void hand_on(const IndexRange& range, const std::vector<double>& points, Raw& raw) {
    const std::size_t m = result_.widths.size();
    collectively(comm_, [&] {
      if (team_.rank() != 0) return;
      block_densities(options_, result_, raw, density_, log_density_);
      for (std::size_t k = 0; k < density_.size(); ++k) {
        if (!have_max_ || density_[k] > result_.max_density) {
          have_max_ = true;
          result_.max_density = density_[k];
          result_.max_point = range.begin + k / m;
          result_.max_width = k % m;
        }
      }
      if (options_.on_block) {
        options_.on_block(DensityBlock{range.begin, result_.point_count, result_.dim,
                                       result_.widths, points, raw.counts.span(), density_,
                                       log_density_});
      } else {
        result_.points.insert(result_.points.end(), points.begin(), points.end());
        result_.counts.insert(result_.counts.end(), raw.counts.data(),
                              raw.counts.data() + raw.counts.size());
        result_.density.insert(result_.density.end(), density_.begin(), density_.end());
      }
    });
  }

  /// The slowest rank's kernel time, and the compared algorithm's (the naive time is the
  /// naive algorithm's, whichever ran as the comparison).
  void finish_timings() {
    result_.seconds = max_over_ranks(comm_, kernel_seconds_);
    if (options_.compare_naive) {
      const double seconds = max_over_ranks(comm_, other_seconds_);
      result_.naive_seconds = other_ == KdeAlgo::naive ? seconds : result_.seconds;
      if (other_ == KdeAlgo::sweep) result_.seconds = seconds;
      result_.naive_equal = comm_.all_reduce(result_.naive_equal ? 1 : 0, ops::min{}) == 1;
    }
  }

  /// The cross-validation curve at `widths`: binned, or leave-one-out over every sample (pruned
  /// within `prune`). shard_ still has its layout (its values moved to result_.samples).
  kde::CvCurve cv_scores(const std::vector<double>& widths,
                         const std::optional<kde::ErrorBound>& prune) {
    return options_.binned ? binned_cross_validation(team_, samples(), weights_, result_.n, lo_,
                                                     hi_, options_, widths)
                           : cross_validate(team_, shard_, samples(), weights_, options_.kernel,
                                            *options_.cv, widths, prune, cv_progress_);
  }

  /// KdeOptions::cv: the curve over the widths (and the refined width), its scores mapped to
  /// the samples' coordinates.
  void cross_validate_widths() {
    comm_.barrier();
    Stopwatch cv;
    if (!options_.binned) {
      cv_progress_ = Progress(options_.progress, "kde cv", 0, "query blocks");
    }
    std::optional<kde::ErrorBound> prune;
    if (pruned_) prune = options_.bound;
    result_.cv = cv_scores(result_.widths, prune);
    if (options_.cv_optimize) {
      refine_width(
          [&](double h) {
            const std::vector<double> one{h};
            return cv_scores(one, prune).score.front();
          },
          *result_.cv);
    }
    cv_progress_.finish("finished cross-validation");
    result_.cv_seconds = max_over_ranks(comm_, cv.seconds());
    // Densities in the samples' coordinates are |det A| times those computed.
    auto mapped = [&](double score) {
      return options_.cv == kde::CvMethod::loglik ? score + transform_.log_det
                                                  : score * std::exp(transform_.log_det);
    };
    for (double& score : result_.cv->score) score = mapped(score);
    for (double& bound : result_.cv->score_bound) bound *= std::exp(transform_.log_det);
    if (result_.cv->refined_h) result_.cv->refined_score = mapped(result_.cv->refined_score);
  }

  Team& team_;
  const Comm& comm_;
  const KdeOptions& options_;
  KdeResult result_;
  RowShard shard_;  // its values move to result_.samples once loaded and ordered
  SampleWeights weights_;
  std::vector<double> lo_, hi_;            // the samples' ranges, where the kernel is isotropic
  std::vector<double> grid_lo_, grid_hi_;  // the same in the samples' own coordinates
  SampleTransform transform_;
  bool pruned_ = false;  // the smooth kernels' pruned sums (samples in Z-order)
  std::optional<QueryPoints> queries_;
  std::optional<CountIndex> index_;
  std::optional<BinnedModel> binned_;
  KdeAlgo other_ = KdeAlgo::naive;  // the algorithm compared with
  std::optional<CountIndex> other_index_;
  double kernel_seconds_ = 0;
  double other_seconds_ = 0;
  std::vector<double> density_, log_density_;  // rank 0: the block's densities
  bool have_max_ = false;
  Progress grid_progress_;  // query points done
  Progress cv_progress_;    // the cross-validation's query blocks done
};

}  // namespace

KdeResult run_kde(Team& team, const KdeOptions& options) {
  return KdeRun(team, options).run();
}

}  // namespace parakit::workloads
