#include "parakit/kde/neighbors.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>
#include <utility>

#include "parakit/core/error.hpp"

namespace parakit::kde {
namespace {

/// The window test for one coordinate difference.
inline bool inside(double distance, double h) noexcept {
  return distance / h <= 0.5;
}

constexpr double kInfinity = std::numeric_limits<double>::infinity();

/// The histogram loop for D coordinates (D = 0: the dimension known only at run time).
template <int D>
void scan(const SortedSamples& samples, const HypercubeWidths& widths, const double* point,
          std::uint64_t* histogram, Eigen::Index first, Eigen::Index last, Eigen::Index skip) {
  const int d = D > 0 ? D : samples.dim();
  const double reach = widths.max_limit();
  for (Eigen::Index i = first; i < last; ++i) {
    if (i == skip) continue;
    const double* x = samples.row(i);
    double r = 0;
    for (int t = 0; t < d; ++t) r = std::max(r, std::abs(point[t] - x[t]));
    if (r <= reach) ++histogram[widths.bucket(r)];
  }
}

}  // namespace

Buckets::Buckets(std::vector<double> sorted_thresholds) : threshold_(std::move(sorted_thresholds)) {
  // About 8 cells per threshold: the guess is then at most a step or two off.
  const std::size_t m = threshold_.size();
  const std::size_t cells = std::max<std::size_t>(64, 8 * m);
  const double top = max();
  cell_scale_ = top > 0 ? static_cast<double>(cells) / top : 0.0;
  start_.resize(cells + 1);
  for (std::size_t c = 0; c <= cells; ++c) {
    const double at = top * static_cast<double>(c) / static_cast<double>(cells);
    start_[c] = static_cast<std::size_t>(
        std::lower_bound(threshold_.begin(), threshold_.end(), at) - threshold_.begin());
    if (start_[c] == m) start_[c] = m == 0 ? 0 : m - 1;
  }
}

HypercubeWidths::HypercubeWidths(std::span<const double> widths) {
  for (const double h : widths) {
    if (!(h > 0) || !std::isfinite(h)) {
      throw UsageError("window widths must be positive and finite");
    }
  }
  const std::size_t m = widths.size();
  order_.resize(m);
  std::iota(order_.begin(), order_.end(), std::size_t{0});
  std::stable_sort(order_.begin(), order_.end(),
                   [&](std::size_t a, std::size_t b) { return widths[a] < widths[b]; });
  sorted_.resize(m);
  std::vector<double> limit(m);
  for (std::size_t j = 0; j < m; ++j) {
    const double h = widths[order_[j]];
    sorted_[j] = h;
    double r = 0.5 * h;
    while (r > 0 && !inside(r, h)) r = std::nextafter(r, 0.0);
    while (inside(std::nextafter(r, kInfinity), h)) r = std::nextafter(r, kInfinity);
    limit[j] = r;
  }
  limits_ = Buckets(std::move(limit));
}

void HypercubeWidths::to_counts(std::span<const std::uint64_t> histogram,
                                std::span<std::uint64_t> counts) const {
  std::uint64_t running = 0;
  for (std::size_t j = 0; j < size(); ++j) {
    running += histogram[j];
    counts[order_[j]] = running;
  }
}

SortedSamples::SortedSamples(const Eigen::Ref<const Samples>& samples)
    : rows_(samples.rows()), dim_(static_cast<int>(samples.cols())) {
  if (!samples.allFinite()) throw InputError("the samples hold a NaN or infinite value");
  // The key is the coordinate with the widest range: it prunes the most.
  double widest = -1;
  for (int t = 0; t < dim_; ++t) {
    const double range = rows_ == 0 ? 0.0 : samples.col(t).maxCoeff() - samples.col(t).minCoeff();
    if (range > widest) {
      widest = range;
      key_ = t;
    }
  }
  index_.resize(static_cast<std::size_t>(rows_));
  std::iota(index_.begin(), index_.end(), Eigen::Index{0});
  std::stable_sort(index_.begin(), index_.end(), [&](Eigen::Index a, Eigen::Index b) {
    return samples(a, key_) < samples(b, key_);
  });
  values_.resize(static_cast<std::size_t>(rows_ * dim_));
  keys_.resize(static_cast<std::size_t>(rows_));
  for (Eigen::Index i = 0; i < rows_; ++i) {
    const Eigen::Index source = index_[static_cast<std::size_t>(i)];
    for (int t = 0; t < dim_; ++t)
      values_[static_cast<std::size_t>(i * dim_ + t)] = samples(source, t);
    keys_[static_cast<std::size_t>(i)] = samples(source, key_);
  }
}

std::pair<Eigen::Index, Eigen::Index> SortedSamples::window(double value,
                                                            double radius) const noexcept {
  if (radius < 0) return {0, 0};
  // fl(|x - v|) <= R implies |x - v| <= R (1 + 2^-53); widen by far more than that, and by
  // an ulp of the bounds themselves, so no sample that passes the exact test is cut off.
  const double margin = radius * 1e-9 + std::abs(value) * 1e-15;
  const double lo = std::nextafter(value - radius - margin, -kInfinity);
  const double hi = std::nextafter(value + radius + margin, kInfinity);
  const auto begin = std::lower_bound(keys_.begin(), keys_.end(), lo);
  const auto end = std::upper_bound(begin, keys_.end(), hi);
  return {begin - keys_.begin(), end - keys_.begin()};
}

void hypercube_histogram(const SortedSamples& samples, const HypercubeWidths& widths,
                         std::span<const double> point, std::span<std::uint64_t> histogram,
                         Eigen::Index skip) {
  if (static_cast<int>(point.size()) != samples.dim()) {
    throw UsageError("the point has " + std::to_string(point.size()) +
                     " coordinates but the samples have " + std::to_string(samples.dim()));
  }
  if (histogram.size() != widths.size() + 1) throw InternalError("hypercube_histogram: size");
  const auto [first, last] =
      samples.window(point[static_cast<std::size_t>(samples.key())], widths.max_limit());
  switch (samples.dim()) {
    case 1:
      scan<1>(samples, widths, point.data(), histogram.data(), first, last, skip);
      break;
    case 2:
      scan<2>(samples, widths, point.data(), histogram.data(), first, last, skip);
      break;
    case 3:
      scan<3>(samples, widths, point.data(), histogram.data(), first, last, skip);
      break;
    default:
      scan<0>(samples, widths, point.data(), histogram.data(), first, last, skip);
  }
}

}  // namespace parakit::kde
