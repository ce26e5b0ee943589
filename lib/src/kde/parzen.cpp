#include "parakit/kde/parzen.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>

#include "parakit/core/error.hpp"
#include "parakit/kde/neighbors.hpp"

namespace parakit::kde {
namespace {

void check_shapes(const Samples& samples, std::span<const double> point,
                  std::span<const double> widths) {
  if (static_cast<Eigen::Index>(point.size()) != samples.cols()) {
    throw UsageError("the point has " + std::to_string(point.size()) +
                     " coordinates but the samples have " + std::to_string(samples.cols()));
  }
  for (const double h : widths) {
    if (!(h > 0) || !std::isfinite(h)) {
      throw UsageError("window widths must be positive and finite");
    }
  }
}

/// The window test for one coordinate difference.
inline bool inside(double distance, double h) noexcept {
  return distance / h <= 0.5;
}

}  // namespace

std::vector<std::uint64_t> hypercube_counts_naive(const Samples& samples,
                                                  std::span<const double> point,
                                                  std::span<const double> widths) {
  check_shapes(samples, point, widths);
  std::vector<std::uint64_t> counts(widths.size(), 0);
  const Eigen::Index d = samples.cols();
  for (std::size_t j = 0; j < widths.size(); ++j) {
    const double h = widths[j];
    std::uint64_t k = 0;
    for (Eigen::Index i = 0; i < samples.rows(); ++i) {
      bool in = true;
      for (Eigen::Index t = 0; t < d; ++t) {
        if (!inside(std::abs(point[static_cast<std::size_t>(t)] - samples(i, t)), h)) {
          in = false;
          break;
        }
      }
      k += in ? 1 : 0;
    }
    counts[j] = k;
  }
  return counts;
}

std::vector<std::uint64_t> hypercube_counts_sweep(const Samples& samples,
                                                  std::span<const double> point,
                                                  std::span<const double> widths,
                                                  Eigen::Index first, Eigen::Index last) {
  check_shapes(samples, point, widths);
  if (last < 0) last = samples.rows();
  const HypercubeWidths sorted(widths);
  const std::size_t m = sorted.size();
  // histogram[j]: samples whose smallest enclosing sorted width is j (j = m: none).
  std::vector<std::uint64_t> histogram(m + 1, 0);
  const Eigen::Index d = samples.cols();
  for (Eigen::Index i = first; i < last; ++i) {
    double r = 0;
    bool nan = false;  // a NaN coordinate is never inside (the window test is false for it)
    for (Eigen::Index t = 0; t < d; ++t) {
      const double distance = std::abs(point[static_cast<std::size_t>(t)] - samples(i, t));
      nan = nan || std::isnan(distance);
      r = std::max(r, distance);
    }
    ++histogram[nan ? m : sorted.bucket(r)];
  }
  std::vector<std::uint64_t> counts(m, 0);
  sorted.to_counts(histogram, counts);
  return counts;
}

HypercubeScale::HypercubeScale(double n, double h, int d) noexcept
    : n_(n), h_(h), d_(d), volume_(std::pow(h, d)), plain_(volume_ > 0 && std::isfinite(volume_)) {}

double HypercubeScale::operator()(double count) const noexcept {
  if (count == 0) return 0;
  if (plain_) return count / n_ / volume_;
  // h^d under- or overflows (high dimensions): go through logs.
  return std::exp(std::log(count) - std::log(n_) - d_ * std::log(h_));
}

double hypercube_density(std::uint64_t count, std::uint64_t n, double h, int d) noexcept {
  return HypercubeScale(n, h, d)(count);
}

}  // namespace parakit::kde
