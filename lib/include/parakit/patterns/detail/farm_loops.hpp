// The messaging loops of a farm run (patterns/farm.hpp): rank 0's master loop, which hands out
// chunks of tasks, feeds the results to the master's bookkeeping and ends the run, and the
// worker loop every other rank runs. Tasks and results travel as one message per chunk / batch
// (io/codec); on one rank the master loop feeds the rank's executors directly.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "parakit/backend/comm.hpp"
#include "parakit/backend/send_queue.hpp"
#include "parakit/core/progress.hpp"
#include "parakit/io/codec.hpp"
#include "parakit/patterns/detail/backoff.hpp"
#include "parakit/patterns/detail/farm_executors.hpp"
#include "parakit/patterns/detail/farm_master.hpp"
#include "parakit/patterns/detail/farm_scheduler.hpp"
#include "parakit/patterns/farm_options.hpp"

namespace parakit::detail {

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

/// Rank 0's side of a farm run: keeps every executor (its own and each worker rank's) supplied
/// with chunks, hands their results to the master's bookkeeping, and once every task is
/// finished stops the workers and waits for their last message.
template <class Task, class Result, class Fn, class Tasks, class Sink>
class MasterLoop {
 public:
  MasterLoop(FarmRank<Task, Result, Fn>& self, FarmMaster<Task, Result, Tasks, Sink>& master,
             const std::vector<int>& slots)
      : self_(self), master_(master), slots_(slots), comm_(self.comm), ranks_(comm_.size()) {
    if (ranks_ > 1) sends_.emplace(comm_);
  }

  void run() {
    Progress progress({self_.options.progress, self_.options.progress_interval},
                      self_.options.label, master_.total(), "tasks", ProgressUnit::items,
                      master_.finished_tasks());
    for (int r = 1; r < ranks_; ++r) refill_remote(r);
    refill_local();
    while (!master_.finished()) {
      if (!master_.stopping() && self_.stop_signalled()) begin_stop();
      bool active = take_worker_results();
      if (self_.local && step_local()) active = true;
      master_.flush_journal();
      if (sends_) sends_->progress();
      progress.update(master_.finished_tasks());
      if (master_.finished()) break;
      if (active) {
        self_.backoff.reset();
      } else {
        self_.idle();
      }
    }
    stop_workers();
    progress.update(master_.finished_tasks());
    progress.finish(master_.stopping() ? "stopped" : "finished");
  }

 private:
  /// Chunks an endpoint may hold at once: in_flight per executor slot.
  std::size_t limit_for(int endpoint) const {
    return static_cast<std::size_t>(self_.options.in_flight) *
           static_cast<std::size_t>(slots_[static_cast<std::size_t>(endpoint)]);
  }

  // The local executors share one queue, so how deep it is does not change how evenly they
  // share the work: while jobs are fast (and so a deep queue is a few milliseconds of
  // work), it is kept at fast_depth() jobs whatever the chunking, and the executors run
  // fine-grained tasks in batches instead of waiting for the master after each one. Slow
  // jobs keep in_flight chunks per executor, so other ranks get their share of the tail.
  std::size_t local_limit() const {
    const bool deepen = self_.local->fast_jobs() &&
                        self_.local->queued() + local_jobs_.size() < self_.local->fast_depth();
    return deepen ? std::numeric_limits<std::size_t>::max() : limit_for(0);
  }

  /// Tops up rank 0's own executors. Chunks for the same executors go into the queue
  /// together: one lock and one round of wake-ups for many small chunks.
  void refill_local() {
    if (!self_.local) return;
    int slot = -1;
    while (master_.next_chunk(0, local_limit(), plan_)) {
      if (plan_.slot != slot) {
        self_.local->push(std::move(local_jobs_), slot);
        local_jobs_.clear();
        slot = plan_.slot;
      }
      for (const Segment& s : plan_.segments) {
        for (std::uint64_t id = s.begin; id < s.end; ++id) {
          local_jobs_.push_back(Job<Task>{id, s.attempt, plan_.seq, Task(master_.task(id))});
        }
      }
    }
    self_.local->push(std::move(local_jobs_), slot);
    local_jobs_.clear();
  }

  /// Sends worker `rank` chunks until it holds its limit: one kTagWork message per chunk
  /// (sequence number, slot, then each task's id, attempt and encoding).
  void refill_remote(int rank) {
    while (master_.next_chunk(rank, limit_for(rank), plan_)) {
      std::vector<std::byte> buffer = sends_->buffer();
      io::Encoder out(buffer);
      out.raw(plan_.seq);
      out.raw(static_cast<std::int32_t>(plan_.slot));
      for (const Segment& s : plan_.segments) {
        for (std::uint64_t id = s.begin; id < s.end; ++id) {
          out.raw(id);
          out.raw(s.attempt);
          out.put(master_.task(id));
        }
      }
      sends_->send(std::move(buffer), rank, kTagWork);
    }
  }

  /// Stops handing out tasks and tells every executor to drain (once).
  void begin_stop() {
    if (master_.stopping()) return;
    master_.stop();
    for (int r = 1; r < ranks_; ++r) sends_->send({}, r, kTagDrain);
    if (self_.local) self_.local->drain();
  }

