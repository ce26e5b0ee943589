// Smooth-kernel sums that skip the samples too far away to matter, with a stated error bound,
// and still the same bits on every rank count, thread count and CPU.
//
// The samples are in a spatial order that depends on the samples alone (sort_rows_spatially:
// Z-order, ties by row index), cut into chunks (kde::chunk_rows) and pieces of kPieceRows rows,
// each with its bounding box. A query point's sum at width h visits only the pieces whose box
// comes within the point's reach at h, and reach depends only on the global data:
//
//   Gaussian: terms are taken relative to the nearest sample, e^(-(r^2 - r2min) / (2 h^2)), so
//   the sum S' is at least 1 and a density below the smallest double still has its logarithm
//   (log-sum-exp). Skipping every sample beyond reach2 = r2min + 2 h^2 ln(n / allowed) leaves
//   out at most n terms of at most allowed / n each: at most `allowed`, which is
//   rtol_budget * 1 <= rtol_budget * S' plus atol in units of S'. So the density is within
//   atol + rtol * density of the full sum (half of rtol is the truncation's, the other half
//   covers rounding).
//   Epanechnikov: reach is the support, h: a piece is skipped only when every term in it is
//   exactly 0, so skipping changes nothing.
//
// r2min is the exact minimum over all ranks (MPI_MIN of the same computed distances), and a
// piece is skipped by a test on its box, whose rows are the same at any rank count: the set of
// terms summed, and the order they are summed in, are functions of the samples and the point.
// Box distances are computed with the same rounding as the rows' distances and are monotone
// in them, so a box's minimum distance never exceeds a row's.
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include "parakit/core/partition.hpp"
#include "parakit/kde/kernels.hpp"

namespace parakit::kde {

/// The bound on a smooth-kernel density: |computed - exact| <= atol + rtol * density.
struct ErrorBound {
  double rtol = 1e-12;
  double atol = 0;
  /// Rounding in the sums, relative: the sums are never more accurate than this, and an rtol
  /// below twice this prunes nothing.
  static constexpr double kRounding = 1e-13;
  /// Throws UsageError for a negative or non-finite tolerance.
  void check() const;
};

/// Bounding boxes of `rows` rows (row-major, d values each) in pieces of kPieceRows and in
/// chunks of `chunk` rows (a multiple of kPieceRows); the first row starts a chunk. Keeps a
/// copy of the rows by piece and coordinate, so that distances vectorise.
class SampleBoxes {
 public:
  static constexpr std::uint64_t kPieceRows = 64;
  SampleBoxes(const double* rows, std::uint64_t count, int d, std::uint64_t chunk);
  SampleBoxes(const Samples& local, std::uint64_t chunk)
      : SampleBoxes(local.data(), static_cast<std::uint64_t>(local.rows()),
                    static_cast<int>(local.cols()), chunk) {}

  std::uint64_t rows() const noexcept { return rows_; }
  /// The pieces of chunk c, and the rows of piece k and of chunk c.
  IndexRange pieces_of(std::uint64_t c) const noexcept {
    const std::uint64_t per_chunk = chunk_ / kPieceRows;
    return {c * per_chunk, std::min((rows_ + kPieceRows - 1) / kPieceRows, (c + 1) * per_chunk)};
  }
  std::uint64_t piece_rows(std::uint64_t k) const noexcept {
    return std::min(rows_, (k + 1) * kPieceRows) - k * kPieceRows;
  }
  std::uint64_t chunk_size(std::uint64_t c) const noexcept {
    return std::min(rows_, (c + 1) * chunk_) - c * chunk_;
  }
  std::uint64_t chunks() const noexcept { return chunks_; }
  std::uint64_t chunk_rows() const noexcept { return chunk_; }
  int dim() const noexcept { return d_; }

  /// The smallest squared distance from `point` to a row other than `skip` (infinity when
  /// there is none), computed as the sums compute it.
  double nearest(const double* point, std::uint64_t skip = UINT64_MAX) const noexcept;

