#include "parakit/kde/chunk_sums.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "parakit/core/error.hpp"
#include "parakit/kde/neighbors.hpp"
#include "parakit/numeric/exp_sum.hpp"

namespace parakit::kde {
namespace {

/// r2[i] = the squared distance of row i (d values, D if D > 0) to the point, summed over the
/// coordinates in order from 0 whatever D is, so every dimension's loop gives the same bits.
template <int D>
void squared_distances(const double* rows, std::size_t count, int d, const double* point,
                       double* r2) noexcept {
  const int dims = D > 0 ? D : d;
  for (std::size_t i = 0; i < count; ++i) {
    const double* x = rows + i * static_cast<std::size_t>(dims);
    double sum = 0;
    for (int t = 0; t < dims; ++t) {
      const double diff = x[t] - point[t];
      sum += diff * diff;
    }
    r2[i] = sum;
  }
}

/// r[i] = the Chebyshev distance max_t fl(|x_t - p_t|) of row i to the point.
void chebyshev_distances(const double* rows, std::size_t count, int d, const double* point,
                         double* r) noexcept {
  for (std::size_t i = 0; i < count; ++i) {
    const double* x = rows + i * static_cast<std::size_t>(d);
    double far = 0;
    for (int t = 0; t < d; ++t) far = std::max(far, std::abs(x[t] - point[t]));
    r[i] = far;
  }
}

/// Per width in the caller's order, the largest Chebyshev distance inside its window.
std::vector<double> window_limits(std::span<const double> widths) {
  const HypercubeWidths sorted(widths);
  std::vector<double> limits(widths.size());
  for (std::size_t j = 0; j < limits.size(); ++j) limits[sorted.order()[j]] = sorted.limits()[j];
  return limits;
}

}  // namespace

std::uint64_t chunk_rows(std::uint64_t n) noexcept {
  const std::uint64_t per_256 = (n + 255) / 256;
  return std::clamp<std::uint64_t>((per_256 + 63) / 64 * 64, 64, 4096);
}

double ordered_sum(const double* x, std::size_t n) noexcept {
  double lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int k = 0; k < 8; ++k) lane[k] += x[i + static_cast<std::size_t>(k)];
  }
  for (int k = 0; i < n; ++i, ++k) lane[k] += x[i];
  return ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
}

std::vector<double> term_scales(Kernel kernel, std::span<const double> widths,
                                std::string_view who) {
  if (kernel == Kernel::hypercube)
    throw UsageError(std::string(who) + ": the hypercube is not smooth");
  std::vector<double> scales;
  for (const double h : widths) {
    if (!(h > 0) || !std::isfinite(h))
      throw UsageError("window widths must be positive and finite");
    const double inverse = 1.0 / (h * h);
    scales.push_back(kernel == Kernel::gaussian ? -0.5 * inverse : inverse);
  }
  return scales;
}

ChunkSums::ChunkSums(Kernel kernel, std::span<const double> widths)
    : kernel_(kernel),
      scale_(kernel == Kernel::hypercube ? window_limits(widths)
                                         : term_scales(kernel, widths, "ChunkSums")) {}

void ChunkSums::operator()(const double* rows, std::size_t count, int d, const double* point,
                           double* out, std::size_t skip, const double* weights) {
  const auto n = static_cast<Eigen::Index>(count);
  if (r2_.size() != n) {
    r2_.resize(n);
    term_.resize(n);
  }
  if (kernel_ == Kernel::hypercube) {
    chebyshev_distances(rows, count, d, point, r2_.data());
    for (std::size_t j = 0; j < scale_.size(); ++j) {
      const double limit = scale_[j];
      for (Eigen::Index i = 0; i < n; ++i) {
        const double w = weights != nullptr ? weights[i] : 1.0;
        term_[i] = r2_[i] <= limit ? w : 0.0;
      }
      if (skip < count) term_[static_cast<Eigen::Index>(skip)] = 0.0;
      out[j] = ordered_sum(term_.data(), count);
    }
    return;
  }
  switch (d) {  // a fixed dimension lets the compiler vectorise across rows
    case 1:
      squared_distances<1>(rows, count, 1, point, r2_.data());
      break;
    case 2:
      squared_distances<2>(rows, count, 2, point, r2_.data());
      break;
    case 3:
      squared_distances<3>(rows, count, 3, point, r2_.data());
      break;
    default:
      squared_distances<0>(rows, count, d, point, r2_.data());
  }
  for (std::size_t j = 0; j < scale_.size(); ++j) {
    const double s = scale_[j];
    if (kernel_ == Kernel::gaussian) {
      out[j] = numeric::exp_sum(r2_.data(), count, s, skip, weights);  // ordered_sum's lanes
    } else {
      term_ = (1.0 - r2_ * s).max(0.0);
      if (weights != nullptr) term_ *= Eigen::Map<const Eigen::ArrayXd>(weights, n);
      if (skip < count) term_[static_cast<Eigen::Index>(skip)] = 0.0;
      out[j] = ordered_sum(term_.data(), count);
    }
  }
}

}  // namespace parakit::kde
