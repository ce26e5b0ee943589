// Leave-one-out cross-validation of the window width over a sweep of widths.
//
//   loglik: mean over samples of log f_{-i}(x_i), the density at x_i of the other n - 1
//           samples; -inf when some sample has no neighbour in its window (never chosen).
//   lsq:    the least-squares score  integral(f^2) - (2/n) sum_i f_{-i}(x_i)  (smaller is better).
//           For the hypercube the integral needs the overlap volume of two windows,
//           prod_t (h - |x_it - x_jt|)_+, a polynomial in h per pair; for the gaussian it is the
//           gaussian of width sqrt(2) h.
//
// The work is split by query sample: partial(queries) returns the sums one block of queries
// adds, and finish() folds the blocks in order. With a fixed block size (patterns/chunks.hpp)
// every backend and worker count gives the same curve bit for bit. For the hypercube the
// per-width pair counts are integers; the fast algorithm sorts the samples along one
// coordinate, visits only pairs within the largest window, and buckets each pair's Chebyshev
// distance among the sorted widths (kde/neighbors.hpp), so a pair costs one
// binary search, not m tests.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "parakit/core/partition.hpp"
#include "parakit/kde/kernels.hpp"
#include "parakit/kde/neighbors.hpp"

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
};

class CvProblem {
 public:
  /// Throws UsageError for lsq with the epanechnikov kernel, fewer than 2 samples, or bad
  /// widths; InputError for non-finite samples.
  CvProblem(Kernel kernel, CvMethod method, const Samples& samples, std::span<const double> widths);

  std::uint64_t queries() const noexcept { return static_cast<std::uint64_t>(samples_.rows()); }
  /// The sums that queries [begin, end) contribute.
  std::vector<double> partial(IndexRange queries) const;
  /// Folds the partials of consecutive query blocks covering [0, queries()), in order.
  CvCurve finish(const std::vector<std::vector<double>>& partials) const;

 private:
  std::vector<double> hypercube_loglik(IndexRange queries) const;
  std::vector<double> hypercube_lsq(IndexRange queries) const;
  std::vector<double> smooth(IndexRange queries) const;

  Kernel kernel_;
  CvMethod method_;
  const Samples& samples_;
  std::vector<double> widths_;
  HypercubeWidths sorted_widths_;
  std::optional<SortedSamples> sorted_samples_;  // hypercube only
};

/// The reference: the whole curve from plain O(n^2 m) loops (the seed's predicate per pair and
/// width, direct overlap volumes, direct kernel sums), for tests.
CvCurve cv_curve_naive(Kernel kernel, CvMethod method, const Samples& samples,
                       std::span<const double> widths);

/// The O(n^2 m) work the fast hypercube CV replaces, for the benchmark: the leave-one-out
/// neighbour counts of the sample rows `queries` by the seed's loop, counts[q * m + j].
std::vector<std::uint64_t> hypercube_loo_counts_naive(const Samples& samples,
                                                      std::span<const Eigen::Index> queries,
                                                      std::span<const double> widths);

}  // namespace parakit::kde
