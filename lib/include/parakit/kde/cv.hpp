// Leave-one-out cross-validation of the window width over a sweep of widths.
//
//   loglik: mean over samples of log f_{-i}(x_i), the density at x_i of the other n - 1
//           samples; -inf when some sample has no neighbour in its window (never chosen).
//   lsq:    the least-squares score  integral(f^2) - (2/n) sum_i f_{-i}(x_i)  (smaller is better).
//           For the hypercube the integral needs the overlap volume of two windows,
//           prod_t (h - |x_it - x_jt|)_+, a polynomial in h per pair; for the gaussian it is the
//           gaussian of width sqrt(2) h.
//
// The samples may be spread over ranks. A CvProblem holds one rank's samples as queries and
// takes the samples as blocks in any order (SampleBlock: its own rows, then, around a ring of
// ranks, every other rank's): add() accounts for the pairs of a block with a range of queries,
// close() folds each query's sums once every block has been seen, and the per-thread totals
// (int64s: counts and the wire forms of exact and fixed-point sums) add elementwise across
// threads and ranks into the totals finish() turns into the curve. Every floating-point sum
// goes through an order-independent accumulator (numeric::ExactAccumulator, numeric::BinnedSum;
// smooth kernels by row chunks, kde/chunk_sums.hpp), so the curve and the chosen width are the
// same bits for every rank count, thread count and order of blocks.
//
// For the hypercube the per-width pair counts are integers; the fast algorithm sorts each
// block along one coordinate, visits only pairs within the largest window, and buckets each
// pair's Chebyshev distance among the sorted widths (kde/neighbors.hpp), so a pair costs one
// lookup, not m tests.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "parakit/core/partition.hpp"
#include "parakit/kde/kernels.hpp"
#include "parakit/kde/neighbors.hpp"
#include "parakit/kde/pruned_sums.hpp"
#include "parakit/numeric/binned_sum.hpp"
#include "parakit/numeric/exact_sum.hpp"

namespace parakit::kde {

enum class CvMethod { loglik, lsq };
CvMethod parse_cv_method(std::string_view name);
std::string_view to_string(CvMethod method) noexcept;

struct CvCurve {
  CvMethod method = CvMethod::loglik;
  std::vector<double> widths;  ///< in the caller's order
  std::vector<double> score;   ///< per width; loglik may be -inf
  /// The chosen width's index: the best finite score (max loglik, min lsq), the smallest such
  /// width on ties; empty when no width has a finite score.
  std::optional<std::size_t> best;
  /// Per width, how many samples have no neighbour (hypercube and loglik only; else empty).
  std::vector<std::uint64_t> lonely;
  /// Gaussian lsq: per width, an absolute bound on the score's error against exact arithmetic
  /// (its sums skip nothing; the bound covers their rounding, ErrorBound::kRounding relative to
  /// each of the score's two terms). Else empty: loglik terms are bounded by ErrorBound itself.
  std::vector<double> score_bound;
  /// With a continuous refinement (smooth kernels): the width that optimises the score between
  /// the best width's neighbours in the sweep, and its score.
  std::optional<double> refined_h;
  double refined_score = 0;
  int evaluations = 0;  ///< scores the refinement computed
};

/// Brent's minimisation of f on [a, b] (parabolic steps, golden sections where they do not
/// help), to |x - x*| <= tol (absolute); returns x* and counts the calls in `calls`.
double brent_minimum(const std::function<double(double)>& f, double a, double b, double tol,
                     int& calls);

/// Rows [first, first + rows) of the n samples, row-major (the problem's dimension per row).
/// For smooth kernels `first` must be a multiple of chunk_rows(n) (shards hold whole chunks).
struct SampleBlock {
  const double* values = nullptr;
  std::uint64_t rows = 0;
  std::uint64_t first = 0;
  const double* weights = nullptr;  ///< the rows' weights, with CvProblem::weigh
};

/// Sample weights for a weighted CV (CvProblem::weigh), scaled into [0, 1] (the largest 1).
/// The scores are then the weighted ones: loglik sum_i w_i log f_-i(x_i) / sum w, with
/// f_-i = sum_{j != i} w_j K_ij / (sum w - w_i); lsq integral(f^2) - 2 sum_i w_i f_-i(x_i) / sum w.
struct CvWeights {
  std::span<const double> queries;  ///< the queries' weights
  double mass = 0;                  ///< the sum of all samples' weights (> 1)
  double squares = 0;               ///< the sum of their squares
  /// the smallest positive weight (pruning needs every sample of weight 0 left out: a sample's
  /// nearest other sample's term is then at least this)
  double smallest = 1;
};

/// One thread's share of the sums a curve needs; wire() gives int64s that add elementwise
/// across threads and ranks (one integer all-reduce).
class CvTotals {
 public:
  std::vector<std::int64_t> wire() const;

 private:
  friend class CvProblem;
  std::vector<std::int64_t> counts_;              // lonely samples, or pairs, per width
  std::vector<numeric::ExactAccumulator> exact_;  // sum of log densities per width
  std::vector<numeric::BinnedSum> binned_;        // lsq sums, aligned to a common top
  int top_ = numeric::BinnedSum::kEmpty;
};

class CvProblem {
 public:
  /// The queries are rows [first_query, first_query + queries.rows()) of n samples. Throws
  /// UsageError for lsq with the epanechnikov kernel, n < 2, no widths or bad widths;
  /// InputError for non-finite queries. The queries must outlive the problem.
  CvProblem(Kernel kernel, CvMethod method, std::span<const double> widths, std::uint64_t n,
            const Samples& queries, std::uint64_t first_query);

