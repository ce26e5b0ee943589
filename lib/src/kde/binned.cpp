#include "parakit/kde/binned.hpp"

#include <fftw3.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "parakit/core/error.hpp"

namespace parakit::kde {
namespace {

/// The smallest n' >= n whose only prime factors are 2, 3, 5 and 7 (sizes FFTW does well).
std::uint64_t fft_size(std::uint64_t n) {
  for (std::uint64_t m = std::max<std::uint64_t>(n, 1);; ++m) {
    std::uint64_t r = m;
    for (const std::uint64_t p : {2, 3, 5, 7}) {
      while (r % p == 0) r /= p;
    }
    if (r == 1) return m;
  }
}

/// How far the kernel at width h reaches, in units of length: the Gaussian to 9 standard
/// deviations (e^-40.5, below 1e-17 of the peak), Epanechnikov to its support.
double kernel_reach(Kernel kernel, double h) {
  return kernel == Kernel::gaussian ? 9 * h : h;
}

/// Per dimension: the cell below the point (clamped to the last but one) and the fraction of
/// a step above it; false outside the grid.
bool locate(const BinGrid& grid, const double* point, std::uint64_t* cell, double* frac) noexcept {
  for (int t = 0; t < grid.dim(); ++t) {
    const auto ut = static_cast<std::size_t>(t);
    const double u = (point[t] - grid.lo[ut]) / grid.step[ut];
    const auto last = static_cast<double>(grid.cells[ut] - 1);
    if (!(u >= 0) || !(u <= last)) return false;
    const double below = std::min(std::floor(u), last - 1);
    cell[t] = static_cast<std::uint64_t>(below);
    frac[t] = std::min(1.0, u - below);
  }
  return true;
}

/// The flat index of a corner of the cell (bit t of `corner` set: one step up along t).
std::uint64_t corner_index(const BinGrid& grid, const std::uint64_t* cell, unsigned corner) {
  std::uint64_t index = 0;
  for (int t = 0; t < grid.dim(); ++t) {
    index = index * grid.cells[static_cast<std::size_t>(t)] + cell[t] + ((corner >> t) & 1U);
  }
  return index;
}

double corner_weight(int d, const double* frac, unsigned corner) {
  double w = 1;
  for (int t = 0; t < d; ++t) w *= (corner >> t) & 1U ? frac[t] : 1 - frac[t];
  return w;
}

}  // namespace

std::uint64_t BinGrid::size() const noexcept {
  std::uint64_t total = 1;
  for (const auto c : cells) total *= c;
  return total;
}

BinGrid BinGrid::around(std::span<const double> lo, std::span<const double> hi, Kernel kernel,
                        double h, std::uint64_t cells) {
  if (kernel == Kernel::hypercube)
    throw UsageError("binned estimates are for the gaussian and epanechnikov kernels");
  if (lo.empty() || lo.size() > 3) {
    throw UsageError("binned estimates are for 1-D, 2-D and 3-D samples, not " +
                     std::to_string(lo.size()) + "-D");
  }
  if (cells == 1) throw UsageError("a binning grid needs at least 2 cells per dimension");
  const double pad = kernel == Kernel::gaussian ? 6 * h : h;
  BinGrid grid;
  for (std::size_t t = 0; t < lo.size(); ++t) {
    const double a = lo[t] - pad, b = hi[t] + pad;
    std::uint64_t count = cells;
    if (count == 0) {
      const double wanted = std::ceil((b - a) / (h / 40)) + 1;
      count = wanted > 1e12 ? std::uint64_t{1} << 40 : static_cast<std::uint64_t>(wanted);
      count = std::max<std::uint64_t>(count, 64);
    }
    grid.cells.push_back(count);
    grid.lo.push_back(a);
    grid.step.push_back((b - a) / static_cast<double>(count - 1));
  }
  return grid;
}

void bin_rows(const BinGrid& grid, const double* rows, std::uint64_t count,
              std::span<std::int64_t> bins, const double* weights) {
  const int d = grid.dim();
  std::uint64_t cell[3];
  double frac[3];
  for (std::uint64_t i = 0; i < count; ++i) {
    const double* x = rows + i * static_cast<std::uint64_t>(d);
    if (!locate(grid, x, cell, frac)) throw InternalError("bin_rows: a row outside the grid");
    const double unit = weights != nullptr ? weights[i] * kBinUnit : kBinUnit;
    for (unsigned corner = 0; corner < (1U << d); ++corner)
      bins[corner_index(grid, cell, corner)] += std::llround(corner_weight(d, frac, corner) * unit);
  }
}

struct BinConvolution::Plans {
  fftw_plan forward = nullptr, backward = nullptr;
  fftw_complex* spectrum = nullptr;  // of the bins
  std::uint64_t reals = 0, complexes = 0;
};

namespace {

struct FftBuffer {
  double* real;
  fftw_complex* complex;
  FftBuffer(std::uint64_t reals, std::uint64_t complexes)
      : real(fftw_alloc_real(reals)), complex(fftw_alloc_complex(complexes)) {
    if (real == nullptr || complex == nullptr) {
      fftw_free(real);
      fftw_free(complex);
      throw std::bad_alloc();
    }
  }
  ~FftBuffer() {
    fftw_free(real);
    fftw_free(complex);
  }
  FftBuffer(const FftBuffer&) = delete;
  FftBuffer& operator=(const FftBuffer&) = delete;
};

/// The padded transform's index of a grid point's offset (negative offsets wrap around).
std::uint64_t wrapped(std::int64_t offset, std::uint64_t size) {
  return offset >= 0 ? static_cast<std::uint64_t>(offset)
                     : size - static_cast<std::uint64_t>(-offset);
}

}  // namespace

BinConvolution::BinConvolution(const BinGrid& grid, Kernel kernel, double h,
                               std::span<const std::int64_t> bins)
    : grid_(grid), kernel_(kernel), h_(h) {
  const int d = grid.dim();
  std::vector<int> n(static_cast<std::size_t>(d));
  for (int t = 0; t < d; ++t) {
    const auto ut = static_cast<std::size_t>(t);
    const double steps = std::ceil(kernel_reach(kernel, h) / grid.step[ut]);
    reach_.push_back(std::min<std::uint64_t>(
        grid.cells[ut] - 1, steps > 1e15 ? grid.cells[ut] : static_cast<std::uint64_t>(steps)));
    padded_.push_back(fft_size(grid.cells[ut] + reach_.back()));
    n[ut] = static_cast<int>(padded_.back());
  }
  plans_ = new Plans;
  plans_->reals = 1;
  for (const auto p : padded_) plans_->reals *= p;
  plans_->complexes = plans_->reals / padded_.back() * (padded_.back() / 2 + 1);
  FftBuffer buffer(plans_->reals, plans_->complexes);
  plans_->spectrum = fftw_alloc_complex(plans_->complexes);
  plans_->forward = fftw_plan_dft_r2c(d, n.data(), buffer.real, buffer.complex, FFTW_ESTIMATE);
  plans_->backward = fftw_plan_dft_c2r(d, n.data(), buffer.complex, buffer.real, FFTW_ESTIMATE);
  if (plans_->spectrum == nullptr || plans_->forward == nullptr || plans_->backward == nullptr) {
    release();
    throw std::bad_alloc();
  }
  // The bins, zero-padded, in units of a sample.
  std::fill(buffer.real, buffer.real + plans_->reals, 0.0);
  for (std::uint64_t g = 0; g < grid.size(); ++g)
    buffer.real[padded_index(g)] = static_cast<double>(bins[g]) / kBinUnit;
  fftw_execute_dft_r2c(plans_->forward, buffer.real, plans_->spectrum);
}

BinConvolution::~BinConvolution() {
  release();
}

void BinConvolution::release() noexcept {
  if (plans_ == nullptr) return;
  if (plans_->forward != nullptr) fftw_destroy_plan(plans_->forward);
  if (plans_->backward != nullptr) fftw_destroy_plan(plans_->backward);
  fftw_free(plans_->spectrum);
  delete plans_;
  plans_ = nullptr;
}

double BinConvolution::bytes(const BinGrid& grid, Kernel kernel, double h) {
  double total = 1;
  for (int t = 0; t < grid.dim(); ++t) {
    const auto ut = static_cast<std::size_t>(t);
    const double reach = std::min(static_cast<double>(grid.cells[ut] - 1),
                                  std::ceil(kernel_reach(kernel, h) / grid.step[ut]));
    total *= static_cast<double>(grid.cells[ut]) + reach + 1;
  }
  // the bins' spectrum, plus a width's real and complex buffers
  return total * (16 + 8 + 16);
}

double grid_kernel(const BinGrid& grid, Kernel kernel, double h,
                   const std::int64_t* offset) noexcept {
  double r2 = 0;
  for (int t = 0; t < grid.dim(); ++t) {
    const double x = static_cast<double>(offset[t]) * grid.step[static_cast<std::size_t>(t)];
    r2 += x * x;
  }
  return kernel == Kernel::gaussian ? std::exp(-r2 / (2 * h * h)) : std::max(0.0, 1 - r2 / (h * h));
}

std::uint64_t BinConvolution::padded_index(std::uint64_t g) const noexcept {
  std::uint64_t index = 0, stride = 1;
  for (std::size_t t = grid_.cells.size(); t-- > 0;) {
    index += g % grid_.cells[t] * stride;
    g /= grid_.cells[t];
    stride *= padded_[t];
  }
  return index;
}

void BinConvolution::smooth(std::span<double> out) const {
  const int d = grid_.dim();
  const auto ud = static_cast<std::size_t>(d);
  FftBuffer buffer(plans_->reals, plans_->complexes);
  std::fill(buffer.real, buffer.real + plans_->reals, 0.0);
  // The kernel at every offset within reach, negative offsets wrapped around.
  std::vector<std::int64_t> offset(ud);
  std::vector<std::uint64_t> span(ud);
  std::uint64_t count = 1;
  for (std::size_t t = 0; t < ud; ++t) {
    span[t] = 2 * reach_[t] + 1;
    count *= span[t];
  }
  for (std::uint64_t k = 0; k < count; ++k) {
    std::uint64_t rest = k, index = 0, stride = 1;
    for (int t = d - 1; t >= 0; --t) {
      const auto ut = static_cast<std::size_t>(t);
      offset[ut] =
          static_cast<std::int64_t>(rest % span[ut]) - static_cast<std::int64_t>(reach_[ut]);
      rest /= span[ut];
      index += wrapped(offset[ut], padded_[ut]) * stride;
      stride *= padded_[ut];
    }
    buffer.real[index] = grid_kernel(grid_, kernel_, h_, offset.data());
  }
  fftw_execute_dft_r2c(plans_->forward, buffer.real, buffer.complex);
  for (std::uint64_t c = 0; c < plans_->complexes; ++c) {
    const double re = buffer.complex[c][0], im = buffer.complex[c][1];
    const double sr = plans_->spectrum[c][0], si = plans_->spectrum[c][1];
    buffer.complex[c][0] = re * sr - im * si;
    buffer.complex[c][1] = re * si + im * sr;
  }
  fftw_execute_dft_c2r(plans_->backward, buffer.complex, buffer.real);
  const double scale = 1.0 / static_cast<double>(plans_->reals);
  for (std::uint64_t g = 0; g < grid_.size(); ++g) out[g] = buffer.real[padded_index(g)] * scale;
}

double interpolate(const BinGrid& grid, std::span<const double> values,
                   const double* point) noexcept {
  std::uint64_t cell[3];
  double frac[3];
  if (!locate(grid, point, cell, frac)) return 0.0;
  double sum = 0;
  for (unsigned corner = 0; corner < (1U << grid.dim()); ++corner) {
    sum += corner_weight(grid.dim(), frac, corner) * values[corner_index(grid, cell, corner)];
  }
  return sum;
}

double self_contribution(const BinGrid& grid, Kernel kernel, double h, const double* point,
                         double weight) {
  const int d = grid.dim();
  std::uint64_t cell[3];
  double frac[3];
  if (!locate(grid, point, cell, frac)) return 0.0;
  std::int64_t offset[3];
  double sum = 0;
  for (unsigned a = 0; a < (1U << d); ++a) {
    // as binned: the fixed-point weight
    const double binned =
        static_cast<double>(std::llround(corner_weight(d, frac, a) * (weight * kBinUnit))) /
        kBinUnit;
    for (unsigned b = 0; b < (1U << d); ++b) {
      for (int t = 0; t < d; ++t) {
        offset[t] =
            static_cast<std::int64_t>((b >> t) & 1U) - static_cast<std::int64_t>((a >> t) & 1U);
      }
      sum += corner_weight(d, frac, b) * binned * grid_kernel(grid, kernel, h, offset);
    }
  }
  return sum;
}

}  // namespace parakit::kde
