// Rule-of-thumb bandwidths on a standardised scale, for any dimension d >= 1:
//   Scott:      h = s * n^(-1/(d+4))
//   Silverman:  h = s * (4 / ((d+2) n))^(1/(d+4))
// where s is the geometric mean of the per-dimension sample standard deviations (ddof 1).
#pragma once

#include <string_view>

#include "parakit/kde/parzen.hpp"

namespace parakit::kde {

enum class BandwidthRule { scott, silverman };
BandwidthRule parse_bandwidth_rule(std::string_view name);
std::string_view to_string(BandwidthRule rule) noexcept;

/// Geometric mean of the column standard deviations (n - 1 in the denominator). Throws
/// InputError if a column has zero variance (no scale to take) or there are < 2 samples.
double geometric_mean_std(const Samples& samples);

double rule_of_thumb_bandwidth(BandwidthRule rule, const Samples& samples);

}  // namespace parakit::kde
