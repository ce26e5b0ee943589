// A program's main() around a team: the Environment (MPI when launched by mpirun or srun), one
// line on stderr for an error, an exit code, and no rank left waiting.
//
//   int main(int argc, char** argv) {
//     return parakit::run_program("pi", argc, argv, [](parakit::Team& team, auto args) {
//       ...  // collective work on the team
//       return 0;
//     });
//   }
#pragma once

#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "parakit/backend/team.hpp"
#include "parakit/runtime/environment.hpp"

namespace parakit {

/// Runs body(team, args) on every process with a team over all of them (the backend and the
/// thread count from `options`: by default MPI ranks under a launcher, else threads; the
/// environment variables PARAKIT_BACKEND and PARAKIT_THREADS set what `options` leaves at its
/// default, as OMP_NUM_THREADS does for OpenMP programs) and
/// returns its exit code. An error every rank raised together (AgreedError, as collective calls
/// raise) is printed once, by rank 0, as "NAME: message", and its exit code returned; any other
/// exception is seen by one rank alone, which prints it and ends the whole job (MPI_Abort) so
/// that no rank waits for it. `args` are argv[1..argc).
int run_program(std::string_view name, int argc, char** argv,
                const std::function<int(Team&, std::span<char* const> args)>& body,
                const RuntimeOptions& options = {});

}  // namespace parakit
