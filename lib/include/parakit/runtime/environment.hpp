// Process-level setup: which backend to run, how many threads, and the MPI lifetime.
// The Environment initialises MPI only when the MPI backend is chosen, and finalises only
// what it initialised (a program that called MPI_Init itself keeps ownership).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "parakit/backend/comm.hpp"
#include "parakit/backend/team.hpp"

namespace parakit {

/// True when this process was started as an MPI rank by mpirun/mpiexec or srun: one of
/// OMPI_COMM_WORLD_SIZE, PMIX_RANK or PMI_RANK is set. (SLURM_JOB_ID is not a sign: a batch
/// shell has it without being a rank.)
bool launched_as_mpi_rank() noexcept;

/// The launcher's rank of this process (0 when not launched as a rank). Usable before MPI
/// is initialised, e.g. to let only rank 0 print a command-line error.
int launcher_rank() noexcept;

/// Parses "auto|mpi|threads|serial"; auto resolves with launched_as_mpi_rank().
BackendKind resolve_backend(std::string_view requested);

/// The default thread count per process: the affinity mask's CPU count for threads;
/// SLURM_CPUS_PER_TASK (else 1) under mpi; 1 for serial.
int default_threads(BackendKind kind);

struct RuntimeOptions {
  std::string backend = "auto";
  std::optional<int> threads;  ///< empty: default_threads(backend)
};

class Environment {
 public:
  /// Resolves the backend and thread count (throws UsageError on bad values) and initialises
  /// MPI (MPI_THREAD_FUNNELED) when the backend is mpi and MPI is not yet initialised.
  explicit Environment(const RuntimeOptions& options);
  ~Environment();
  Environment(const Environment&) = delete;
  Environment& operator=(const Environment&) = delete;

  BackendKind backend() const noexcept { return backend_; }
  int threads() const noexcept { return threads_; }
  /// MPI_COMM_WORLD (attached, not owned) under mpi, else Comm::self().
  Comm world() const;
  /// A team over world() (Team::serial() for the serial backend). Destroy teams before the
  /// Environment.
  Team make_team() const {
    return backend_ == BackendKind::serial ? Team::serial() : Team(world(), threads_);
  }

 private:
  BackendKind backend_;
  int threads_;
  bool owns_mpi_ = false;
};

}  // namespace parakit
