#include "parakit/kde/pruned_sums.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "parakit/core/error.hpp"
#include "parakit/kde/chunk_sums.hpp"
#include "parakit/numeric/exp_sum.hpp"
#include "parakit/numeric/fast_sum.hpp"

namespace parakit::kde {
namespace {

constexpr double kInfinity = std::numeric_limits<double>::infinity();

/// out[i] = sum over t of (column t's value i - point[t])^2, minus shift, for a piece's
/// kPieceRows rows stored by column, coordinates added in order from 0 (box_min and box_max
/// use the same rounding), vectorised across rows; no fused multiply-add in this file, so
/// every instruction set gives the same bits.
template <int D>
[[gnu::always_inline]] inline void piece_distances_body(const double* columns, int d,
                                                        const double* point, double shift,
                                                        double* out) noexcept {
  constexpr std::uint64_t kRows = SampleBoxes::kPieceRows;
  const int dims = D > 0 ? D : d;
  for (std::uint64_t i = 0; i < kRows; ++i) {
    double sum = 0;
    for (int t = 0; t < dims; ++t) {
      const double diff = columns[static_cast<std::uint64_t>(t) * kRows + i] - point[t];
      sum += diff * diff;
    }
    out[i] = sum - shift;
  }
}

[[gnu::always_inline]] inline void piece_distances_any(const double* columns, int d,
                                                       const double* point, double shift,
                                                       double* out) noexcept {
  switch (d) {
    case 1:
      return piece_distances_body<1>(columns, 1, point, shift, out);
    case 2:
      return piece_distances_body<2>(columns, 2, point, shift, out);
    case 3:
      return piece_distances_body<3>(columns, 3, point, shift, out);
    default:
      return piece_distances_body<0>(columns, d, point, shift, out);
  }
}

__attribute__((target("avx512f"))) void piece_distances_avx512(const double* columns, int d,
                                                               const double* point, double shift,
                                                               double* out) noexcept {
  piece_distances_any(columns, d, point, shift, out);
}
__attribute__((target("avx2"))) void piece_distances_avx2(const double* columns, int d,
                                                          const double* point, double shift,
                                                          double* out) noexcept {
  piece_distances_any(columns, d, point, shift, out);
}
void piece_distances_baseline(const double* columns, int d, const double* point, double shift,
                              double* out) noexcept {
  piece_distances_any(columns, d, point, shift, out);
}

void piece_distances(const double* columns, int d, const double* point, double shift,
                     double* out) noexcept {
  switch (numeric::detail::simd_level()) {
    case numeric::detail::SimdLevel::kAvx512:
      return piece_distances_avx512(columns, d, point, shift, out);
    case numeric::detail::SimdLevel::kAvx2:
      return piece_distances_avx2(columns, d, point, shift, out);
    default:
      return piece_distances_baseline(columns, d, point, shift, out);
  }
}

/// Squared distance from `point` to the box [lo, hi]: per coordinate the difference to the
/// nearer face (0 inside), with the rows' rounding: fl(lo - p) <= fl(x - p) for x >= lo, and
/// fl(p - hi) = -fl(hi - p), so it never exceeds a row's distance.
double box_min(const double* lo, const double* hi, const double* point, int d) noexcept {
  double sum = 0;
  for (int t = 0; t < d; ++t) {
    double diff = 0;
    if (point[t] < lo[t]) {
      diff = lo[t] - point[t];
    } else if (point[t] > hi[t]) {
      diff = point[t] - hi[t];
    }
    sum += diff * diff;
  }
  return sum;
}

/// Squared distance from `point` to the box's farthest corner (never below a row's distance).
double box_max(const double* lo, const double* hi, const double* point, int d) noexcept {
  double sum = 0;
  for (int t = 0; t < d; ++t) {
    const double diff = std::max(std::abs(point[t] - lo[t]), std::abs(hi[t] - point[t]));
    sum += diff * diff;
  }
  return sum;
}

/// The sum of max(0, 1 - x[i] s) in kde::ordered_sum's order, term `skip` taken as 0.
double epanechnikov_sum(const double* x, std::size_t n, double s, std::size_t skip,
                        const double* weights) noexcept {
  double lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  auto term = [&](std::size_t i) {
    const double k = std::max(0.0, 1.0 - x[i] * s);
    return i == skip ? 0.0 : weights != nullptr ? k * weights[i] : k;
  };
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (std::size_t k = 0; k < 8; ++k) lane[k] += term(i + k);
  }
  for (std::size_t k = 0; i < n; ++i, ++k) lane[k] += term(i);
  return ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
}

void bounds_of(const double* rows, int d, std::uint64_t begin, std::uint64_t end, double* lo,
               double* hi) {
  for (int t = 0; t < d; ++t) {
    lo[t] = kInfinity;
    hi[t] = -kInfinity;
  }
  for (std::uint64_t i = begin; i < end; ++i) {
    for (int t = 0; t < d; ++t) {
      const double x = rows[i * static_cast<std::uint64_t>(d) + static_cast<std::uint64_t>(t)];
      lo[t] = std::min(lo[t], x);
      hi[t] = std::max(hi[t], x);
    }
  }
}

}  // namespace

