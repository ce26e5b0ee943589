// Smooth kernels against closed forms (scikit-learn's conventions) and the bandwidth rules
// against hand-computed values.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <random>
#include <vector>

#include "parakit/core/error.hpp"
#include "parakit/kde/bandwidth.hpp"
#include "parakit/kde/kernels.hpp"

namespace parakit::kde {
namespace {

TEST(KdeKernels, UnitBallVolumes) {
  EXPECT_NEAR(unit_ball_volume(1), 2.0, 1e-15);
  EXPECT_NEAR(unit_ball_volume(2), std::numbers::pi, 1e-15);
  EXPECT_NEAR(unit_ball_volume(3), 4.0 / 3.0 * std::numbers::pi, 1e-14);
}

// One sample at distance r: the density is the kernel itself.
TEST(KdeKernels, SingleSampleClosedForms) {
  for (int d = 1; d <= 4; ++d) {
    Samples x = Samples::Zero(1, d);
    x(0, 0) = 0.3;
    const std::vector<double> point(static_cast<std::size_t>(d), 0.0);
    const std::vector<double> widths{0.5, 1.0, 2.0};
    const auto g = density(Kernel::gaussian, x, point, widths);
    const auto e = density(Kernel::epanechnikov, x, point, widths);
    for (std::size_t j = 0; j < widths.size(); ++j) {
      const double h = widths[j];
      const double gauss = std::pow(2 * std::numbers::pi, -d / 2.0) * std::pow(h, -d) *
                           std::exp(-0.09 / (2 * h * h));
      EXPECT_NEAR(g[j] / gauss, 1.0, 1e-14) << d << " " << h;
      const double epa = (d + 2.0) / (2 * unit_ball_volume(d) * std::pow(h, d)) *
                         std::max(0.0, 1 - 0.09 / (h * h));
      EXPECT_NEAR(e[j] / epa, 1.0, 1e-14) << d << " " << h;
    }
  }
}

// Both kernels integrate to one (midpoint rule over a 2-D grid around one sample).
TEST(KdeKernels, IntegrateToOneIn2D) {
  Samples x = Samples::Zero(1, 2);
  const std::vector<double> widths{0.7};
  for (Kernel kernel : {Kernel::gaussian, Kernel::epanechnikov}) {
    double total = 0;
    const double step = 0.01;
    for (double a = -5 + step / 2; a < 5; a += step) {
      for (double b = -5 + step / 2; b < 5; b += step) {
        const std::vector<double> point{a, b};
        total += density(kernel, x, point, widths)[0] * step * step;
      }
    }
    EXPECT_NEAR(total, 1.0, 2e-4) << to_string(kernel);
  }
}

// Split sums add up to the whole (what workers do).
TEST(KdeKernels, SplitSumsAddUp) {
  std::mt19937_64 rng(3);
  std::normal_distribution<double> normal;
  Samples x(501, 3);
  for (Eigen::Index i = 0; i < x.rows(); ++i) {
    for (Eigen::Index t = 0; t < 3; ++t) x(i, t) = normal(rng);
  }
  const std::vector<double> point{0.1, -0.2, 0.3};
  const std::vector<double> widths{0.2, 0.9, 3.0};
  for (Kernel kernel : {Kernel::gaussian, Kernel::epanechnikov}) {
    const auto all = smooth_kernel_sums(kernel, x, point, widths);
    const auto a = smooth_kernel_sums(kernel, x, point, widths, 0, 200);
    const auto b = smooth_kernel_sums(kernel, x, point, widths, 200, 501);
    for (std::size_t j = 0; j < widths.size(); ++j) {
      EXPECT_NEAR((a[j] + b[j]) / all[j], 1.0, 1e-13);
    }
  }
}

TEST(KdeBandwidth, RulesOfThumb) {
  // Columns with standard deviations 1 and 4 (ddof 1): geometric mean 2.
  Samples x(4, 2);
  x << -1, -4, -1, -4, 1, 4, 1, 4;
  // var of {-1,-1,1,1} with ddof 1 = 4/3; of {-4,-4,4,4} = 64/3.
  const double s = std::sqrt(std::sqrt(4.0 / 3.0) * std::sqrt(64.0 / 3.0));
  EXPECT_NEAR(geometric_mean_std(x), s, 1e-15);
  EXPECT_NEAR(rule_of_thumb_bandwidth(BandwidthRule::scott, x), s * std::pow(4.0, -1.0 / 6), 1e-15);
  EXPECT_NEAR(rule_of_thumb_bandwidth(BandwidthRule::silverman, x),
              s * std::pow(4.0 / (4 * 4.0), 1.0 / 6), 1e-15);
}

TEST(KdeBandwidth, ZeroVarianceAndTooFewSamplesAreInputErrors) {
  Samples x(3, 2);
  x << 1, 5, 2, 5, 3, 5;
  EXPECT_THROW(geometric_mean_std(x), InputError);
  Samples one(1, 1);
  one << 1;
  EXPECT_THROW(geometric_mean_std(one), InputError);
  EXPECT_THROW(parse_bandwidth_rule("median"), UsageError);
  EXPECT_THROW(parse_kernel("triangle"), UsageError);
}

}  // namespace
}  // namespace parakit::kde
