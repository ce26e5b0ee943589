// NumPy legacy RandomState: MT19937 (Matsumoto & Nishimura reference
// init_genrand / genrand_int32) plus numpy's legacy double and gauss.
#include "parakit/data/numpy_random.hpp"

#include <cmath>
#include <string>

#include "parakit/core/error.hpp"

namespace parakit::data {

namespace {

constexpr int kM = 397;
constexpr std::uint32_t kMatrixA = 0x9908b0dfu;
constexpr std::uint32_t kUpperMask = 0x80000000u;
constexpr std::uint32_t kLowerMask = 0x7fffffffu;
constexpr std::uint64_t kMaxSeed = 0xffffffffu;

}  // namespace

NumpyRandomState::NumpyRandomState(std::uint64_t seed) {
  if (seed > kMaxSeed) {
    throw UsageError("numpy seed must be between 0 and 2**32 - 1, got " + std::to_string(seed));
  }
  // numpy's mt19937_seed == reference init_genrand.
  mt_[0] = static_cast<std::uint32_t>(seed);
  for (int i = 1; i < kN; ++i) {
    const std::uint32_t prev = mt_[i - 1];
    mt_[i] = 1812433253u * (prev ^ (prev >> 30)) + static_cast<std::uint32_t>(i);
  }
  pos_ = kN;
}

void NumpyRandomState::reload() {
  int i = 0;
  for (; i < kN - kM; ++i) {
    const std::uint32_t y = (mt_[i] & kUpperMask) | (mt_[i + 1] & kLowerMask);
    mt_[i] = mt_[i + kM] ^ (y >> 1) ^ ((y & 1u) ? kMatrixA : 0u);
  }
  for (; i < kN - 1; ++i) {
    const std::uint32_t y = (mt_[i] & kUpperMask) | (mt_[i + 1] & kLowerMask);
    mt_[i] = mt_[i + (kM - kN)] ^ (y >> 1) ^ ((y & 1u) ? kMatrixA : 0u);
  }
  const std::uint32_t y = (mt_[kN - 1] & kUpperMask) | (mt_[0] & kLowerMask);
  mt_[kN - 1] = mt_[kM - 1] ^ (y >> 1) ^ ((y & 1u) ? kMatrixA : 0u);
  pos_ = 0;
}

std::uint32_t NumpyRandomState::next_uint32() {
  if (pos_ >= kN) reload();
  std::uint32_t y = mt_[pos_++];
  y ^= (y >> 11);
  y ^= (y << 7) & 0x9d2c5680u;
  y ^= (y << 15) & 0xefc60000u;
  y ^= (y >> 18);
  return y;
}

double NumpyRandomState::random_sample() {
  const std::int32_t a = static_cast<std::int32_t>(next_uint32() >> 5);
  const std::int32_t b = static_cast<std::int32_t>(next_uint32() >> 6);
  return (a * 67108864.0 + b) / 9007199254740992.0;
}

double NumpyRandomState::standard_normal() {
  if (has_gauss_) {
    const double cached = gauss_;
    has_gauss_ = false;
    gauss_ = 0.0;
    return cached;
  }
  double x1 = 0.0;
  double x2 = 0.0;
  double r2 = 0.0;
  do {
    x1 = 2.0 * random_sample() - 1.0;
    x2 = 2.0 * random_sample() - 1.0;
    // Separate statements: no FMA contraction of x1 * x1 + x2 * x2 (numpy's
    // baseline build rounds both products), even under clang's -ffp-contract=on.
    const double xx1 = x1 * x1;
    const double xx2 = x2 * x2;
    r2 = xx1 + xx2;
  } while (r2 >= 1.0 || r2 == 0.0);
  // Polar method; same expression order as numpy's legacy_gauss.
  const double f = std::sqrt(-2.0 * std::log(r2) / r2);
  gauss_ = f * x1;
  has_gauss_ = true;
  return f * x2;
}

std::vector<double> numpy_multivariate_standard_normal(std::uint64_t seed, std::size_t n, int d) {
  if (d < 1) throw UsageError("numpy multivariate normal needs d >= 1, got " + std::to_string(d));
  NumpyRandomState rs(seed);
  // With cov = eye(d) numpy's SVD factor is exactly the identity, so the
  // sample is the raw standard-normal stream in row-major order (see header).
  std::vector<double> out(n * static_cast<std::size_t>(d));
  for (double& v : out) v = rs.standard_normal();
  return out;
}

}  // namespace parakit::data
