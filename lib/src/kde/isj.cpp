#include "parakit/kde/isj.hpp"

#include <fftw3.h>

#include <algorithm>
#include <boost/math/tools/toms748_solve.hpp>
#include <cmath>
#include <limits>
#include <numbers>
#include <numeric>
#include <vector>

#include "parakit/core/error.hpp"

namespace parakit::kde {
namespace {

constexpr int kOrder = 7;  // the plug-in map's iterations, l in the paper
constexpr double kMinusInfinity = -std::numeric_limits<double>::infinity();

/// The squared cosine coefficients (a_k / 2)^2, k = 1 .. cells - 1, of the bins normalised to
/// sum 1: a_k / 2 = sum_j p_j cos(pi k (2j + 1) / 2 cells), FFTW's REDFT10 halved.
std::vector<double> squared_coefficients(std::span<const std::int64_t> bins) {
  const auto cells = bins.size();
  long double total = 0;
  for (const auto b : bins) total += static_cast<long double>(b);
  double* buffer = fftw_alloc_real(2 * cells);
  if (buffer == nullptr) throw std::bad_alloc();
  double* out = buffer + cells;
  for (std::size_t j = 0; j < cells; ++j)
    buffer[j] = static_cast<double>(static_cast<long double>(bins[j]) / total);
  fftw_plan plan =
      fftw_plan_r2r_1d(static_cast<int>(cells), buffer, out, FFTW_REDFT10, FFTW_ESTIMATE);
  fftw_execute(plan);
  fftw_destroy_plan(plan);
  std::vector<double> a2(cells - 1);
  for (std::size_t k = 1; k < cells; ++k) a2[k - 1] = (out[k] / 2) * (out[k] / 2);
  fftw_free(buffer);
  return a2;
}

/// ||f^(s)||^2 of the estimate at time t on [0, 1]: 2 pi^2s sum_k k^2s a2_k exp(-k^2 pi^2 t).
double roughness(std::span<const double> a2, int s, double t) {
  const double pi2 = std::numbers::pi * std::numbers::pi;
  double sum = 0;
  for (std::size_t k = 1; k <= a2.size(); ++k) {
    const auto kk = static_cast<double>(k) * static_cast<double>(k);
    const double term = a2[k - 1] * std::exp(-kk * pi2 * t);
    if (term == 0) continue;
    sum += std::pow(kk, s) * term;
  }
  return 2 * std::pow(std::numbers::pi, 2 * s) * sum;
}

/// t - xi gamma^[l](t): negative below the root, positive above it (-infinity where a
/// roughness vanishes, as for t so large the estimate is flat).
double fixed_point_gap(std::span<const double> a2, double n, double t) {
  double f = roughness(a2, kOrder, t);
  for (int s = kOrder - 1; s >= 2; --s) {
    if (!(f > 0) || !std::isfinite(f)) return kMinusInfinity;
    double odd_product = 1;  // 1 x 3 x ... x (2s - 1)
    for (int k = 3; k <= 2 * s - 1; k += 2) odd_product *= k;
    const double k0 = odd_product / std::sqrt(2 * std::numbers::pi);
    const double c = (1 + std::pow(0.5, s + 0.5)) / 3;
    const double time = std::pow(2 * c * k0 / n / f, 2.0 / (3 + 2 * s));
    f = roughness(a2, s, time);
  }
  if (!(f > 0) || !std::isfinite(f)) return kMinusInfinity;
  return t - std::pow(2 * n * std::sqrt(std::numbers::pi) * f, -0.4);
}

}  // namespace

BinGrid isj_grid(double lo, double hi) {
  if (!(hi > lo)) throw InputError("the ISJ bandwidth needs samples that are not all equal");
  const double span = 1.2 * (hi - lo);
  const double step = span / static_cast<double>(kIsjCells);
  BinGrid grid;
  grid.cells = {kIsjCells};
  grid.lo = {lo - (hi - lo) / 10 + step / 2};
  grid.step = {step};
  return grid;
}

double isj_bandwidth(const BinGrid& grid, std::span<const std::int64_t> bins, double samples) {
  if (grid.dim() != 1 || bins.size() != grid.cells[0] || bins.size() < 2)
    throw InternalError("isj_bandwidth: bins of a 1-D ISJ grid expected");
  const auto a2 = squared_coefficients(bins);
  const auto gap = [&](double t) { return fixed_point_gap(a2, samples, t); };
  // Search upwards from a small t (the reference implementation's start, which grows with n up
  // to 1050 samples) for the first t above the root, doubling up to t = 1.
  const double clamped = std::clamp(samples, 50.0, 1050.0);
  double top = 1e-11 + 0.01 * (clamped - 50) / 1000;
  while (!(gap(top) > 0)) {
    top *= 2;
    if (top > 1) {
      throw InputError(
          "the ISJ fixed-point equation has no root (too few samples, or too evenly spread, to "
          "estimate their roughness): give a width, or use bandwidth scott or silverman");
    }
  }
  std::uintmax_t iterations = 200;
  const auto [below, above] = boost::math::tools::toms748_solve(
      gap, 0.0, top, gap(0.0), gap(top), boost::math::tools::eps_tolerance<double>(52), iterations);
  const double t = (below + above) / 2;
  return std::sqrt(t) * grid.step[0] * static_cast<double>(grid.cells[0]);
}

}  // namespace parakit::kde
