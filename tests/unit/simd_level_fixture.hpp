// A parameterised fixture that runs a test at one instruction-set level of the numeric
// kernels and restores the previous level afterwards.
#pragma once

#include <gtest/gtest.h>

#include "parakit/numeric/fast_sum.hpp"

namespace parakit::numeric::testing {

class SimdLevelTest : public ::testing::TestWithParam<detail::SimdLevel> {
 protected:
  void SetUp() override {
    saved_ = detail::simd_level();
    detail::set_simd_level(GetParam());
  }
  void TearDown() override { detail::set_simd_level(saved_); }

 private:
  detail::SimdLevel saved_{};
};

}  // namespace parakit::numeric::testing
