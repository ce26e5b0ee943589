#include "parakit/kde/bandwidth.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "parakit/core/error.hpp"
#include "parakit/kde/isj.hpp"
#include "parakit/numeric/exact_sum.hpp"

namespace parakit::kde {

BandwidthRule parse_bandwidth_rule(std::string_view name) {
  if (name == "scott") return BandwidthRule::scott;
  if (name == "silverman") return BandwidthRule::silverman;
  if (name == "isj") return BandwidthRule::isj;
  throw UsageError("kde::BandwidthRule must be scott, silverman or isj, not '" + std::string(name) +
                   "'");
}

std::string_view to_string(BandwidthRule rule) noexcept {
  switch (rule) {
    case BandwidthRule::scott:
      return "scott";
    case BandwidthRule::silverman:
      return "silverman";
    case BandwidthRule::isj:
      return "isj";
  }
  return "?";
}

namespace {

using numeric::ExactAccumulator;

/// Geometric mean of the square roots of the variances.
double geometric_mean_of_std(std::span<const double> variances) {
  double log_sum = 0;
  for (std::size_t t = 0; t < variances.size(); ++t) {
    const double variance = variances[t];
    if (!(variance > 0) || !std::isfinite(variance)) {
      throw InputError("dimension " + std::to_string(t + 1) +
                       " of the samples has zero variance: no scale for a bandwidth rule");
    }
    log_sum += 0.5 * std::log(variance);
  }
  return std::exp(log_sum / static_cast<double>(variances.size()));
}

/// The rule's width for n samples in d dimensions with scale s.
double rule_width(BandwidthRule rule, double n, double d, double s) {
  if (rule == BandwidthRule::scott) return s * std::pow(n, -1.0 / (d + 4));
  return s * std::pow(4.0 / ((d + 2) * n), 1.0 / (d + 4));
}

}  // namespace

std::vector<std::int64_t> column_sum_wires(const Samples& rows, std::span<const double> centre) {
  const auto d = static_cast<std::size_t>(rows.cols());
  std::vector<std::int64_t> wires(d * ExactAccumulator::kWireSize);
  std::vector<double> column(static_cast<std::size_t>(rows.rows()));
  for (std::size_t t = 0; t < d; ++t) {
    for (Eigen::Index i = 0; i < rows.rows(); ++i) {
      const double x = rows(i, static_cast<Eigen::Index>(t));
      const double dx = centre.empty() ? x : x - centre[t];
      column[static_cast<std::size_t>(i)] = centre.empty() ? x : dx * dx;
    }
    ExactAccumulator sum;
    sum.add(std::span<const double>(column));
    const auto wire = sum.to_wire();
    std::copy(wire.begin(), wire.end(), wires.begin() + static_cast<long>(t * wire.size()));
  }
  return wires;
}

std::vector<double> column_sums(std::span<const std::int64_t> wires) {
  std::vector<double> sums;
  ExactAccumulator::Wire wire;
  for (std::size_t at = 0; at + wire.size() <= wires.size(); at += wire.size()) {
    std::copy_n(wires.begin() + static_cast<long>(at), wire.size(), wire.begin());
    sums.push_back(ExactAccumulator::from_wire(wire).round());
  }
  return sums;
}

double geometric_mean_std(const Samples& samples) {
  const auto n = static_cast<double>(samples.rows());
  if (samples.rows() < 2) throw InputError("a bandwidth rule needs at least 2 samples");
  auto mean = column_sums(column_sum_wires(samples, {}));
  for (double& m : mean) m /= n;
  auto variance = column_sums(column_sum_wires(samples, mean));
  for (double& v : variance) v /= n - 1;
  return geometric_mean_of_std(variance);
}

double rule_of_thumb_bandwidth(BandwidthRule rule, const Samples& samples) {
  if (rule == BandwidthRule::isj) {
    if (samples.cols() != 1) throw UsageError("the ISJ bandwidth is for 1-D samples");
    if (samples.rows() < 2) throw InputError("a bandwidth rule needs at least 2 samples");
    const auto grid = isj_grid(samples.col(0).minCoeff(), samples.col(0).maxCoeff());
    std::vector<std::int64_t> bins(grid.size(), 0);
    bin_rows(grid, samples.data(), static_cast<std::uint64_t>(samples.rows()), bins);
    return isj_bandwidth(grid, bins, static_cast<double>(samples.rows()));
  }
  return rule_width(rule, static_cast<double>(samples.rows()), static_cast<double>(samples.cols()),
                    geometric_mean_std(samples));
}

double rule_of_thumb_bandwidth(BandwidthRule rule, double samples,
                               std::span<const double> variances) {
  if (rule == BandwidthRule::isj)
    throw UsageError("the ISJ bandwidth needs the samples, not only their variances");
  if (!(samples >= 2)) throw InputError("a bandwidth rule needs at least 2 samples");
  return rule_width(rule, samples, static_cast<double>(variances.size()),
                    geometric_mean_of_std(variances));
}

}  // namespace parakit::kde
