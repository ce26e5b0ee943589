// NumpyRandomState against reference values printed by numpy 1.24.2:
//   rs = numpy.random.RandomState(seed)
//   rs._bit_generator.random_raw(n), rs.random_sample(n), rs.standard_normal(n)
// (doubles printed with float.hex), compared bit for bit.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "parakit/core/error.hpp"
#include "parakit/data/numpy_random.hpp"

namespace {

using parakit::data::numpy_multivariate_standard_normal;
using parakit::data::NumpyRandomState;

struct Reference {
  std::uint64_t seed;
  std::array<std::uint32_t, 5> raw;
  std::uint32_t raw_999;  // the 1000th raw output
  std::array<double, 4> uniform;
  std::array<double, 5> normal;
  double normal_10000;  // the 10001st standard normal
};

const Reference kReferences[] = {
    {0,
     {2357136044u, 2546248239u, 3071714933u, 3626093760u, 2588848963u},
     3043451800u,
     {0x1.18fe1565f12a8p-1, 0x1.6e2d4cf608733p-1, 0x1.349d66b6e894bp-1, 0x1.16faedb6395f5p-1},
     {0x1.c398ef3e5cfa5p+0, 0x1.99c2cfacc8953p-2, 0x1.f51d25222c9abp-1, 0x1.1ed5969e3314ep+1,
      0x1.de1847cb13ddap+0},
     -0x1.9def882c196cbp-3},
    {1,
     {1791095845u, 4282876139u, 3093770124u, 4005303368u, 491263u},
     548926898u,
     {0x1.ab07d0ffa3c06p-2, 0x1.70ce5f3baf051p-1, 0x1.dfb906661c000p-14, 0x1.3596ab7fe08f4p-2},
     {0x1.9fd5190657c50p+0, -0x1.393822fb7d9adp-1, -0x1.0e6c872548fd2p-1, -0x1.12ae1255cb80cp+0,
      0x1.bb16b5735117dp-1},
     -0x1.f5a732eff7328p-4},
    {123,
     {2991312382u, 3062119789u, 1228959102u, 1840268610u, 974319580u},
     2423849465u,
     {0x1.64979beda10f5p-1, 0x1.2501b5b6d822ap-2, 0x1.d0977eb0ddd44p-3, 0x1.1a45edee068f0p-1},
     {-0x1.15ebe320b670ep+0, 0x1.fea40ff7c8334p-1, 0x1.21c51d8a6b038p-2, -0x1.819c87c66a773p+0,
      -0x1.283e4acf530efp-1},
     -0x1.3db0303d78360p+0},
    {4294967295u,
     {419326371u, 479346978u, 3918654476u, 2416749639u, 3388880820u},
     2673539693u,
     {0x1.8fe69a3924820p-4, 0x1.d323d824032b1p-1, 0x1.93fc6f61af3f9p-1, 0x1.8f5ca1b151c07p-1},
     {0x1.4bfc38c486d8ap-1, 0x1.56b192e507eeep-1, -0x1.149e836f192fdp+0, 0x1.23543dec5a0fcp-2,
      0x1.d27bf27c6aaafp-4},
     0x1.35649cb145d6dp-2},
};

TEST(NumpyRandomState, RawOutputsMatchNumpy) {
  for (const Reference& ref : kReferences) {
    SCOPED_TRACE(ref.seed);
    NumpyRandomState rs(ref.seed);
    for (std::uint32_t expected : ref.raw) EXPECT_EQ(rs.next_uint32(), expected);
    NumpyRandomState rs2(ref.seed);
    std::uint32_t last = 0;
    for (int i = 0; i < 1000; ++i) last = rs2.next_uint32();  // crosses a 624-word reload
    EXPECT_EQ(last, ref.raw_999);
  }
}

TEST(NumpyRandomState, RandomSampleMatchesNumpy) {
  for (const Reference& ref : kReferences) {
    SCOPED_TRACE(ref.seed);
    NumpyRandomState rs(ref.seed);
    for (double expected : ref.uniform) EXPECT_EQ(rs.random_sample(), expected);
  }
}

TEST(NumpyRandomState, StandardNormalMatchesNumpy) {
  for (const Reference& ref : kReferences) {
    SCOPED_TRACE(ref.seed);
    NumpyRandomState rs(ref.seed);
    for (double expected : ref.normal) EXPECT_EQ(rs.standard_normal(), expected);
    NumpyRandomState rs2(ref.seed);
    double last = 0.0;
    for (int i = 0; i <= 10000; ++i) last = rs2.standard_normal();
    EXPECT_EQ(last, ref.normal_10000);
  }
}

TEST(NumpyRandomState, RejectsSeedsNumpyRejects) {
  EXPECT_NO_THROW(NumpyRandomState(4294967295u));
  EXPECT_THROW(NumpyRandomState(std::uint64_t{1} << 32), parakit::UsageError);
  EXPECT_THROW(numpy_multivariate_standard_normal(std::uint64_t{1} << 32, 1, 1),
               parakit::UsageError);
  EXPECT_THROW(numpy_multivariate_standard_normal(0, 1, 0), parakit::UsageError);
}

TEST(NumpyRandomMultivariate, MatchesNumpyMultivariateNormal) {
  // numpy.random.RandomState(7).multivariate_normal(zeros(3), eye(3), size=5).flatten()
  const std::vector<double> expected = {
      0x1.b0c64ae2deb29p+0,  -0x1.dd1eafa1d414dp-2, 0x1.0cdcdf34c3aedp-5,   0x1.a14bf2d03adc9p-2,
      -0x1.93edb81e0483fp-1, 0x1.0ebd202837d2fp-9,  -0x1.d2d1912005d29p-11, -0x1.c1359cb53ff75p+0,
      0x1.04853c2cd6586p+0,  0x1.33748a9e578d5p-1,  -0x1.403839fa50ee5p-1,  -0x1.5f54b1dc2b993p-3,
      0x1.02b6997dba877p-1,  -0x1.0ba1041f64458p-2, -0x1.f1266dd043021p-3};
  EXPECT_EQ(numpy_multivariate_standard_normal(7, 5, 3), expected);
}

TEST(NumpyRandomMultivariate, Seed123HypercubeCounts) {
  constexpr std::size_t n = 10000;
  const std::vector<double> x = numpy_multivariate_standard_normal(123, n, 2);
  ASSERT_EQ(x.size(), 2 * n);
  EXPECT_EQ(x[0], -0x1.15ebe320b670ep+0);
  EXPECT_EQ(x[2 * n - 2], 0x1.0b6707abbd397p+0);
  EXPECT_EQ(x[2 * n - 1], 0x1.7a24d44f464fcp-2);
  const auto count = [&](double h) {
    int c = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const double m = std::max(std::abs(x[2 * i]), std::abs(x[2 * i + 1]));
      if (m / h <= 0.5) ++c;
    }
    return c;
  };
  EXPECT_EQ(count(1.0), 1445);
  EXPECT_EQ(count(1.2), 2022);
}

}  // namespace