void ErrorBound::check() const {
  if (!(rtol >= 0) || !std::isfinite(rtol))
    throw UsageError("ErrorBound::rtol must be finite and at least 0");
  if (!(atol >= 0) || !std::isfinite(atol))
    throw UsageError("ErrorBound::atol must be finite and at least 0");
}

SampleBoxes::SampleBoxes(const double* rows, std::uint64_t count, int d, std::uint64_t chunk)
    : d_(d), rows_(count), chunk_(chunk) {
  if (chunk == 0 || chunk % kPieceRows != 0)
    throw InternalError("SampleBoxes: chunks must be whole pieces");
  chunks_ = (rows_ + chunk - 1) / chunk;
  const std::uint64_t pieces = (rows_ + kPieceRows - 1) / kPieceRows;
  const auto dd = static_cast<std::uint64_t>(d);
  piece_lo_.resize(pieces * dd);
  piece_hi_.resize(pieces * dd);
  chunk_lo_.resize(chunks_ * dd);
  chunk_hi_.resize(chunks_ * dd);
  for (std::uint64_t k = 0; k < pieces; ++k) {
    bounds_of(rows, d, k * kPieceRows, std::min(rows_, (k + 1) * kPieceRows), &piece_lo_[k * dd],
              &piece_hi_[k * dd]);
  }
  for (std::uint64_t c = 0; c < chunks_; ++c) {
    bounds_of(rows, d, c * chunk, std::min(rows_, (c + 1) * chunk), &chunk_lo_[c * dd],
              &chunk_hi_[c * dd]);
  }
  columns_.assign(pieces * kPieceRows * dd, 0.0);
  for (std::uint64_t i = 0; i < rows_; ++i) {
    double* piece = &columns_[i / kPieceRows * kPieceRows * dd];
    for (std::uint64_t t = 0; t < dd; ++t)
      piece[t * kPieceRows + i % kPieceRows] = rows[i * dd + t];
  }
}

std::uint64_t SampleBoxes::distances(std::uint64_t k, const double* point, double shift,
                                     double* out) const noexcept {
  piece_distances(&columns_[k * kPieceRows * static_cast<std::uint64_t>(d_)], d_, point, shift,
                  out);
  return piece_rows(k);
}

