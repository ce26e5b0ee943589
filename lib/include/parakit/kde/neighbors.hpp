// Building blocks of the fast hypercube algorithms: the window widths sorted with their exact
// distance limits, and the samples sorted along one coordinate so that a query visits only
// the samples that can lie inside its largest window.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "parakit/kde/parzen.hpp"

namespace parakit::kde {

/// Sorted thresholds t_0 <= t_1 <= ... and, for any r, the first j with r <= t_j (size() if
/// none) in O(1): a table over [0, t_max] gives a guess that short scans make exact.
class Buckets {
 public:
  Buckets() = default;
  explicit Buckets(std::vector<double> sorted_thresholds);

  std::size_t size() const noexcept { return threshold_.size(); }
  std::span<const double> thresholds() const noexcept { return threshold_; }
  double max() const noexcept { return threshold_.empty() ? -1.0 : threshold_.back(); }

  std::size_t bucket(double r) const noexcept {
    if (!(r <= max())) return size();
    const double cell = r * cell_scale_;
    std::size_t j =
        start_[cell < static_cast<double>(start_.size() - 1) ? static_cast<std::size_t>(cell)
                                                             : start_.size() - 1];
    while (threshold_[j] < r) ++j;
    while (j > 0 && threshold_[j - 1] >= r) --j;
    return j;
  }

 private:
  std::vector<double> threshold_;
  std::vector<std::size_t> start_;  // start_[c]: first j with threshold_[j] >= c / cell_scale_
  double cell_scale_ = 0;
};

/// The widths in increasing order, each with limit r_h: the largest distance r with
/// fl(r / h) <= 1/2. Division is monotone, so a sample at Chebyshev distance r lies inside the
/// window of width h (the window test) exactly when r <= r_h, and r_h grows with h.
class HypercubeWidths {
 public:
  /// Throws UsageError unless every width is positive and finite.
  explicit HypercubeWidths(std::span<const double> widths);

  std::size_t size() const noexcept { return sorted_.size(); }
  /// sorted()[j] = widths[order()[j]].
  std::span<const double> sorted() const noexcept { return sorted_; }
  std::span<const std::size_t> order() const noexcept { return order_; }
  std::span<const double> limits() const noexcept { return limits_.thresholds(); }
  double max_limit() const noexcept { return limits_.max(); }

  /// The first sorted width whose window holds distance r (size() if none).
  std::size_t bucket(double r) const noexcept { return limits_.bucket(r); }

  /// counts[order[j]] = histogram[0] + ... + histogram[j]: a histogram of buckets (size() + 1
  /// entries, the last one for "outside every window") becomes counts in the caller's order.
  void to_counts(std::span<const std::uint64_t> histogram, std::span<std::uint64_t> counts) const;

 private:
  std::vector<double> sorted_;
  std::vector<std::size_t> order_;
  Buckets limits_;
};

/// The samples sorted along their widest coordinate (stable: ties keep the input order).
class SortedSamples {
 public:
  /// Throws InputError if a sample has a NaN or infinite coordinate.
  explicit SortedSamples(const Eigen::Ref<const Samples>& samples);

  Eigen::Index rows() const noexcept { return rows_; }
  int dim() const noexcept { return dim_; }
  int key() const noexcept { return key_; }
  const double* row(Eigen::Index i) const noexcept { return values_.data() + i * dim_; }
  /// The input row of sorted row i.
  Eigen::Index original(Eigen::Index i) const noexcept {
    return index_[static_cast<std::size_t>(i)];
  }

  /// Sorted rows [first, last) holding every sample whose key coordinate x satisfies
  /// fl(|x - value|) <= radius (a superset: callers test the full distance themselves).
  std::pair<Eigen::Index, Eigen::Index> window(double value, double radius) const noexcept;

 private:
  Eigen::Index rows_ = 0;
  int dim_ = 0;
  int key_ = 0;
  std::vector<double> values_;  // row-major, sorted rows
  std::vector<double> keys_;    // key coordinate of each sorted row
  std::vector<Eigen::Index> index_;
};

/// Adds, for one point, the bucket (HypercubeWidths::bucket) of every sample to histogram
/// (widths.size() + 1 entries); samples outside the largest window go to the last entry only
/// when they were visited, so use counts (prefix sums), not that entry. `skip` is a sorted row
/// to leave out (leave-one-out), or -1.
void hypercube_histogram(const SortedSamples& samples, const HypercubeWidths& widths,
                         std::span<const double> point, std::span<std::uint64_t> histogram,
                         Eigen::Index skip = -1);

}  // namespace parakit::kde
