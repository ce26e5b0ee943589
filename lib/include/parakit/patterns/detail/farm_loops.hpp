// The messaging loops of a farm run (patterns/farm.hpp): rank 0's master loop, which hands out
// chunks of tasks, feeds the results to the master's bookkeeping and ends the run, and the
// worker loop every other rank runs. Tasks and results travel as one message per chunk / batch
// (io/codec); on one rank the master loop feeds the rank's executors directly.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
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
#include "parakit/core/timer.hpp"
#include "parakit/io/codec.hpp"
#include "parakit/patterns/detail/backoff.hpp"
#include "parakit/patterns/detail/farm_executors.hpp"
#include "parakit/patterns/detail/farm_master.hpp"
#include "parakit/patterns/detail/farm_scheduler.hpp"
#include "parakit/patterns/farm_options.hpp"
#include "parakit/patterns/farm_report.hpp"

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
  /// Waits a little for something to do; whether it slept (rather than spun).
  bool idle() {
    const auto nap = backoff.idle();
    if (nap.count() == 0) return false;
    if (!comm.is_mpi() || comm.size() == 1) {
      // No messages to poll: sleep until an executor hands over results (or a stop
      // signal is due to be noticed).
      if (local && !inline_exec) {
        local->wait(std::chrono::milliseconds(20));
        return true;
      }
    }
    std::this_thread::sleep_for(nap);
    return true;
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
      : self_(self),
        master_(master),
        slots_(slots),
        comm_(self.comm),
        ranks_(comm_.size()),
        endpoints_(static_cast<std::size_t>(ranks_)) {
    if (ranks_ > 1) sends_.emplace(comm_);
  }

  /// Runs the farm to its end; what the loop cost.
  MasterStats run() {
    const double cpu_start = thread_cpu_seconds();
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
        end_idle();
      } else {
        if (idle_since_ < 0) idle_since_ = thread_cpu_seconds();
        if (self_.idle()) ++stats_.naps;
      }
    }
    end_idle();
    stop_workers();
    progress.update(master_.finished_tasks());
    progress.finish(master_.stopping() ? "stopped" : "finished");
    stats_.cpu_seconds = thread_cpu_seconds() - cpu_start;
    return stats_;
  }

 private:
  /// Work each worker rank holds queued, in seconds of its tasks: many times the master's
  /// reaction time (its naps grow to 1 ms only after 8 ms without a message), so that stays
  /// hidden while it answers other workers too, and small beside a run, since it bounds how
  /// unevenly the last tasks end.
  static constexpr double kQueueCover = 2e-3;
  static constexpr std::size_t kMaxQueuedPerSlot = 256;  // tasks, for the fastest tasks
  static constexpr std::size_t kWorkMessageBytes = std::size_t{1} << 20;

  /// Chunks an endpoint may hold at once: in_flight per executor slot; and a worker rank whose
  /// pace is known gets more chunks while the tasks it holds are fewer than kQueueCover
  /// seconds of work (at most kMaxQueuedPerSlot a slot), so its queue never runs dry while
  /// its results travel to this loop and new work travels back. Counting tasks, not chunks,
  /// keeps guided chunks (large while much is left) from piling up on one worker.
  std::size_t limit_for(int endpoint) const {
    const auto slots = static_cast<std::size_t>(slots_[static_cast<std::size_t>(endpoint)]);
    const std::size_t chunks = static_cast<std::size_t>(self_.options.in_flight) * slots;
    const Endpoint& e = endpoints_[static_cast<std::size_t>(endpoint)];
    if (endpoint == 0 || e.task_seconds <= 0) return chunks;
    const double cover = std::min(kQueueCover * static_cast<double>(slots) / e.task_seconds,
                                  static_cast<double>(kMaxQueuedPerSlot * slots));
    return static_cast<double>(e.holds) < cover ? std::max(chunks, kMaxQueuedPerSlot * slots)
                                                : chunks;
  }

  /// Ends a stretch of polling that found nothing: its CPU time is idle time.
  void end_idle() {
    self_.backoff.reset();
    if (idle_since_ < 0) return;
    stats_.idle_cpu_seconds += thread_cpu_seconds() - idle_since_;
    idle_since_ = -1;
  }

  /// How long an endpoint's tasks take (from the busy time it reports with its results) and
  /// how many it holds.
  struct Endpoint {
    std::uint64_t busy_ns = 0;  // as last reported (cumulative)
    double task_seconds = 0;    // moving average; 0: not known yet
    std::uint64_t holds = 0;    // tasks sent and not yet come back
  };
  void observe(int endpoint, std::uint64_t busy_ns, std::size_t items) {
    Endpoint& e = endpoints_[static_cast<std::size_t>(endpoint)];
    const std::uint64_t delta = busy_ns - std::min(busy_ns, e.busy_ns);
    e.busy_ns = std::max(busy_ns, e.busy_ns);
    e.holds -= std::min<std::uint64_t>(e.holds, items);
    if (items == 0) return;
    // At least 1 ns: a batch of empty tasks may take less than the clock resolves.
    const double sample =
        std::max(1e-9, 1e-9 * static_cast<double>(delta) / static_cast<double>(items));
    e.task_seconds = e.task_seconds == 0 ? sample : 0.75 * e.task_seconds + 0.25 * sample;
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

  /// Sends worker `rank` chunks until it holds its limit, packed into kTagWork messages of up
  /// to about 1 MiB: each chunk is its sequence number, slot and job count, then each task's
  /// id, attempt and encoding.
  void refill_remote(int rank) {
    std::vector<std::byte> buffer;
    while (master_.next_chunk(rank, limit_for(rank), plan_)) {
      endpoints_[static_cast<std::size_t>(rank)].holds += plan_.size();
      if (buffer.empty()) buffer = sends_->buffer();
      io::Encoder out(buffer);
      out.raw(plan_.seq);
      out.raw(static_cast<std::int32_t>(plan_.slot));
      out.raw(static_cast<std::uint64_t>(plan_.size()));
      for (const Segment& s : plan_.segments) {
        for (std::uint64_t id = s.begin; id < s.end; ++id) {
          out.raw(id);
          out.raw(s.attempt);
          out.put(master_.task(id));
        }
      }
      if (buffer.size() >= kWorkMessageBytes) {
        sends_->send(std::move(buffer), rank, kTagWork);
        buffer.clear();  // moved from: empty again, and a new buffer is taken for the next
      }
    }
    if (!buffer.empty()) sends_->send(std::move(buffer), rank, kTagWork);
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
      ++stats_.requests;
      io::Decoder in(message_);
      const bool worker_stopping = in.raw<std::uint8_t>() != 0;
      const auto busy_ns = in.raw<std::uint64_t>();
      const auto items = in.raw<std::uint32_t>();
      observe(envelope->source, busy_ns, items);
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
      ++stats_.requests;
      observe(0, self_.local->busy_ns(), outcomes_.size());
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
  std::vector<Endpoint> endpoints_;  // per rank
  MasterStats stats_;
  double idle_since_ = -1;
  // thread CPU time
  // when the current idle stretch began; -1: busy
};

template <class Task, class Result, class Fn, class Tasks, class Sink>
MasterStats run_master(FarmRank<Task, Result, Fn>& self,
                       FarmMaster<Task, Result, Tasks, Sink>& master,
                       const std::vector<int>& slots) {
  return MasterLoop<Task, Result, Fn, Tasks, Sink>(self, master, slots).run();
}

/// Jobs from a kTagWork message for one executor slot (-1: any), of one or more chunks.
template <class Task>
struct WorkMessage {
  int slot = -1;
  std::vector<Job<Task>> jobs;
};

/// Decodes a kTagWork message (as MasterLoop::refill_remote encodes it): its chunks, those of
/// consecutive chunks for the same slot together.
template <class Task>
std::vector<WorkMessage<Task>> decode_work(const std::vector<std::byte>& message) {
  io::Decoder in(message);
  std::vector<WorkMessage<Task>> work;
  while (!in.empty()) {
    const auto seq = in.raw<std::uint64_t>();
    const int slot = in.raw<std::int32_t>();
    const auto count = in.raw<std::uint64_t>();
    if (work.empty() || work.back().slot != slot) work.push_back({slot, {}});
    for (std::uint64_t i = 0; i < count; ++i) {
      Job<Task> job;
      job.id = in.raw<std::uint64_t>();
      job.attempt = in.raw<std::uint32_t>();
      job.seq = seq;
      job.task = in.get<Task>();
      work.back().jobs.push_back(std::move(job));
    }
  }
  return work;
}

/// A kTagResults message: whether this worker is stopping, the time its executors have spent
/// in tasks so far (ns), its outcomes (id, attempt, kind, then the value or the error text),
/// and the chunks it has finished.
template <class Result>
void encode_results(io::Encoder& out, bool stopping, std::uint64_t busy_ns,
                    const std::vector<Outcome<Result>>& outcomes,
                    const std::vector<std::uint64_t>& closed) {
  out.raw(static_cast<std::uint8_t>(stopping ? 1 : 0));
  out.raw(busy_ns);
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
        for (auto& work : decode_work<Task>(message)) {
          self.local->push(std::move(work.jobs), work.slot);
        }
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
      encode_results(out, stopping, self.local->busy_ns(), outcomes, closed);
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
