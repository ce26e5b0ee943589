// Binned kernel density estimates: the samples are linearly binned onto a regular grid and the
// bins convolved with the kernel by FFT (as KDEpy's FFTKDE does), in 1-D, 2-D and 3-D, for the
// Gaussian and Epanechnikov kernels. An approximation: its error falls as (step / h)^2.
//
// Reproducible at any rank count: each sample's linear-binning weights are fixed-point
// integers (2^32 a sample), so the bins of all ranks add exactly in any order (one int64
// all-reduce); the convolution is one serial FFTW_ESTIMATE plan of a size fixed by the grid,
// run on one rank and broadcast; densities at query points are multilinear interpolations of
// the grid. Leave-one-out densities at the samples take out each sample's own binned
// contribution: its binning weights convolved at its own position (not K(0)).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "parakit/kde/kernels.hpp"

namespace parakit::kde {

/// A regular grid of cells[t] points per dimension, point k at lo[t] + k step[t].
struct BinGrid {
  std::vector<std::uint64_t> cells;
  std::vector<double> lo, step;

  int dim() const noexcept { return static_cast<int>(cells.size()); }
  /// Points in all (the product of cells).
  std::uint64_t size() const noexcept;

  /// The grid for width h over [lo - pad, hi + pad] per dimension, pad = 6 h (the Gaussian's
  /// standard deviations; Epanechnikov: its support, h), with `cells` points per dimension,
  /// or (0) enough that the step is at most h / 40 (an error of about 1e-3 relative where the
  /// density is at least 1e-3 of its largest), at least 64.
  static BinGrid around(std::span<const double> lo, std::span<const double> hi, Kernel kernel,
                        double h, std::uint64_t cells);
};

/// The fixed-point unit of a binning weight: a sample adds 2^32 to the bins in all.
inline constexpr double kBinUnit = 4294967296.0;

/// Adds the linear-binning weights of `count` rows (row-major, grid.dim() values each) into
/// `bins` (grid.size() int64, C order: last coordinate fastest), each row's times its sample
/// weight where `weights` is given (in [0, 1]: a row then adds about weight x 2^32). Rows
/// outside the grid are an InternalError (the grid is built around every sample).
void bin_rows(const BinGrid& grid, const double* rows, std::uint64_t count,
              std::span<std::int64_t> bins, const double* weights = nullptr);

/// FFT convolution of bins with the kernel at width h: one serial FFTW_ESTIMATE plan pair, of
/// a size fixed by the grid and h (the FFTW planner is not thread-safe: construct on one
/// thread at a time).
class BinConvolution {
 public:
  BinConvolution(const BinGrid& grid, Kernel kernel, double h, std::span<const std::int64_t> bins);
  ~BinConvolution();
  BinConvolution(const BinConvolution&) = delete;
  BinConvolution& operator=(const BinConvolution&) = delete;

  /// Bytes the convolution needs: the padded transform's buffers.
  static double bytes(const BinGrid& grid, Kernel kernel, double h);

  /// out[g] (grid.size() values) = sum over bins b of bins[b] / 2^32 times the unnormalised
  /// kernel between grid points g and b: the kernel sum at every grid point.
  void smooth(std::span<double> out) const;

 private:
  struct Plans;
  void release() noexcept;
  /// The padded transform's index of grid point g (C order in both).
  std::uint64_t padded_index(std::uint64_t g) const noexcept;
  BinGrid grid_;
  Kernel kernel_;
  double h_;
  std::vector<std::uint64_t> padded_;  // transform size per dimension
  std::vector<std::uint64_t> reach_;   // per dimension: grid steps the kernel reaches
  Plans* plans_ = nullptr;
};

/// Multilinear interpolation of grid values (C order) at `point`; 0 outside the grid.
double interpolate(const BinGrid& grid, std::span<const double> values,
                   const double* point) noexcept;

/// The unnormalised kernel at width h between two grid points `offset` steps apart.
double grid_kernel(const BinGrid& grid, Kernel kernel, double h,
                   const std::int64_t* offset) noexcept;

/// A sample's own part of the interpolated kernel sum at its own position: the sum over its
/// binning corners c and interpolation corners c' of w_c v_c' K((c - c') step), w its weights
/// as binned (in units of a sample: bin_rows' rounding of `weight` times the corner's share),
/// v the interpolation's, K the unnormalised kernel at h.
double self_contribution(const BinGrid& grid, Kernel kernel, double h, const double* point,
                         double weight = 1.0);

}  // namespace parakit::kde