  /// Takes up to 64 waiting result messages from the workers, refilling each sender; whether
  /// there was any.
  bool take_worker_results() {
    bool active = false;
    for (int budget = 64; ranks_ > 1 && budget > 0; --budget) {
      const auto envelope = comm_.try_receive(message_, Comm::kAnySource, kTagResults);
      if (!envelope) break;
      active = true;
      io::Decoder in(message_);
      const bool worker_stopping = in.raw<std::uint8_t>() != 0;
      const auto items = in.raw<std::uint32_t>();
      for (std::uint32_t i = 0; i < items; ++i) complete_from(in);
      const auto closes = in.raw<std::uint32_t>();
      for (std::uint32_t i = 0; i < closes; ++i) master_.close_chunk(in.raw<std::uint64_t>());
      if (worker_stopping) begin_stop();  // a signal anywhere stops the whole farm
      master_.flush_journal();            // received results reach the kernel now
      refill_remote(envelope->source);
    }
    return active;
  }

  /// Decodes one outcome of a kTagResults message (as run_worker encodes it) into the master.
  void complete_from(io::Decoder& in) {
    const auto id = in.raw<std::uint64_t>();
    const auto attempt = in.raw<std::uint32_t>();
    const auto kind = static_cast<OutcomeKind>(in.raw<std::uint8_t>());
    if (kind == OutcomeKind::value) {
      const std::size_t at = in.position();
      const Result value = in.get<Result>();
      master_.complete(id, attempt, kind, &value, in.consumed_since(at), {});
    } else if (kind == OutcomeKind::error) {
      const std::string_view error = in.text();
      master_.complete(id, attempt, kind, nullptr, {}, error);
    } else {
      master_.complete(id, attempt, kind, nullptr, {}, {});
    }
  }

  /// Runs a task inline (one slot, no executor thread), takes the local executors' outcomes
  /// and refills them; whether anything happened.
  bool step_local() {
    bool active = false;
    if (self_.inline_exec && self_.local->run_one()) active = true;
    if (self_.local->collect(outcomes_, closed_)) {
      active = true;
      for (auto& o : outcomes_) {
        master_.complete(o.id, o.attempt, o.kind, o.value ? &*o.value : nullptr, {}, o.error);
      }
      for (std::uint64_t seq : closed_) master_.close_chunk(seq);
    }
    refill_local();
    return active;
  }

  /// Ends the run on the worker ranks. Each worker answers kTagStop with kTagBye, its last
  /// message: once every bye is in, no stray message of this farm can reach a later one on
  /// the same communicator.
  void stop_workers() {
    for (int r = 1; r < ranks_; ++r) sends_->send({}, r, kTagStop);
    for (int byes = 0; byes < ranks_ - 1;) {
      if (comm_.receive(message_).tag == kTagBye) ++byes;
    }
    if (sends_) sends_->wait_all();
  }

  FarmRank<Task, Result, Fn>& self_;
  FarmMaster<Task, Result, Tasks, Sink>& master_;
  const std::vector<int>& slots_;
  const Comm& comm_;
  const int ranks_;
  std::optional<SendQueue> sends_;  // to the worker ranks; none on one rank
  ChunkPlan plan_;
  std::vector<Job<Task>> local_jobs_;  // jobs for rank 0's executors, pushed together
  std::vector<std::byte> message_;
  std::vector<Outcome<Result>> outcomes_;
  std::vector<std::uint64_t> closed_;
};

template <class Task, class Result, class Fn, class Tasks, class Sink>
void run_master(FarmRank<Task, Result, Fn>& self, FarmMaster<Task, Result, Tasks, Sink>& master,
                const std::vector<int>& slots) {
  MasterLoop<Task, Result, Fn, Tasks, Sink>(self, master, slots).run();
}

/// One kTagWork message: the executor slot its chunk is for (-1: any) and the chunk's jobs.
template <class Task>
struct WorkMessage {
  int slot = -1;
  std::vector<Job<Task>> jobs;
};

/// Decodes a kTagWork message (as MasterLoop::refill_remote encodes it).
template <class Task>
WorkMessage<Task> decode_work(const std::vector<std::byte>& message) {
  io::Decoder in(message);
  const auto seq = in.raw<std::uint64_t>();
  WorkMessage<Task> work;
  work.slot = in.raw<std::int32_t>();
  while (!in.empty()) {
    Job<Task> job;
    job.id = in.raw<std::uint64_t>();
    job.attempt = in.raw<std::uint32_t>();
    job.seq = seq;
    job.task = in.get<Task>();
    work.jobs.push_back(std::move(job));
  }
  return work;
}

/// A kTagResults message: whether this worker is stopping, its outcomes (id, attempt, kind,
/// then the value or the error text), and the chunks it has finished.
template <class Result>
void encode_results(io::Encoder& out, bool stopping, const std::vector<Outcome<Result>>& outcomes,
                    const std::vector<std::uint64_t>& closed) {
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
}

/// A worker rank's side of a farm run: runs the chunks rank 0 sends, sends back the outcomes,
/// drains on a stop signal (its own or the master's), and ends on the master's kTagStop.
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
        WorkMessage<Task> work = decode_work<Task>(message);
        self.local->push(std::move(work.jobs), work.slot);
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
      encode_results(out, stopping, outcomes, closed);
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

}  // namespace parakit::detail
