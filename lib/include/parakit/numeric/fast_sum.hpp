// Fast (non-reproducible) vectorised summation.
#pragma once

#include <span>

namespace parakit::numeric {

/// Vectorised sum, near memory bandwidth. Not reproducible across splits: the rounding
/// depends on the length and the instruction set (which lane gets which term).
/// |fast_sum(x) - exact| <= n * eps * sum|x|.
double fast_sum(std::span<const double> x) noexcept;
/// Vectorised sum of floats, accumulated in double.
double fast_sum(std::span<const float> x) noexcept;

namespace detail {

/// Instruction-set level of the numeric kernels. The best one the CPU supports is chosen at
/// start-up; tests lower it to cover every code path.
enum class SimdLevel : int { kBaseline = 0, kAvx2 = 1, kAvx512 = 2 };

/// The level the kernels run at now.
SimdLevel simd_level() noexcept;
/// The best level this CPU supports.
SimdLevel max_simd_level() noexcept;
/// Makes the kernels run at min(level, max_simd_level()). Not meant for concurrent use with
/// running kernels in production code; it exists for tests and benchmarks.
void set_simd_level(SimdLevel level) noexcept;

}  // namespace detail
}  // namespace parakit::numeric
