// NumPy's legacy numpy.random.RandomState (MT19937 + legacy Gaussian), reproduced
// bit for bit so that parakit can regenerate data sets made with
//   numpy.random.RandomState(seed).multivariate_normal(zeros(d), eye(d), n)
// or np.random.seed(seed); np.random.multivariate_normal(...).
// Verified against numpy 1.24.2.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace parakit::data {

/// NumPy's legacy numpy.random.RandomState.
///
/// Seeding: for an integer seed numpy's `_legacy_seeding` calls
/// `mt19937_seed(state, seed)`, i.e. the reference `init_genrand` (NOT
/// `init_by_array`; that is only used for array/sequence seeds). Integer seeds
/// outside [0, 2**32 - 1] are rejected by numpy with ValueError; here they
/// throw parakit::UsageError.
///
/// random_sample() is numpy's 53-bit double: (a >> 5, b >> 6) ->
/// (a * 67108864 + b) / 9007199254740992. standard_normal() is numpy's
/// `legacy_gauss`: the Marsaglia polar method, returning f * x2 and caching
/// f * x1 for the next call.
class NumpyRandomState {
 public:
  /// Throws parakit::UsageError if seed > 2**32 - 1 (as numpy does).
  explicit NumpyRandomState(std::uint64_t seed);

  /// The next raw 32-bit MT19937 output (numpy's random_raw for RandomState).
  std::uint32_t next_uint32();
  /// Uniform double in [0, 1), as RandomState.random_sample().
  double random_sample();
  /// Standard normal, as RandomState.standard_normal() (legacy gauss).
  double standard_normal();

 private:
  static constexpr int kN = 624;
  void reload();

  std::array<std::uint32_t, kN> mt_{};
  int pos_ = kN;
  bool has_gauss_ = false;
  double gauss_ = 0.0;
};

/// n x d row-major standard normals exactly as
/// numpy.random.RandomState(seed).multivariate_normal(zeros(d), eye(d), n)
/// produces them.
///
/// numpy's legacy multivariate_normal draws standard_normal(n * d), reshapes it
/// to (n, d), computes (u, s, v) = svd(cov) and returns
/// x @ (sqrt(s)[:, None] * v) + mean. For cov = eye(d) LAPACK's SVD returns
/// s = ones and v = exactly the identity (no permutation, no sign flips), so
/// the factor is the identity and the product with its 1.0/0.0 entries is exact:
/// the result equals the raw standard normals bit for bit (checked in numpy
/// 1.24.2 for d = 1, 2, 3, 5, 8). Throws parakit::UsageError if seed > 2**32 - 1
/// or d < 1.
std::vector<double> numpy_multivariate_standard_normal(std::uint64_t seed, std::size_t n, int d);

}  // namespace parakit::data
