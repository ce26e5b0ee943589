// Smooth-kernel sums that are the same bits on every rank count, thread count and CPU.
//
// The samples are cut into row chunks whose size depends on n alone (chunk_rows), and shards
// hold whole chunks (patterns/rows.hpp, RowLayout::aligned_blocks), so a chunk's rows are the
// same wherever it lives. ChunkSums sums one chunk in an order fixed by the chunk alone (eight
// interleaved partial sums combined pairwise, no fused multiply-add), and the chunk results
// are added into numeric::BinnedSum accumulators, whose result does not depend on the order in
// which chunks arrive. So a density or a leave-one-out sum is bitwise the same however the
// chunks were spread over ranks and threads.
//
// Error bound of a sum S of n kernel terms (each in [0, 1]) against the exact real sum: each
// chunk's ordered sum is within (c/8 + 3) u S_chunk (c rows, u = 2^-53, all terms >= 0);
// BinnedSum adds at most (n / c) 2^-95 S + 0.5 ulp(S).
#pragma once

#include <Eigen/Core>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "parakit/kde/kernels.hpp"

namespace parakit::kde {

/// Rows per chunk for n samples: about n / 256, rounded up to a multiple of 64, from 64 to
/// 4096. A function of n only.
std::uint64_t chunk_rows(std::uint64_t n) noexcept;

/// Sums s = x_0 + ... + x_{n-1} in a fixed order: eight interleaved partial sums (lane k takes
/// x_k, x_{k+8}, ...), combined ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7)).
double ordered_sum(const double* x, std::size_t n) noexcept;

/// Per width, the factor a squared distance is multiplied by in a term: -1 / (2 h^2) for the
/// gaussian (the exponent), 1 / h^2 for epanechnikov. Throws UsageError (naming `who`) for the
/// hypercube or a width that is not positive and finite.
std::vector<double> term_scales(Kernel kernel, std::span<const double> widths,
                                std::string_view who);

/// One chunk's unnormalised kernel sums at one point for every width. Holds scratch space:
/// use one per thread.
class ChunkSums {
 public:
  /// Throws UsageError for a width that is not positive and finite.
  ChunkSums(Kernel kernel, std::span<const double> widths);

  std::size_t widths() const noexcept { return scale_.size(); }

  /// out[j] = sum over the `count` rows at `rows` (row-major, d values each) of
  /// exp(-r^2 / (2 h_j^2)) (gaussian) or max(0, 1 - r^2 / h_j^2) (epanechnikov), r the
  /// Euclidean distance to `point`, or (hypercube) 1 for a row inside the point's window of
  /// width h_j (the window test, as HypercubeWidths decides it) and 0 outside; each term times
  /// weights[i] where `weights` is given (the chunk's rows' weights); row `skip` (if < count)
  /// adds nothing (leave-one-out).
  void operator()(const double* rows, std::size_t count, int d, const double* point, double* out,
                  std::size_t skip = SIZE_MAX, const double* weights = nullptr);

 private:
  Kernel kernel_;
  /// -1 / (2 h^2) (gaussian), 1 / h^2 (epanechnikov), or the largest Chebyshev distance inside
  /// the window (hypercube)
  std::vector<double> scale_;
  Eigen::ArrayXd r2_, term_;
};

}  // namespace parakit::kde
