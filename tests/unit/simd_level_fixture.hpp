// A parameterised fixture that runs a test at one instruction-set level of the numeric
// kernels and restores the previous level afterwards. A level the CPU lacks is a skip with
// the reason (allow-listed in tests/allowed_skips.txt), never a quiet run at a lower level;
// the level that really ran is printed.
#pragma once

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "parakit/numeric/fast_sum.hpp"

namespace parakit::numeric::testing {

/// A level's name in messages ("AVX-512") and in test names ("Avx512").
struct LevelNames {
  const char* label;
  const char* test_name;
};
inline LevelNames level_names(detail::SimdLevel level) {
  switch (level) {
    case detail::SimdLevel::kAvx512:
      return {"AVX-512", "Avx512"};
    case detail::SimdLevel::kAvx2:
      return {"AVX2", "Avx2"};
    default:
      return {"baseline", "Baseline"};
  }
}
inline const char* level_label(detail::SimdLevel level) {
  return level_names(level).label;
}

/// Test-name suffix for INSTANTIATE_TEST_SUITE_P.
inline std::string level_name(const ::testing::TestParamInfo<detail::SimdLevel>& param) {
  return level_names(param.param).test_name;
}

class SimdLevelTest : public ::testing::TestWithParam<detail::SimdLevel> {
 protected:
  void SetUp() override {
    saved_ = detail::simd_level();
    if (GetParam() > detail::max_simd_level()) {
      GTEST_SKIP() << "this CPU has no " << level_label(GetParam()) << " (its best level is "
                   << level_label(detail::max_simd_level()) << ")";
    }
    detail::set_simd_level(GetParam());
    ASSERT_EQ(detail::simd_level(), GetParam());
    std::printf("[   simd   ] kernels at %s\n", level_label(detail::simd_level()));
  }
  void TearDown() override { detail::set_simd_level(saved_); }

 private:
  detail::SimdLevel saved_{};
};

}  // namespace parakit::numeric::testing
