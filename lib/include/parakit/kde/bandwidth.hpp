// Rule-of-thumb bandwidths on a standardised scale, for any dimension d >= 1:
//   Scott:      h = s * n^(-1/(d+4))
//   Silverman:  h = s * (4 / ((d+2) n))^(1/(d+4))
// where s is the geometric mean of the per-dimension sample standard deviations (ddof 1);
// and, for 1-D samples, the improved Sheather-Jones plug-in (kde/isj.hpp), which needs the
// samples themselves rather than their variances.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "parakit/kde/parzen.hpp"

namespace parakit::kde {

enum class BandwidthRule { scott, silverman, isj };
BandwidthRule parse_bandwidth_rule(std::string_view name);
std::string_view to_string(BandwidthRule rule) noexcept;

/// Geometric mean of the column standard deviations (n - 1 in the denominator). Throws
/// InputError if a column has zero variance (no scale to take) or there are < 2 samples.
double geometric_mean_std(const Samples& samples);

/// The rule's width for these samples (all of them: for samples spread over ranks, the rules
/// of thumb take the overload below and ISJ its bins, kde/isj.hpp).
double rule_of_thumb_bandwidth(BandwidthRule rule, const Samples& samples);

/// Scott's or Silverman's width from n and the column variances (ddof 1), for samples spread
/// over ranks (UsageError for ISJ, which needs the samples).
/// n may be fractional: weighted samples take their effective size (sum w)^2 / sum w^2.
double rule_of_thumb_bandwidth(BandwidthRule rule, double n, std::span<const double> variances);

/// Column sums of a block of rows, exactly, as ExactAccumulator wires laid end to end (one per
/// column): of x when `centre` is empty, else of fl((x - centre_t)^2). Wires of blocks add
/// elementwise (an integer all-reduce across ranks), so the column means and variances below
/// are bitwise the same however the rows were split:
///   mean_t = fl(sum_t / n),  variance_t = fl(sum_t of fl((x - mean_t)^2) / (n - 1)).
std::vector<std::int64_t> column_sum_wires(const Samples& rows, std::span<const double> centre);
/// The correctly rounded sums of wires made by column_sum_wires (or their elementwise sums).
std::vector<double> column_sums(std::span<const std::int64_t> wires);

}  // namespace parakit::kde
