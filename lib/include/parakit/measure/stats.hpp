// Statistics of timing samples and the scaling figures built from them: median, min, max,
// speedup S = T1/Tp, efficiency E = S/p and the Karp-Flatt experimentally determined serial
// fraction e = (1/S - 1/p) / (1 - 1/p). Medians, not means: timings on a shared machine have
// long right tails.
#pragma once

#include <cstddef>
#include <span>

namespace parakit::measure {

struct Summary {
  std::size_t count = 0;
  double median = 0;  ///< the middle sample, or the mean of the two middle ones
  double min = 0;
  double max = 0;
  double mean = 0;
};

/// Summary of `samples` (all zero when empty). NaN samples are an InternalError.
Summary summarize(std::span<const double> samples);
double median(std::span<const double> samples);

/// S = t1 / tp (0 when tp <= 0).
double speedup(double t1, double tp) noexcept;
/// E = S / p.
double efficiency(double t1, double tp, int p) noexcept;
/// Karp-Flatt serial fraction (1/S - 1/p) / (1 - 1/p); 0 for p = 1 (undefined there).
double karp_flatt(double speedup, int p) noexcept;

}  // namespace parakit::measure
