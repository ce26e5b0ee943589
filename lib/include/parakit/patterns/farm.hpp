// The task farm: a master hands out chunks of tasks, workers pull more as they finish, and
// results stream back to a sink on rank 0 (Python's multiprocessing.Queue / Pool pattern,
// across MPI ranks and threads).
//
//   std::vector<Input> tasks = ...;                        // any indexable list, read on rank 0
//   FarmReport report = farm(team, tasks,
//       [](const Input& task) { return work(task); },      // same code on every rank
//       [&](const FarmItem<Output>& item) { use(item); },  // rank 0, one call at a time
//       options);
//
// Scheduling is dynamic: each executor holds at most `in_flight` chunks, so the next chunk
// is already there when it finishes one. On the thread backend (one rank) the same loop
// feeds the rank's executor threads directly; under MPI rank 0 coordinates (and computes
// too if asked) and tasks and results travel as one message per chunk / batch (io/codec).
// Tasks and results must be default-constructible and encodable (Boost.Serialization,
// or plain bytes). Exceptions thrown by a task are caught where it ran, sent back with its
// id, retried `retries` times, then recorded as failed; the run goes on.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "parakit/backend/collective.hpp"
#include "parakit/backend/team.hpp"
#include "parakit/core/error.hpp"
#include "parakit/core/progress.hpp"
#include "parakit/core/timer.hpp"
#include "parakit/patterns/detail/farm_executors.hpp"
#include "parakit/patterns/detail/farm_loops.hpp"
#include "parakit/patterns/detail/farm_master.hpp"
#include "parakit/patterns/farm_options.hpp"
#include "parakit/patterns/farm_report.hpp"
#include "parakit/patterns/farm_task.hpp"

namespace parakit {

/// Runs fn over every task of `tasks` (indexable with operator[] and size(), read on rank 0
/// only) on every executor of `team`, and calls sink(const FarmItem<Result>&) on rank 0 for
/// each result, one call at a time: as they complete, or in task order with
/// options.ordered. Collective over the team's ranks. Returns the same report everywhere.
/// fn may take (const Task&) or (const Task&, const TaskContext&).
template <class Tasks, class Fn, class Sink,
          class Task = std::decay_t<decltype(std::declval<const Tasks&>()[0])>,
          class Result = detail::TaskResultT<Fn, Task>>
FarmReport farm(Team& team, const Tasks& tasks, Fn&& fn, Sink&& sink,
                const FarmOptions& options = {}, const FarmHooks<Result>& hooks = {}) {
  const Comm& comm = team.comm();
  if (options.in_flight < 1) throw UsageError("farm: in_flight must be at least 1");
  if (options.retries < 0) throw UsageError("farm: retries must not be negative");
  if (options.slots < 0) throw UsageError("farm: slots must not be negative");
  if (options.chunk.size < 1) throw UsageError("farm: chunk size must be at least 1");
  if (options.progress) ProgressOptions{options.progress, options.progress_interval}.check();

  const int ranks = comm.size();
  const int rank = comm.rank();
  const int slots = options.slots > 0 ? options.slots : team.threads();
  const bool master_computes = ranks == 1 || options.master_computes.value_or(false);
  std::vector<int> endpoint_slots = comm.all_gather(slots);
  if (!master_computes) endpoint_slots[0] = 0;

  Stopwatch wall;
  using Master = detail::FarmMaster<Task, Result, Tasks, std::remove_reference_t<Sink>>;
  std::optional<Master> master;
  collectively(comm, [&] {
    if (rank != 0) return;
    master.emplace(tasks, sink, options, hooks);
    master->open(endpoint_slots);
  });

  detail::FarmRank<Task, Result, std::remove_reference_t<Fn>> self{
      comm, options, nullptr, false, {}};
  const int my_slots = endpoint_slots[static_cast<std::size_t>(rank)];
  if (my_slots > 0) {
    // Rank 0 runs its tasks on a thread of their own when it also serves workers, so a long
    // task never delays their refills.
    const bool threaded = options.dedicated_executors || my_slots > 1 || (rank == 0 && ranks > 1);
    self.inline_exec = !threaded;
    self.local =
        std::make_unique<detail::LocalExecutors<Task, Result, std::remove_reference_t<Fn>>>(
            fn, rank, my_slots, threaded, options.flush_interval);
  }
  MasterStats master_stats;
  if (rank == 0) {
    master_stats = detail::run_master(self, *master, endpoint_slots);
  } else {
    detail::run_worker(self);
  }
  const double seconds = wall.seconds();
  std::vector<WorkerStats> mine;
  if (self.local) {
    self.local->shutdown();
    mine = self.local->stats(seconds);
  }
  FarmReport report;
  if (rank == 0) {
    report = master->finish(seconds);
    report.master = master_stats;
  }
  report = comm.broadcast(report, 0);
  int next_worker = 0;
  for (auto& per_rank : comm.all_gather(mine)) {
    for (auto& w : per_rank) {
      w.worker = next_worker++;
      report.workers.push_back(w);
    }
  }
  return report;
}

}  // namespace parakit
