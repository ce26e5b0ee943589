// The ISJ bandwidth (kde/isj.hpp) against properties of the estimator: for normal samples it
// approaches the AMISE-optimal width (4 / 3n)^(1/5) sigma; it is equivariant under a change of
// scale and origin; it has no root for evenly spaced samples. (The CLI tests compare it with a
// reference written from the paper.)
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "parakit/core/error.hpp"
#include "parakit/kde/bandwidth.hpp"
#include "parakit/kde/isj.hpp"

namespace parakit::kde {
namespace {

Samples column(const std::vector<double>& values) {
  Samples samples(static_cast<Eigen::Index>(values.size()), 1);
  for (std::size_t i = 0; i < values.size(); ++i)
    samples(static_cast<Eigen::Index>(i), 0) = values[i];
  return samples;
}

TEST(Isj, NormalSamplesApproachTheAmiseWidth) {
  std::mt19937_64 rng(42);
  std::normal_distribution<double> normal(3.0, 2.0);
  std::vector<double> values(100000);
  for (double& v : values) v = normal(rng);
  const double h = rule_of_thumb_bandwidth(BandwidthRule::isj, column(values));
  const double amise = std::pow(4.0 / (3.0 * static_cast<double>(values.size())), 0.2) * 2.0;
  EXPECT_NEAR(h / amise, 1.0, 0.05);
}

TEST(Isj, ScalesWithTheSamples) {
  std::mt19937_64 rng(7);
  std::gamma_distribution<double> gamma(2.0, 1.0);
  std::vector<double> values(5000), moved(5000);
  for (std::size_t i = 0; i < values.size(); ++i) {
    values[i] = gamma(rng);
    moved[i] = 1000 + 0.25 * values[i];
  }
  const double h = rule_of_thumb_bandwidth(BandwidthRule::isj, column(values));
  const double h_moved = rule_of_thumb_bandwidth(BandwidthRule::isj, column(moved));
  EXPECT_NEAR(h_moved / (0.25 * h), 1.0, 1e-6);
}

TEST(Isj, EvenlySpacedSamplesHaveNoRoot) {
  std::vector<double> values;
  for (int k = 0; k < 10; ++k) values.push_back(k);
  EXPECT_THROW(rule_of_thumb_bandwidth(BandwidthRule::isj, column(values)), InputError);
  EXPECT_THROW(isj_grid(1.0, 1.0), InputError);
  EXPECT_THROW(rule_of_thumb_bandwidth(BandwidthRule::isj, Samples::Zero(10, 2)), UsageError);
  const std::vector<double> variances = {1.0};
  EXPECT_THROW(rule_of_thumb_bandwidth(BandwidthRule::isj, 10.0, variances), UsageError);
}

}  // namespace
}  // namespace parakit::kde
