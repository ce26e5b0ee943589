// Parzen-window density estimation with the hypercube kernel, for one query point and many
// window widths at once.
//
// The window test: a sample x counts for the point p at width h when fl(|p_t - x_t|) / h <= 1/2
// in every coordinate t (the boundary is inside), evaluated in double precision exactly as
// written, so that every algorithm here finds the same samples inside, ties included. The
// density is k / (n h^d).
#pragma once

#include <Eigen/Core>
#include <cstdint>
#include <span>
#include <vector>

namespace parakit::kde {

/// n samples of dimension d, one per row.
using Samples = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// k[j] for widths[j], by a plain double loop over samples and coordinates: O(n x m x d).
/// The reference every faster algorithm must equal exactly.
std::vector<std::uint64_t> hypercube_counts_naive(const Samples& samples,
                                                  std::span<const double> point,
                                                  std::span<const double> widths);

/// The same counts in O(n (d + log m) + m log m). Each width h gets the largest distance
/// r_h with fl(r_h / h) <= 1/2 (division is monotone, so r / h <= 1/2 <=> r <= r_h, and
/// max_t fl(|d_t| / h) = fl(max_t |d_t| / h)); each sample's Chebyshev distance is binary-
/// searched among the sorted r_h, and a prefix sum of that histogram gives every k, equal to
/// the naive loop's bit for bit, ties on the boundary included. Rows [first, last) only, so
/// workers can split the samples; their counts add up exactly.
std::vector<std::uint64_t> hypercube_counts_sweep(const Samples& samples,
                                                  std::span<const double> point,
                                                  std::span<const double> widths,
                                                  Eigen::Index first = 0, Eigen::Index last = -1);

/// k / (n h^d).
double hypercube_density(std::uint64_t count, std::uint64_t n, double h, int d) noexcept;

/// hypercube_density at one n, h and d, with h^d computed once: the same bits, for many counts.
/// Weighted samples: n the total weight and a count the weight inside a window (doubles).
class HypercubeScale {
 public:
  HypercubeScale(std::uint64_t n, double h, int d) noexcept
      : HypercubeScale(static_cast<double>(n), h, d) {}
  HypercubeScale(double n, double h, int d) noexcept;
  double operator()(std::uint64_t count) const noexcept {
    return (*this)(static_cast<double>(count));
  }
  double operator()(double count) const noexcept;

 private:
  double n_;
  double h_;
  int d_;
  double volume_;
  bool plain_;  // h^d is a finite positive double
};

}  // namespace parakit::kde
