// A GoogleTest binary for the skip policy's own test (test_skip_policy.py): Probe.Skips skips
// with the reason in $PROBE_SKIP_REASON (and passes when it is unset); Probe.Passes passes.
#include <gtest/gtest.h>

#include <cstdlib>

TEST(Probe, Skips) {
  if (const char* reason = std::getenv("PROBE_SKIP_REASON")) GTEST_SKIP() << reason;
}

TEST(Probe, Passes) {
  SUCCEED();
}
