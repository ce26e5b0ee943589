// What a farm run (patterns/farm.hpp) reports back, the same on every rank: counts, the
// checksum, the first failures, and each executor's statistics.
#pragma once

#include <algorithm>
#include <boost/serialization/string.hpp>
#include <boost/serialization/vector.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "parakit/core/task_status.hpp"

namespace parakit {

/// One executor's work, for the end-of-run statistics.
struct WorkerStats {
  int worker = 0;  ///< global index, rank-major
  int rank = 0;
  int slot = 1;  ///< 1-based executor index on its rank
  std::uint64_t tasks = 0;
  double busy_seconds = 0;  ///< time inside the task function
  double wall_seconds = 0;  ///< the farm's run time on that rank

  template <class Archive>
  void serialize(Archive& ar, unsigned /*version*/) {
    ar& worker& rank& slot& tasks& busy_seconds& wall_seconds;
  }
};

struct TaskFailure {
  std::uint64_t id = 0;
  TaskStatus status = TaskStatus::failed;
  std::string message;

  template <class Archive>
  void serialize(Archive& ar, unsigned /*version*/) {
    ar& id& status& message;
  }
};

/// Rank 0's messaging loop (the master) over one run: how much CPU time its thread spent per
/// request it answered. The model in docs/ARCHITECTURE.md predicts from cpu_per_request()
/// how many workers one master keeps busy.
struct MasterStats {
  /// Result batches taken in and answered with new work: messages from worker ranks, and
  /// hand-overs from rank 0's own executors.
  std::uint64_t requests = 0;
  std::uint64_t naps = 0;  ///< times it slept because nothing had arrived
  double cpu_seconds = 0;  ///< CPU time of its thread over the run (not time it slept)
  /// Of cpu_seconds: time spent polling and waking up while nothing had arrived.
  double idle_cpu_seconds = 0;

  /// CPU time spent answering, per request: (cpu_seconds - idle_cpu_seconds) / requests (0
  /// without requests).
  double cpu_per_request() const noexcept {
    return requests == 0
               ? 0.0
               : std::max(0.0, cpu_seconds - idle_cpu_seconds) / static_cast<double>(requests);
  }

  template <class Archive>
  void serialize(Archive& ar, unsigned /*version*/) {
    ar& requests& naps& cpu_seconds& idle_cpu_seconds;
  }
};

/// The outcome of a farm run, the same on every rank.
struct FarmReport {
  std::uint64_t tasks = 0;        ///< in the task list
  std::uint64_t ok = 0;           ///< complete and successful, now or from the journal
  std::uint64_t failed = 0;       ///< failed for good (including timed out)
  std::uint64_t timed_out = 0;    ///< of failed: timed out
  std::uint64_t interrupted = 0;  ///< stopped while running; rerun on resume
  std::uint64_t not_run = 0;      ///< tasks - ok - failed
  std::uint64_t resumed = 0;      ///< taken from the journal (ok or failed)
  std::uint64_t retried = 0;      ///< extra attempts made
  /// Order-independent: the sum mod 2^64, over finished tasks, of XXH3-64 of the task id's 8
  /// little-endian bytes seeded with digest ^ (status << 56) (digest 0 for a task that threw).
  std::uint64_t checksum = 0;
  double seconds = 0;
  bool stopped = false;               ///< ended early by stop_requested
  std::string journal_warning;        ///< e.g. a torn last record that was dropped
  std::vector<TaskFailure> failures;  ///< the first few, by task id
  std::vector<WorkerStats> workers;
  MasterStats master;  ///< rank 0's messaging loop

  /// max / mean busy time over executors that ran tasks (1 = perfect balance).
  double imbalance() const noexcept;
  /// Mean busy / wall over executors.
  double utilisation() const noexcept;

  template <class Archive>
  void serialize(Archive& ar, unsigned /*version*/) {
    ar& tasks& ok& failed& timed_out& interrupted& not_run& resumed& retried& checksum& seconds&
        stopped& journal_warning& failures& workers& master;
  }
};

}  // namespace parakit
