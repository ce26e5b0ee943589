#include "parakit/measure/stats.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "parakit/core/error.hpp"

namespace parakit::measure {

Summary summarize(std::span<const double> samples) {
  Summary s;
  s.count = samples.size();
  if (samples.empty()) return s;
  std::vector<double> sorted(samples.begin(), samples.end());
  if (std::any_of(sorted.begin(), sorted.end(), [](double v) { return std::isnan(v); })) {
    throw InternalError("summarize: a timing sample is NaN");
  }
  std::sort(sorted.begin(), sorted.end());
  const std::size_t n = sorted.size();
  s.median = n % 2 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
  s.min = sorted.front();
  s.max = sorted.back();
  s.mean = std::accumulate(sorted.begin(), sorted.end(), 0.0) / static_cast<double>(n);
  return s;
}

double median(std::span<const double> samples) {
  return summarize(samples).median;
}

double speedup(double t1, double tp) noexcept {
  return tp > 0 ? t1 / tp : 0.0;
}

double efficiency(double t1, double tp, int p) noexcept {
  return p > 0 ? speedup(t1, tp) / p : 0.0;
}

double karp_flatt(double speedup, int p) noexcept {
  if (p <= 1 || speedup <= 0) return 0.0;
  const double inv_p = 1.0 / p;
  return (1.0 / speedup - inv_p) / (1.0 - inv_p);
}

}  // namespace parakit::measure