double SampleBoxes::piece_min(std::uint64_t k, const double* point) const noexcept {
  const auto d = static_cast<std::uint64_t>(d_);
  return box_min(&piece_lo_[k * d], &piece_hi_[k * d], point, d_);
}
double SampleBoxes::chunk_min(std::uint64_t c, const double* point) const noexcept {
  const auto d = static_cast<std::uint64_t>(d_);
  return box_min(&chunk_lo_[c * d], &chunk_hi_[c * d], point, d_);
}
double SampleBoxes::piece_max(std::uint64_t k, const double* point) const noexcept {
  const auto d = static_cast<std::uint64_t>(d_);
  return box_max(&piece_lo_[k * d], &piece_hi_[k * d], point, d_);
}
double SampleBoxes::chunk_max(std::uint64_t c, const double* point) const noexcept {
  const auto d = static_cast<std::uint64_t>(d_);
  return box_max(&chunk_lo_[c * d], &chunk_hi_[c * d], point, d_);
}

std::uint64_t SampleBoxes::count_within(const double* point, double r2) const noexcept {
  const bool weighted = !piece_mass_.empty();
  std::uint64_t count = 0;
  for (std::uint64_t c = 0; c < chunks_; ++c) {
    if (chunk_min(c, point) > r2) continue;
    if (chunk_max(c, point) <= r2) {
      count += weighted ? chunk_mass_[c] : chunk_size(c);
      continue;
    }
    const IndexRange pieces = pieces_of(c);
    for (std::uint64_t k = pieces.begin; k < pieces.end; ++k) {
      if (piece_max(k, point) <= r2) count += weighted ? piece_mass_[k] : piece_rows(k);
    }
  }
  return count;
}

void SampleBoxes::set_weights(const double* weights) {
  const std::uint64_t pieces = (rows_ + kPieceRows - 1) / kPieceRows;
  piece_mass_.assign(pieces, 0);
  chunk_mass_.assign(chunks_, 0);
  for (std::uint64_t i = 0; i < rows_; ++i) {
    const auto units = static_cast<std::uint64_t>(std::floor(weights[i] * kMassUnit));
    piece_mass_[i / kPieceRows] += units;
    chunk_mass_[i / chunk_] += units;
  }
}

double SampleBoxes::nearest(const double* point, std::uint64_t skip) const noexcept {
  // An upper bound first (the nearest farthest corner), then only the boxes that come within
  // it: a row's distance lies between its box's minimum and maximum.
  // (a box whose only row is `skip` bounds nothing)
  double bound = kInfinity;
  for (std::uint64_t c = 0; c < chunks_; ++c) {
    if (c * chunk_ != skip || chunk_size(c) > 1) bound = std::min(bound, chunk_max(c, point));
  }
  for (std::uint64_t c = 0; c < chunks_; ++c) {
    if (chunk_min(c, point) > bound) continue;
    const IndexRange pieces = pieces_of(c);
    for (std::uint64_t k = pieces.begin; k < pieces.end; ++k) {
      if (k * kPieceRows != skip || piece_rows(k) > 1) bound = std::min(bound, piece_max(k, point));
    }
  }
  double best = kInfinity;
  for (std::uint64_t c = 0; c < chunks_; ++c) {
    if (chunk_min(c, point) > bound) continue;
    const IndexRange pieces = pieces_of(c);
    for (std::uint64_t k = pieces.begin; k < pieces.end; ++k) {
      if (piece_min(k, point) > std::min(bound, best)) continue;
      double r2[kPieceRows];
      const std::uint64_t count = distances(k, point, 0.0, r2);
      for (std::uint64_t i = 0; i < count; ++i) {
        if (k * kPieceRows + i != skip) best = std::min(best, r2[i]);
      }
    }
  }
  return best;
}

double gaussian_reach2(double r2min, double h, int d, double n, const ErrorBound& bound,
                       double lower) noexcept {
  const double budget = (bound.rtol >= 2 * ErrorBound::kRounding ? bound.rtol / 2 : 0.0) * lower;
  // atol in units of S': atol / (norm(h) e^(-r2min / 2h^2) / n), through logs.
  double allowed = budget;
  if (bound.atol > 0) {
    const double log_unit =
        log_kernel_norm(Kernel::gaussian, h, d) - r2min / (2 * h * h) - std::log(n);
    allowed += std::exp(std::min(700.0, std::log(bound.atol) - log_unit));
  }
  if (!(allowed > 0) || !std::isfinite(r2min)) return kInfinity;
  return r2min + 2 * h * h * std::log(n / allowed);
}

