#include "parakit/runtime/environment.hpp"

#include <charconv>
#include <string>

#include "parakit/core/error.hpp"
#include "parakit/core/system.hpp"

namespace parakit {
namespace {

std::optional<int> env_int(const char* name) {
  auto text = env(name);
  if (!text) return std::nullopt;
  int value = 0;
  auto [ptr, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (ec != std::errc() || ptr != text->data() + text->size()) return std::nullopt;
  return value;
}

constexpr int kMaxThreads = 4096;

}  // namespace

bool launched_as_mpi_rank() noexcept {
  return env("OMPI_COMM_WORLD_SIZE") || env("PMIX_RANK") || env("PMI_RANK");
}

int launcher_rank() noexcept {
  for (const char* name : {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK"}) {
    if (auto rank = env_int(name)) return *rank;
  }
  return 0;
}

BackendKind resolve_backend(std::string_view requested) {
  if (requested == "auto") {
    return launched_as_mpi_rank() ? BackendKind::mpi : BackendKind::threads;
  }
  if (requested == "mpi") return BackendKind::mpi;
  if (requested == "threads") return BackendKind::threads;
  if (requested == "serial") return BackendKind::serial;
  throw UsageError("unknown backend '" + std::string(requested) +
                   "' (expected auto, mpi, threads or serial)");
}

int default_threads(BackendKind kind) {
  switch (kind) {
    case BackendKind::serial:
      return 1;
    case BackendKind::threads:
      return affinity_cpu_count();
    case BackendKind::mpi: {
      const auto per_task = env_int("SLURM_CPUS_PER_TASK");
      return per_task && *per_task >= 1 ? *per_task : 1;
    }
  }
  return 1;
}

Environment::Environment(const RuntimeOptions& options)
    : backend_(resolve_backend(options.backend)),
      threads_(options.threads.value_or(default_threads(backend_))) {
  if (threads_ < 1 || threads_ > kMaxThreads) {
    throw UsageError("RuntimeOptions::threads must be between 1 and " +
                     std::to_string(kMaxThreads) + ", got " + std::to_string(threads_));
  }
  if (backend_ == BackendKind::serial && threads_ != 1) {
    throw UsageError(
        "the serial backend runs one thread; drop RuntimeOptions::threads or use "
        "RuntimeOptions::backend threads");
  }
  if (backend_ != BackendKind::mpi) return;
  int initialized = 0;
  int finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (finalized) throw InternalError("MPI was already finalized in this process");
  if (initialized) return;
  int provided = 0;
  if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
    throw InternalError("MPI_Init_thread failed");
  }
  if (provided < MPI_THREAD_FUNNELED) {
    MPI_Finalize();
    throw InternalError("the MPI library does not support MPI_THREAD_FUNNELED");
  }
  owns_mpi_ = true;
  // Report MPI failures as return codes so they become parakit errors, not silent aborts.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
}

Environment::~Environment() {
  if (!owns_mpi_) return;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

Comm Environment::world() const {
  if (backend_ != BackendKind::mpi) return Comm::self();
  return Comm::from_mpi(boost::mpi::communicator(MPI_COMM_WORLD, boost::mpi::comm_attach));
}

}  // namespace parakit
