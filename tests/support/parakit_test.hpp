// Shared by every backend test: the Team the binary was started with. The same test body
// runs under mpiexec at several rank counts and on the thread backend at several thread
// counts (see parakit_add_mpi_test in cmake/parakitTesting.cmake).
#pragma once

#include <string>

#include "parakit/backend/team.hpp"
#include "parakit/runtime/environment.hpp"

namespace parakit::testing {

/// The team over the whole job (MPI world, or this process's threads).
Team& team();
/// The environment the test main created.
const Environment& environment();

/// A path in /tmp every rank agrees on (rank 0 picks it; the ranks of these tests share a node):
/// "/tmp/parakit-test-<pid of rank 0>-<stem>".
std::string shared_temp_path(const std::string& stem);

}  // namespace parakit::testing
