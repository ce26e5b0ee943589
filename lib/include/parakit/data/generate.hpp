// Deterministic, split-invariant synthetic data for the reduction demos.
//
// Every element is a pure function of (distribution, seed, index), computed
// from a Philox4x32-10 block whose key is the seed and whose counter is derived
// from the index. Any partition of [0, n) across ranks or threads therefore
// produces bit-identical arrays.
//
// Stream layout (stable: changing it changes every published result): key =
// philox_key(seed); counter = {c mod 2^32, c >> 32, 0, tag} with tag 1 for
// uniform, 2 for normal, 3 for cancel. uniform and normal use c = i / 2, even i
// taking words (0, 1) and odd i words (2, 3) of the block; cancel uses c = i.
// ones, uniform and cancel use integer arithmetic and exact conversions only, so
// they are bit-identical on every platform; normal calls libm (log, cos, sin) and
// is bit-identical wherever the same libm runs (all ranks of one installation).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace parakit::data {

/// Element distributions.
///  - ones:    1.0 everywhere.
///  - uniform: uniform on [0, 1), multiples of 2^-53 (53 random bits).
///  - normal:  standard normal N(0, 1), Box-Muller on one Philox block per pair
///             of elements (even index: r cos t, odd index: r sin t).
///  - cancel:  pairs of huge values of both signs that cancel. Even i:
///             x = +-2^e (1 + m 2^-51), e uniform in [0, 59], m 51 random bits,
///             sign random. Odd i: x[i] = v - x[i-1] with v uniform in [-1, 1)
///             rounded down to a multiple of 2^(e-51) (v = 0 when e >= 52), so
///             x[i] is exact and x[i-1] + x[i] == v exactly. The exact sum of an
///             even-length array is the sum of the v's: tiny next to the terms.
enum class Dist { ones, uniform, normal, cancel };

/// Parses "ones", "uniform", "normal" or "cancel". Throws UsageError naming
/// the valid names otherwise.
Dist parse_dist(std::string_view name);

/// The name parse_dist accepts for d.
std::string_view to_string(Dist d);

/// Fills out[k] with element (first + k) of the array defined by (dist, seed).
/// Element i depends only on (dist, seed, i): any split across ranks/threads
/// gives the same array, bit for bit, and the same values as generate_one.
/// Uses AVX2 kernels where the CPU has them (same output). Throws UsageError if
/// first + out.size() - 1 overflows 64 bits.
void generate(Dist dist, std::uint64_t seed, std::uint64_t first, std::span<double> out);

/// Element `index` of the array defined by (dist, seed).
double generate_one(Dist dist, std::uint64_t seed, std::uint64_t index);

namespace detail {
/// Testing hook: true makes generate() use only the portable code, not the
/// AVX2 kernels it picks at run time on CPUs that have them. Output is the same.
void set_portable_only(bool portable) noexcept;
/// Whether generate() currently uses the AVX2 kernels.
bool simd_active() noexcept;
}  // namespace detail

}  // namespace parakit::data
