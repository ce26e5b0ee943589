// Sums of exponentials that are the same bits on every x86-64 CPU: the Gaussian kernel's inner
// loop.
//
// exp is evaluated in eight lanes by one sequence of IEEE operations (no fused multiply-add,
// no table): x is clamped to [-746, 710], k = round(x / ln 2) by the 1.5 * 2^52 shifter,
// r = (x - k ln2_hi) - k ln2_lo (Cody and Waite; k ln2_hi is exact), e^r by its Taylor series to
// degree 13 in Estrin's form (|r| <= 0.35: truncation below 1e-17 relative), and 2^k applied as
// two exact powers of two, 2^(k - k/2) and then 2^(k/2), so that a result in the subnormal range
// is rounded once and one below half the smallest subnormal is 0. Every argument gets the
// vector code: none falls back to a scalar exp, whatever its magnitude. Accuracy, checked
// against glibc's exp over the whole range in the tests: a few ulp for normal results; for
// subnormal results an absolute error below 2^-1074 (plus a few ulp of the result).
//
// The lanes are 64 bytes at every instruction-set level (AVX-512: one register, AVX2: two,
// SSE2: four) and the lane k of a sum takes terms k, k + 8, ..., combined
// ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7)) as kde::ordered_sum does, so the result does
// not depend on the level the CPU runs.
#pragma once

#include <cstddef>
#include <cstdint>

namespace parakit::numeric {

/// e^x as one lane of exp_sum computes it (the scalar reference of the vector code).
double exp_lane(double x) noexcept;

/// The sum over i < n of e^(scale * x[i]) (times weights[i], where `weights` is given), in the
/// order described above; the term at `skip` (if < n) is taken as exactly 0 (a leave-one-out
/// sum).
double exp_sum(const double* x, std::size_t n, double scale, std::size_t skip = SIZE_MAX,
               const double* weights = nullptr) noexcept;

}  // namespace parakit::numeric