  std::uint64_t queries() const noexcept { return static_cast<std::uint64_t>(queries_.rows()); }
  std::span<const double> widths() const noexcept { return widths_; }
  /// Bytes of per-query state per query (what width batches must bound).
  static std::uint64_t query_bytes(Kernel kernel, CvMethod method, std::size_t widths,
                                   bool weighted = false) noexcept;
  /// Weighted samples: every block visited must then carry its rows' weights
  /// (SampleBlock::weights). Call before prune() and visit(). Throws InputError when fewer
  /// than two samples have a positive weight (mass <= 1).
  void weigh(const CvWeights& weights);

  /// Smooth kernels, loglik: sums only the samples within each query's reach
  /// (kde/pruned_sums.hpp). nearest[q] is query q's squared distance to its nearest other
  /// sample over all ranks; Gaussian terms are taken relative to it, so that a query's
  /// log-likelihood term stays finite where its density underflows. Every leave-one-out
  /// density is then within bound.atol + bound.rtol * density of the full sum. Call before
  /// visit(); the blocks must be in the spatial order (sort_rows_spatially) for it to pay.
  void prune(std::span<const double> nearest, const ErrorBound& bound);

  /// A block prepared once for every thread (the hypercube sorts a copy of it; pruned sums
  /// take its boxes).
  struct Visit {
    SampleBlock block;
    std::optional<SortedSamples> sorted;
    std::optional<SampleBoxes> boxes;
  };
  Visit visit(const SampleBlock& block) const;

  /// Zeroed totals for one thread.
  CvTotals new_totals() const;
  /// Accounts for the pairs (q, s) with q in `queries` (indices into the queries) and s in the
  /// visit, s != q. Calls for disjoint query ranges may run at once on different threads, each
  /// with its own totals.
  void add(const Visit& visit, IndexRange queries, CvTotals& totals);
  /// Once every block has been added for them: folds the sums of `queries` into totals.
  void close(IndexRange queries, CvTotals& totals) const;
  /// The curve from the elementwise sum of every thread's and rank's CvTotals::wire().
  CvCurve finish(std::span<const std::int64_t> wire) const;

 private:
  void add_hypercube_loglik(const Visit& visit, IndexRange queries);
  void add_hypercube_lsq(const Visit& visit, IndexRange queries, CvTotals& totals) const;
  void add_smooth(const Visit& visit, IndexRange queries, CvTotals& totals);
  /// Whether the pairs go through the chunk sums: smooth kernels, and the weighted hypercube's
  /// loglik (sums of weights instead of counts).
  bool smooth_path() const noexcept {
    return kernel_ != Kernel::hypercube || (weights_ && method_ == CvMethod::loglik);
  }
  // finish(), by kernel and method: the scores (and error bounds, lonely counts) of the curve
  // from the summed totals.
  struct SummedTotals;
  /// Weighted samples, but for the hypercube's lsq.
  void score_weighted(const SummedTotals& sums, CvCurve& curve) const;
  /// The unweighted hypercube's loglik: from the counts of lonely samples and sums of logs.
  void score_hypercube_loglik(const SummedTotals& sums, CvCurve& curve) const;
  /// The hypercube's lsq (weighted or not): overlaps from the sums of powers, by width.
  void score_hypercube_lsq(const SummedTotals& sums, CvCurve& curve) const;
  /// The unweighted smooth kernels.
  void score_smooth(const SummedTotals& sums, CvCurve& curve) const;

  Kernel kernel_;
  CvMethod method_;
  std::uint64_t n_;
  const Samples& queries_;
  std::uint64_t first_query_;
  std::vector<double> widths_;
  HypercubeWidths sorted_widths_;
  Buckets overlap_start_;                 // hypercube lsq: the bucket where a pair's overlap starts
  int top_ = numeric::BinnedSum::kEmpty;  // a bound's bin for the lsq totals
  std::vector<std::uint64_t> hist_;       // hypercube loglik: queries x (m + 1) buckets
  std::vector<numeric::BinnedSum> loo_;   // smooth loglik: queries x m kernel sums
  bool pruned_ = false;                   // prune() was called
  std::optional<CvWeights> weights_;      // weigh() was called
  std::vector<double> shift_, reach2_;    // pruned: per query, and per query x width
};

/// The whole curve of `samples` on one thread, with the samples cut into `blocks` blocks of
/// whole chunks visited in rotated order as `blocks` ranks around a ring would (for tests).
CvCurve cv_curve(Kernel kernel, CvMethod method, const Samples& samples,
                 std::span<const double> widths, int blocks = 1);

/// Picks the best finite score (max loglik, min lsq), the smallest width on ties.
std::optional<std::size_t> choose_width(const CvCurve& curve);

/// The reference: the whole curve from plain O(n^2 m) loops (the window test per pair and
/// width, direct overlap volumes, direct kernel sums), for tests.
CvCurve cv_curve_naive(Kernel kernel, CvMethod method, const Samples& samples,
                       std::span<const double> widths);

/// The O(n^2 m) work the fast hypercube CV replaces, for the benchmark: the leave-one-out
/// neighbour counts of the sample rows `queries` by the plain loop, counts[q * m + j].
std::vector<std::uint64_t> hypercube_loo_counts_naive(const Samples& samples,
                                                      std::span<const Eigen::Index> queries,
                                                      std::span<const double> widths);

}  // namespace parakit::kde
