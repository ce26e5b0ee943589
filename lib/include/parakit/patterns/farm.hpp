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

#include <chrono>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "parakit/backend/collective.hpp"
#include "parakit/backend/send_queue.hpp"
#include "parakit/backend/team.hpp"
#include "parakit/core/error.hpp"
#include "parakit/core/timer.hpp"
#include "parakit/io/codec.hpp"
#include "parakit/patterns/detail/farm_executors.hpp"
#include "parakit/patterns/detail/farm_master.hpp"
#include "parakit/patterns/farm_options.hpp"

namespace parakit {

namespace detail {

enum FarmTag : int {
  kTagWork = 7301,
  kTagResults = 7302,
  kTagDrain = 7303,
  kTagStop = 7304,
  kTagBye = 7305
};

/// Common state of one farm run on one rank.
template <class Task, class Result, class Fn>
struct FarmRank {
  const Comm& comm;
  const FarmOptions& options;
  std::unique_ptr<LocalExecutors<Task, Result, Fn>> local;  // null: this rank only coordinates
  bool inline_exec = false;
  Backoff backoff;

  bool stop_signalled() const { return options.stop_requested && options.stop_requested(); }
  void idle() {
    const auto nap = backoff.idle();
    if (nap.count() == 0) return;
    if (!comm.is_mpi() || comm.size() == 1) {
      // No messages to poll: sleep until an executor hands over results (or a stop
      // signal is due to be noticed).
      if (local && !inline_exec) {
        local->wait(std::chrono::milliseconds(20));
        return;
      }
    }
    std::this_thread::sleep_for(nap);
  }
};

template <class Task, class Result, class Fn, class Tasks, class Sink>
void run_master(FarmRank<Task, Result, Fn>& self, FarmMaster<Task, Result, Tasks, Sink>& master,
                const std::vector<int>& slots) {
  const Comm& comm = self.comm;
  const int ranks = comm.size();
  const auto limit_for = [&](int endpoint) {
    return static_cast<std::size_t>(self.options.in_flight) *
           static_cast<std::size_t>(slots[static_cast<std::size_t>(endpoint)]);
  };
  std::optional<SendQueue> sends;
  if (ranks > 1) sends.emplace(comm);
  ChunkPlan plan;

  // The local executors share one queue, so how deep it is does not change how evenly they
  // share the work: while jobs are fast (and so a deep queue is a few milliseconds of
  // work), it is kept at fast_depth() jobs whatever the chunking, and the executors run
  // fine-grained tasks in batches instead of waiting for the master after each one. Slow
  // jobs keep in_flight chunks per executor, so other ranks get their share of the tail.
  // Chunks for the same executors go into the queue together: one lock and one round of
  // wake-ups for many small chunks.
  std::vector<Job<Task>> local_jobs;
  const auto local_limit = [&] {
    const bool deepen = self.local->fast_jobs() &&
                        self.local->queued() + local_jobs.size() < self.local->fast_depth();
    return deepen ? std::numeric_limits<std::size_t>::max() : limit_for(0);
  };
  const auto refill_local = [&] {
    if (!self.local) return;
    int slot = -1;
    while (master.next_chunk(0, local_limit(), plan)) {
      if (plan.slot != slot) {
        self.local->push(std::move(local_jobs), slot);
        local_jobs.clear();
        slot = plan.slot;
      }
      for (const Segment& s : plan.segments) {
        for (std::uint64_t id = s.begin; id < s.end; ++id) {
          local_jobs.push_back(Job<Task>{id, s.attempt, plan.seq, Task(master.task(id))});
        }
      }
    }
    self.local->push(std::move(local_jobs), slot);
    local_jobs.clear();
  };
  const auto refill_remote = [&](int rank) {
    while (master.next_chunk(rank, limit_for(rank), plan)) {
      std::vector<std::byte> buffer = sends->buffer();
      io::Encoder out(buffer);
      out.raw(plan.seq);
      out.raw(static_cast<std::int32_t>(plan.slot));
      for (const Segment& s : plan.segments) {
        for (std::uint64_t id = s.begin; id < s.end; ++id) {
          out.raw(id);
          out.raw(s.attempt);
          out.put(master.task(id));
        }
      }
      sends->send(std::move(buffer), rank, kTagWork);
    }
  };
  const auto begin_stop = [&] {
    if (master.stopping()) return;
    master.stop();
    for (int r = 1; r < ranks; ++r) sends->send({}, r, kTagDrain);
    if (self.local) self.local->drain();
  };

  ProgressLine progress(self.options.progress, self.options.label, master.total(),
                        master.finished_tasks());
  for (int r = 1; r < ranks; ++r) refill_remote(r);
  refill_local();

  std::vector<std::byte> message;
  std::vector<Outcome<Result>> outcomes;
  std::vector<std::uint64_t> closed;
  while (!master.finished()) {
    bool active = false;
    if (!master.stopping() && self.stop_signalled()) begin_stop();
    // Worker messages: results, then a refill for that worker.
    for (int budget = 64; ranks > 1 && budget > 0; --budget) {
      const auto envelope = comm.try_receive(message, Comm::kAnySource, kTagResults);
      if (!envelope) break;
      active = true;
      io::Decoder in(message);
      const bool worker_stopping = in.raw<std::uint8_t>() != 0;
      const auto items = in.raw<std::uint32_t>();
      for (std::uint32_t i = 0; i < items; ++i) {
        const auto id = in.raw<std::uint64_t>();
        const auto attempt = in.raw<std::uint32_t>();
        const auto kind = static_cast<OutcomeKind>(in.raw<std::uint8_t>());
        if (kind == OutcomeKind::value) {
          const std::size_t at = in.position();
          const Result value = in.get<Result>();
          master.complete(id, attempt, kind, &value, in.consumed_since(at), {});
        } else if (kind == OutcomeKind::error) {
          const std::string_view error = in.text();
          master.complete(id, attempt, kind, nullptr, {}, error);
        } else {
          master.complete(id, attempt, kind, nullptr, {}, {});
        }
      }
      const auto closes = in.raw<std::uint32_t>();
      for (std::uint32_t i = 0; i < closes; ++i) master.close_chunk(in.raw<std::uint64_t>());
      if (worker_stopping) begin_stop();  // a signal anywhere stops the whole farm
      master.flush_journal();             // received results reach the kernel now
      refill_remote(envelope->source);
    }
    if (self.local) {
      if (self.inline_exec && self.local->run_one()) active = true;
      if (self.local->collect(outcomes, closed)) {
        active = true;
        for (auto& o : outcomes) {
          master.complete(o.id, o.attempt, o.kind, o.value ? &*o.value : nullptr, {}, o.error);
        }
        for (std::uint64_t seq : closed) master.close_chunk(seq);
      }
      refill_local();
    }
    master.flush_journal();
    if (sends) sends->progress();
    progress.update(master.finished_tasks());
    if (master.finished()) break;
    if (active) {
      self.backoff.reset();
    } else {
      self.idle();
    }
  }
  for (int r = 1; r < ranks; ++r) sends->send({}, r, kTagStop);
  // Each worker answers kTagStop with kTagBye, its last message: once every bye is in, no
  // stray message of this farm can reach a later one on the same communicator.
  for (int byes = 0; byes < ranks - 1;) {
    if (comm.receive(message).tag == kTagBye) ++byes;
  }
  if (sends) sends->wait_all();
  progress.finish(master.finished_tasks());
}

template <class Task, class Result, class Fn>
void run_worker(FarmRank<Task, Result, Fn>& self) {
  const Comm& comm = self.comm;
  SendQueue sends(comm);
  bool stopping = false;
  bool told_master = false;
  bool stop = false;
  std::vector<std::byte> message;
  std::vector<Outcome<Result>> outcomes;
  std::vector<std::uint64_t> closed;
  while (!stop) {
    bool active = false;
    if (!stopping && self.stop_signalled()) {
      stopping = true;
      self.local->drain();
    }
    while (const auto envelope = comm.try_receive(message, 0, Comm::kAnyTag)) {
      active = true;
      if (envelope->tag == kTagWork) {
        io::Decoder in(message);
        const auto seq = in.raw<std::uint64_t>();
        const auto slot = in.raw<std::int32_t>();
        std::vector<Job<Task>> jobs;
        while (!in.empty()) {
          Job<Task> job;
          job.id = in.raw<std::uint64_t>();
          job.attempt = in.raw<std::uint32_t>();
          job.seq = seq;
          job.task = in.get<Task>();
          jobs.push_back(std::move(job));
        }
        self.local->push(std::move(jobs), slot);
      } else if (envelope->tag == kTagDrain) {
        stopping = true;
        told_master = true;  // the master knows already
        self.local->drain();
      } else if (envelope->tag == kTagStop) {
        stop = true;
        sends.send({}, 0, kTagBye);
        break;
      }
    }
    if (stop) break;
    if (self.inline_exec && self.local->run_one()) active = true;
    const bool have = self.local->collect(outcomes, closed);
    if (have || (stopping && !told_master)) {
      active = true;
      std::vector<std::byte> buffer = sends.buffer();
      io::Encoder out(buffer);
      out.raw(static_cast<std::uint8_t>(stopping ? 1 : 0));
      out.raw(static_cast<std::uint32_t>(outcomes.size()));
      for (const auto& o : outcomes) {
        out.raw(o.id);
        out.raw(o.attempt);
        out.raw(static_cast<std::uint8_t>(o.kind));
        if (o.kind == OutcomeKind::value) {
          out.put(*o.value);
        } else if (o.kind == OutcomeKind::error) {
          out.put(std::string_view(o.error));
        }
      }
      out.raw(static_cast<std::uint32_t>(closed.size()));
      for (std::uint64_t seq : closed) out.raw(seq);
      sends.send(std::move(buffer), 0, kTagResults);
      told_master = told_master || stopping;
    }
    sends.progress();
    if (active) {
      self.backoff.reset();
    } else {
      self.idle();
    }
  }
  sends.wait_all();
}

}  // namespace detail

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
  if (rank == 0) {
    detail::run_master(self, *master, endpoint_slots);
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
  if (rank == 0) report = master->finish(seconds);
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
