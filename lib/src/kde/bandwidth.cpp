#include "parakit/kde/bandwidth.hpp"

#include <cmath>
#include <string>

#include "parakit/core/error.hpp"

namespace parakit::kde {

BandwidthRule parse_bandwidth_rule(std::string_view name) {
  if (name == "scott") return BandwidthRule::scott;
  if (name == "silverman") return BandwidthRule::silverman;
  throw UsageError("kde::BandwidthRule must be scott or silverman, not '" + std::string(name) +
                   "'");
}

std::string_view to_string(BandwidthRule rule) noexcept {
  return rule == BandwidthRule::scott ? "scott" : "silverman";
}

double geometric_mean_std(const Samples& samples) {
  const Eigen::Index n = samples.rows();
  if (n < 2) throw InputError("a bandwidth rule needs at least 2 samples");
  double log_sum = 0;
  for (Eigen::Index t = 0; t < samples.cols(); ++t) {
    const auto column = samples.col(t);
    const double mean = column.mean();
    const double variance = (column.array() - mean).square().sum() / static_cast<double>(n - 1);
    if (!(variance > 0) || !std::isfinite(variance)) {
      throw InputError("dimension " + std::to_string(t + 1) +
                       " of the samples has zero variance: no scale for a bandwidth rule");
    }
    log_sum += 0.5 * std::log(variance);
  }
  return std::exp(log_sum / static_cast<double>(samples.cols()));
}

double rule_of_thumb_bandwidth(BandwidthRule rule, const Samples& samples) {
  const double s = geometric_mean_std(samples);
  const auto n = static_cast<double>(samples.rows());
  const auto d = static_cast<double>(samples.cols());
  if (rule == BandwidthRule::scott) return s * std::pow(n, -1.0 / (d + 4));
  return s * std::pow(4.0 / ((d + 2) * n), 1.0 / (d + 4));
}

}  // namespace parakit::kde
