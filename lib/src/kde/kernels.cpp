#include "parakit/kde/kernels.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <string>

#include "parakit/core/error.hpp"
#include "parakit/numeric/exp_sum.hpp"

namespace parakit::kde {

Kernel parse_kernel(std::string_view name) {
  if (name == "hypercube") return Kernel::hypercube;
  if (name == "gaussian") return Kernel::gaussian;
  if (name == "epanechnikov") return Kernel::epanechnikov;
  throw UsageError("kde::Kernel must be hypercube, gaussian or epanechnikov, not '" +
                   std::string(name) + "'");
}

std::string_view to_string(Kernel kernel) noexcept {
  switch (kernel) {
    case Kernel::hypercube:
      return "hypercube";
    case Kernel::gaussian:
      return "gaussian";
    case Kernel::epanechnikov:
      return "epanechnikov";
  }
  return "unknown";
}

double unit_ball_volume(int d) noexcept {
  return std::pow(std::numbers::pi, d / 2.0) / std::tgamma(d / 2.0 + 1.0);
}

double log_kernel_norm(Kernel kernel, double h, int d) noexcept {
  const double log_h = std::log(h);
  switch (kernel) {
    case Kernel::gaussian:
      return -d / 2.0 * std::log(2 * std::numbers::pi) - d * log_h;
    case Kernel::epanechnikov:
      return std::log((d + 2.0) / 2.0) - std::log(unit_ball_volume(d)) - d * log_h;
    case Kernel::hypercube:
      return -d * log_h;
  }
  return 0;
}

double smooth_density(Kernel kernel, double h, int d, double sum, double n, double shift) noexcept {
  if (sum == 0) return 0;
  const double norm = kernel_norm(kernel, h, d);
  const double factor = shift == 0 ? 1.0 : std::exp(-shift / (2 * h * h));
  if (std::isfinite(norm) && norm >= std::numeric_limits<double>::min() &&
      factor >= std::numeric_limits<double>::min()) {
    return norm * sum / n * factor;
  }
  return std::exp(log_smooth_density(kernel, h, d, sum, n, shift));  // h^d or the factor
}

double log_smooth_density(Kernel kernel, double h, int d, double sum, double n,
                          double shift) noexcept {
  if (sum == 0) return -std::numeric_limits<double>::infinity();
  const double exponent = shift == 0 ? 0.0 : shift / (2 * h * h);
  return log_kernel_norm(kernel, h, d) - exponent + std::log(sum) - std::log(n);
}

double kernel_norm(Kernel kernel, double h, int d) noexcept {
  switch (kernel) {
    case Kernel::gaussian:
      return std::pow(2 * std::numbers::pi, -d / 2.0) * std::pow(h, -d);
    case Kernel::epanechnikov:
      return (d + 2.0) / (2.0 * unit_ball_volume(d)) * std::pow(h, -d);
    case Kernel::hypercube:
      return std::pow(h, -d);
  }
  return 0;
}

std::vector<double> smooth_kernel_sums(Kernel kernel, const Samples& samples,
                                       std::span<const double> point,
                                       std::span<const double> widths, Eigen::Index first,
                                       Eigen::Index last) {
  if (kernel == Kernel::hypercube) throw InternalError("smooth_kernel_sums: not a smooth kernel");
  if (static_cast<Eigen::Index>(point.size()) != samples.cols()) {
    throw UsageError("the point has " + std::to_string(point.size()) +
                     " coordinates but the samples have " + std::to_string(samples.cols()));
  }
  if (last < 0) last = samples.rows();
  const Eigen::Index count = std::max<Eigen::Index>(0, last - first);
  // Squared distances once (vectorised by Eigen), then one pass per width.
  const Eigen::Map<const Eigen::RowVectorXd> p(point.data(),
                                               static_cast<Eigen::Index>(point.size()));
  const Eigen::VectorXd r2 =
      (samples.middleRows(first, count).rowwise() - p).rowwise().squaredNorm();
  std::vector<double> sums(widths.size(), 0.0);
  for (std::size_t j = 0; j < widths.size(); ++j) {
    const double h = widths[j];
    if (!(h > 0) || !std::isfinite(h))
      throw UsageError("window widths must be positive and finite");
    const double scale = 1.0 / (h * h);
    if (kernel == Kernel::gaussian) {
      sums[j] = numeric::exp_sum(r2.data(), static_cast<std::size_t>(count), -0.5 * scale);
    } else {
      sums[j] = (1.0 - r2.array() * scale).max(0.0).sum();
    }
  }
  return sums;
}

std::vector<double> smooth_kernel_sums_naive(Kernel kernel, const Samples& samples,
                                             std::span<const double> point,
                                             std::span<const double> widths, Eigen::Index first,
                                             Eigen::Index last, const double* weights) {
  if (last < 0) last = samples.rows();
  std::vector<double> sums(widths.size(), 0.0);
  for (std::size_t j = 0; j < widths.size(); ++j) {
    const double h = widths[j];
    for (Eigen::Index i = first; i < last; ++i) {
      const double w = weights != nullptr ? weights[i] : 1.0;
      if (kernel == Kernel::hypercube) {  // the window test, coordinate by coordinate
        bool inside = true;
        for (Eigen::Index t = 0; t < samples.cols() && inside; ++t)
          inside = std::abs(point[static_cast<std::size_t>(t)] - samples(i, t)) / h <= 0.5;
        sums[j] += inside ? w : 0.0;
        continue;
      }
      double r2 = 0;
      for (Eigen::Index t = 0; t < samples.cols(); ++t) {
        const double diff = samples(i, t) - point[static_cast<std::size_t>(t)];
        r2 += diff * diff;
      }
      sums[j] += w * (kernel == Kernel::gaussian ? std::exp(-r2 / (2 * h * h))
                                                 : std::max(0.0, 1 - r2 / (h * h)));
    }
  }
  return sums;
}

std::vector<double> density(Kernel kernel, const Samples& samples, std::span<const double> point,
                            std::span<const double> widths) {
  const auto n = static_cast<double>(samples.rows());
  const int d = static_cast<int>(samples.cols());
  std::vector<double> out(widths.size());
  if (kernel == Kernel::hypercube) {
    const auto counts = hypercube_counts_sweep(samples, point, widths);
    for (std::size_t j = 0; j < widths.size(); ++j) {
      out[j] = hypercube_density(counts[j], samples.rows(), widths[j], d);
    }
    return out;
  }
  const auto sums = smooth_kernel_sums(kernel, samples, point, widths);
  for (std::size_t j = 0; j < widths.size(); ++j) {
    out[j] = smooth_density(kernel, widths[j], d, sums[j], n);
  }
  return out;
}

}  // namespace parakit::kde