PrunedSums::PrunedSums(Kernel kernel, std::span<const double> widths)
    : kernel_(kernel), scale_(term_scales(kernel, widths, "PrunedSums")) {}

void PrunedSums::operator()(const SampleBoxes& boxes, std::uint64_t c, const double* point,
                            double shift, const double* reach2, double* out, std::uint64_t skip,
                            const double* weights) {
  const std::size_t m = scale_.size();
  const bool gaussian = kernel_ == Kernel::gaussian;
  // How far a piece may be and still count at width j.
  auto within = [&](double r2, std::size_t j) {
    return gaussian ? r2 <= reach2[j] : r2 * scale_[j] < 1.0;
  };
  const double chunk_near = boxes.chunk_min(c, point);
  bool any = false;
  for (std::size_t j = 0; j < m && !any; ++j) any = within(chunk_near, j);
  std::fill(out, out + m, 0.0);
  if (!any) return;
  const IndexRange pieces = boxes.pieces_of(c);
  // The pieces any width takes, their r^2 - shift in order.
  offset_.assign(1, 0);
  std::uint64_t self_at = UINT64_MAX;  // where the left-out row's distance went
  piece_min_.clear();
  x_.resize(boxes.chunk_rows() + SampleBoxes::kPieceRows);  // a piece writes kPieceRows
  for (std::uint64_t k = pieces.begin; k < pieces.end; ++k) {
    const double near = boxes.piece_min(k, point);
    bool take = false;
    for (std::size_t j = 0; j < m && !take; ++j) take = within(near, j);
    if (!take) continue;
    const std::uint64_t count = boxes.distances(k, point, shift, x_.data() + offset_.back());
    if (weights != nullptr) {
      w_.resize(x_.size());
      std::copy_n(weights + k * SampleBoxes::kPieceRows, count, w_.data() + offset_.back());
    }
    if (skip - k * SampleBoxes::kPieceRows < count)
      self_at = offset_.back() + skip - k * SampleBoxes::kPieceRows;
    piece_min_.push_back(near);
    offset_.push_back(offset_.back() + count);
  }
  // Per width: the runs of consecutive pieces it takes, each summed in the fixed lane order,
  // the runs added in order.
  for (std::size_t j = 0; j < m; ++j) {
    double total = 0;
    for (std::size_t a = 0; a < piece_min_.size();) {
      if (!within(piece_min_[a], j)) {
        ++a;
        continue;
      }
      std::size_t b = a + 1;
      while (b < piece_min_.size() && within(piece_min_[b], j)) ++b;
      const double* x = x_.data() + offset_[a];
      const double* w = weights != nullptr ? w_.data() + offset_[a] : nullptr;
      const std::size_t count = offset_[b] - offset_[a];
      // The left-out row adds exactly 0 (its lane skips it).
      const std::size_t self = self_at - offset_[a] < count ? self_at - offset_[a] : SIZE_MAX;
      if (gaussian && !std::isfinite(scale_[j])) {
        // h^2 underflows: e^(-x / 2h^2) is 1 at x = 0 (the nearest samples) and 0 beyond
        for (std::size_t i = 0; i < count; ++i)
          total += i != self && x[i] == 0 ? (w != nullptr ? w[i] : 1.0) : 0.0;
      } else if (gaussian) {
        total += numeric::exp_sum(x, count, scale_[j], self, w);
      } else {
        total += epanechnikov_sum(x, count, scale_[j], self, w);
      }
      a = b;
    }
    out[j] = total;
  }
}

}  // namespace parakit::kde
