// The skip policy of the GoogleTest binaries (the Python suites follow the same rules in
// skip_policy.py): every skip prints its reason; under CI=true a skip whose reason does not
// match tests/allowed_skips.txt (facts about the hardware) fails the binary; permitted skips are
// appended to $PARAKIT_SKIP_LOG for the list at the end of the CI log.
#pragma once

#include <string>

namespace parakit::testing {

/// Exit status of a binary in which every test that ran was skipped, as the policy permits
/// (ctest's SKIP_RETURN_CODE).
inline constexpr int kSkippedAll = 77;

/// Registers the policy's listener. Call after ::testing::InitGoogleTest.
void install_skip_policy();

/// The exit status for RUN_ALL_TESTS()'s `status`: 1 when a skip broke the policy, kSkippedAll
/// when every test that ran was skipped, else `status`.
int apply_skip_policy(int status);

/// Whether `reason` matches a pattern of the allow-list file.
bool skip_allowed(const std::string& reason);

}  // namespace parakit::testing
