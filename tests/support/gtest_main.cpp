// GoogleTest's main under the skip policy (skip_policy.hpp), for the unit tests.
#include <gtest/gtest.h>

#include "skip_policy.hpp"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  parakit::testing::install_skip_policy();
  return parakit::testing::apply_skip_policy(RUN_ALL_TESTS());
}
