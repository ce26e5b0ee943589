// The improved Sheather-Jones bandwidth for 1-D samples: Botev, Grotowski and Kroese (2010),
// "Kernel density estimation via diffusion", Annals of Statistics 38(5), 2916-2957.
//
// The samples are linearly binned onto kIsjCells cells over their range plus a tenth of it each
// side, the bins' discrete cosine transform gives the roughness functionals ||f^(s)||^2 of a
// Gaussian estimate at any time t = h^2 in closed form, and the width is the root t* of
//   t = xi gamma^[7](t),
// the seventh iterate of the plug-in map: ||f^(7)||^2 at t, then ||f^(s)||^2 at the time
// AMISE-optimal for it, s = 6 down to 2, then t's own AMISE-optimal formula. h = sqrt(t*) in
// the units of the samples. Unlike Scott's and Silverman's rules it assumes no normality, so
// multimodal data get a width that resolves the modes.
//
// Reproducible at any rank count: the bins are the fixed-point integers of kde/binned.hpp (one
// exact all-reduce); the transform and the root finding run on the summed bins.
#pragma once

#include <cstdint>
#include <span>

#include "parakit/kde/binned.hpp"

namespace parakit::kde {

/// Cells of the ISJ binning grid (as Botev's reference implementation: 2^14).
inline constexpr std::uint64_t kIsjCells = std::uint64_t{1} << 14;

/// The ISJ binning grid for samples in [lo, hi] (hi > lo): the centres of kIsjCells equal
/// cells that split [lo - (hi - lo) / 10, hi + (hi - lo) / 10].
BinGrid isj_grid(double lo, double hi);

/// The ISJ width from `bins` (bin_rows on isj_grid, summed over every rank) for `samples`
/// samples (with weights: the effective count (sum w)^2 / sum w^2). Throws InputError when the
/// fixed-point equation has no root for t in (0, 1] (in units of the grid's span squared), as
/// for samples too few or too evenly spread to estimate their roughness.
double isj_bandwidth(const BinGrid& grid, std::span<const std::int64_t> bins, double samples);

}  // namespace parakit::kde
