// Shared by every backend test: the Team the binary was started with. The same test body
// runs under mpiexec at several rank counts and on the thread backend at several thread
// counts (see parakit_add_mpi_test in cmake/parakitTesting.cmake).
#pragma once

#include "parakit/backend/team.hpp"
#include "parakit/runtime/environment.hpp"

namespace parakit::testing {

/// The team over the whole job (MPI world, or this process's threads).
Team& team();
/// The environment the test main created.
const Environment& environment();

}  // namespace parakit::testing
