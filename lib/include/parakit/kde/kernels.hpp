// Smooth Parzen kernels, with scikit-learn's KernelDensity conventions so numbers compare
// directly: for a sample at Euclidean distance r from the point and bandwidth h in d dims,
//   gaussian:      K = (2 pi)^(-d/2) h^(-d) exp(-r^2 / (2 h^2))   (h = the std. deviation)
//   epanechnikov:  K = (d + 2) / (2 V_d h^d) (1 - r^2 / h^2) for r < h, else 0
// (V_d = the volume of the unit d-ball), and the density is the mean of K over the samples.
#pragma once

#include <span>
#include <string_view>
#include <vector>

#include "parakit/kde/parzen.hpp"

namespace parakit::kde {

enum class Kernel { hypercube, gaussian, epanechnikov };
Kernel parse_kernel(std::string_view name);
std::string_view to_string(Kernel kernel) noexcept;

/// Volume of the unit ball in d dimensions.
double unit_ball_volume(int d) noexcept;

/// The sums S[j] = sum over rows [first, last) of the unnormalised kernel at widths[j]
/// (exp(-r^2/(2h^2)) or max(0, 1 - r^2/h^2)); density = norm(h) * S / n. Summing partial S
/// over row blocks in a fixed order gives the same result for any split up to rounding.
std::vector<double> smooth_kernel_sums(Kernel kernel, const Samples& samples,
                                       std::span<const double> point,
                                       std::span<const double> widths, Eigen::Index first = 0,
                                       Eigen::Index last = -1);

/// The same sums by a plain scalar double loop, one width at a time (the reference); each
/// term times weights[i] (indexed by row) where `weights` is given. The hypercube's term is 1
/// inside the window (|p_t - x_t| / h <= 1/2 in every coordinate: the window test), else 0.
std::vector<double> smooth_kernel_sums_naive(Kernel kernel, const Samples& samples,
                                             std::span<const double> point,
                                             std::span<const double> widths, Eigen::Index first = 0,
                                             Eigen::Index last = -1,
                                             const double* weights = nullptr);

/// The normalisation factor of `kernel` at width h in d dimensions (see above), and its log
/// computed without forming h^d (which overflows for small h in high dimensions).
double kernel_norm(Kernel kernel, double h, int d) noexcept;
double log_kernel_norm(Kernel kernel, double h, int d) noexcept;

/// norm(h) * e^(-shift / (2 h^2)) * sum / n: the density from a sum of terms taken relative to
/// a squared distance `shift` (gaussian; 0 for the others), through logs where a factor
/// overflows or underflows; 0 when sum is 0.
double smooth_density(Kernel kernel, double h, int d, double sum, double n,
                      double shift = 0) noexcept;
/// Its natural logarithm, which stays finite where the density underflows (-inf when sum is 0).
double log_smooth_density(Kernel kernel, double h, int d, double sum, double n,
                          double shift = 0) noexcept;

/// Densities at `point` for every width, for any kernel (hypercube via the sweep).
std::vector<double> density(Kernel kernel, const Samples& samples, std::span<const double> point,
                            std::span<const double> widths);

}  // namespace parakit::kde