  /// Rows in piece k; out[i] = the squared distance of its row i to `point`, minus `shift`.
  std::uint64_t distances(std::uint64_t k, const double* point, double shift,
                          double* out) const noexcept;

  /// Squared distance from `point` to the nearest corner, face or inside of piece k's box (or
  /// chunk c's), and to its farthest corner.
  double piece_min(std::uint64_t k, const double* point) const noexcept;
  double chunk_min(std::uint64_t c, const double* point) const noexcept;
  double piece_max(std::uint64_t k, const double* point) const noexcept;
  double chunk_max(std::uint64_t c, const double* point) const noexcept;

  /// How many rows lie in pieces wholly within squared distance r2 of `point` (a lower bound
  /// on the rows within r2, from the boxes alone: the same at any rank count). With weights
  /// (set_weights): their total instead, in fixed-point units of kMassUnit (each row's weight
  /// rounded down, so still a lower bound; integers, so it adds exactly across ranks).
  std::uint64_t count_within(const double* point, double r2) const noexcept;

  /// A weight of 1 in count_within's fixed-point units: room for 2^39 rows of weight 1.
  static constexpr double kMassUnit = 16777216.0;  // 2^24
  /// The rows' weights (one per row, in [0, 1], by row), summed per piece and chunk for
  /// count_within.
  void set_weights(const double* weights);

 private:
  int d_;
  std::uint64_t rows_, chunk_, chunks_;
  std::vector<double> piece_lo_, piece_hi_, chunk_lo_, chunk_hi_;  // d values per box
  std::vector<double> columns_;  // each piece's rows by coordinate: kPieceRows x d, zero-padded
  // per piece and chunk: rows, or with weights their fixed-point total (count_within)
  std::vector<std::uint64_t> piece_mass_, chunk_mass_;
};

/// The squared reach of a Gaussian at width h around a point whose nearest sample is at r2min,
/// for n samples in d dimensions, so that what lies beyond it is within `bound` (see above);
/// infinity when nothing may be skipped. `lower` is a lower bound on the relative sum S' (1
/// without weights, the nearest sample's term; with `close` samples known within
/// r2min + 2 h^2 of the point, S' >= close / e). Weighted samples (weights scaled into [0, 1]):
/// n is their total weight and `lower` must account for the weights (at least the smallest
/// weight, times close / e where that is larger).
double gaussian_reach2(double r2min, double h, int d, double n, const ErrorBound& bound,
                       double lower = 1) noexcept;

/// One chunk's kernel sums at one point for every width, over the pieces within reach. Holds
/// scratch space: use one per thread.
class PrunedSums {
 public:
  PrunedSums(Kernel kernel, std::span<const double> widths);

  /// out[j] = the sum over the rows of chunk c within reach2[j] (by their pieces' boxes) of
  /// e^(-(r^2 - shift) / (2 h_j^2)) (gaussian; shift = the point's r2min) or
  /// max(0, 1 - r^2 / h_j^2) (epanechnikov: reach2 is ignored, the support decides). Rows are
  /// taken in order and summed in a fixed order; a piece left out adds exactly nothing, and so
  /// does row `skip` (a leave-one-out sum). With `weights` (one per row of the boxes, by row)
  /// each term is times its row's weight.
  void operator()(const SampleBoxes& boxes, std::uint64_t c, const double* point, double shift,
                  const double* reach2, double* out, std::uint64_t skip = UINT64_MAX,
                  const double* weights = nullptr);

 private:
  Kernel kernel_;
  std::vector<double> scale_;          // -1 / (2 h^2) (gaussian) or 1 / h^2 (epanechnikov)
  std::vector<double> x_;              // r^2 - shift of the pieces taken, in order
  std::vector<double> w_;              // with weights: those rows' weights, in the same order
  std::vector<std::uint64_t> offset_;  // where each piece taken starts in x_ (and its end)
  std::vector<double> piece_min_;
};

}  // namespace parakit::kde
