// A Team is the one backend interface patterns are written against: `ranks()` processes
// (a Comm) each running `threads()` threads (a ThreadPool). Workers are numbered globally in
// rank-major order, so worker w = (rank, tid) owns the w-th block of any partitioned range
// whatever the backend: serial is 1x1, threads is 1xT, mpi is Px1, hybrid is PxT.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "parakit/backend/comm.hpp"
#include "parakit/backend/thread_pool.hpp"
#include "parakit/core/partition.hpp"

namespace parakit {

enum class BackendKind { serial, threads, mpi };
std::string_view to_string(BackendKind kind) noexcept;

/// One worker's identity inside a team.
struct Worker {
  int id = 0;   ///< global worker index, 0..workers()-1
  int tid = 0;  ///< thread index within this rank, 0..threads()-1
};

class Team {
 public:
  /// Collective over `comm`: ranks exchange their thread counts, which may differ. If the
  /// pool cannot start on some rank, every rank throws AgreedError. The backend follows from
  /// the communicator: mpi for an MPI one, threads for Comm::self().
  Team(const Comm& comm, int threads);
  /// The serial backend: Comm::self() with one thread, reported as BackendKind::serial.
  static Team serial();
  /// A team over `comm` reporting `kind` as given, even where the communicator contradicts it
  /// (mpi on Comm::self()); the constructor above takes the kind from the communicator.
  [[deprecated("use Team(const Comm&, int threads)")]] Team(BackendKind kind, Comm comm,
                                                            int threads);

  BackendKind kind() const noexcept { return kind_; }
  const Comm& comm() const noexcept { return comm_; }
  int rank() const noexcept { return comm_.rank(); }
  int ranks() const noexcept { return comm_.size(); }
  int threads() const noexcept { return pool_->size(); }
  int workers() const noexcept { return workers_; }
  int first_worker() const noexcept { return first_worker_; }
  ThreadPool& pool() noexcept { return *pool_; }

  /// Runs f(Worker) on every thread of this rank and waits for all of them.
  template <class F>
  void for_each_worker(F&& f) {
    pool_->run([&](int tid) { f(Worker{first_worker_ + tid, tid}); });
  }

  /// The block of [0, n) that worker `worker` owns.
  IndexRange worker_block(std::uint64_t n, int worker) const noexcept {
    return block_range(n, static_cast<std::uint64_t>(workers_), static_cast<std::uint64_t>(worker));
  }
  /// The contiguous union of the blocks of this rank's workers.
  IndexRange rank_block(std::uint64_t n) const noexcept {
    return {worker_block(n, first_worker_).begin,
            worker_block(n, first_worker_ + threads() - 1).end};
  }

 private:
  /// The kind a team reports, as the public constructors and serial() choose it.
  struct Reported {
    BackendKind kind;
  };
  Team(Reported reported, Comm comm, int threads);

  BackendKind kind_;
  Comm comm_;
  std::unique_ptr<ThreadPool> pool_;
  int workers_ = 1;
  int first_worker_ = 0;
};

/// A team of p workers for scaling studies: ranks 0..p-1 of `world`, one thread each (on a
/// sub-communicator, MPI_Comm_split) when `over_ranks`, else p threads on Comm::self().
/// Collective over `world` when over_ranks; ranks >= p get an empty optional.
std::optional<Team> first_workers(const Comm& world, int p, bool over_ranks);

}  // namespace parakit
