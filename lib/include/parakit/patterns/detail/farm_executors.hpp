// The executors of one rank: a queue of jobs, `slots` threads (or the calling thread,
// inline) that run them, and an outbox of outcomes the rank's messaging loop collects.
// The same code serves rank 0's own executors and every worker rank's.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "parakit/patterns/farm_report.hpp"
#include "parakit/patterns/farm_task.hpp"

namespace parakit::detail {

/// Calls fn(task, context) when fn takes a context, else fn(task).
template <class Fn, class Task>
decltype(auto) invoke_task(Fn& fn, const Task& task, const TaskContext& context) {
  if constexpr (std::is_invocable_v<Fn&, const Task&, const TaskContext&>) {
    return fn(task, context);
  } else {
    return fn(task);
  }
}

template <class Fn, class Task>
using TaskResultT = std::decay_t<decltype(invoke_task(
    std::declval<Fn&>(), std::declval<const Task&>(), std::declval<const TaskContext&>()))>;

template <class Task>
struct Job {
  std::uint64_t id = 0;
  std::uint32_t attempt = 0;
  std::uint64_t seq = 0;  ///< the chunk it came in
  Task task{};
};

enum class OutcomeKind : std::uint8_t { value = 0, error = 1, not_run = 2 };

template <class Result>
struct Outcome {
  std::uint64_t id = 0;
  std::uint32_t attempt = 0;
  std::uint64_t seq = 0;
  OutcomeKind kind = OutcomeKind::value;
  std::optional<Result> value;
  std::string error;
};

template <class Task, class Result, class Fn>
class LocalExecutors {
 public:
  /// `threaded`: run jobs on `slots` threads of their own; otherwise slots must be 1 and
  /// the owner calls run_one() between its messaging.
  LocalExecutors(Fn& fn, int rank, int slots, bool threaded, double flush_interval)
      : fn_(fn),
        rank_(rank),
        flush_interval_(std::chrono::duration<double>(flush_interval)),
        stats_(static_cast<std::size_t>(slots)),
        batch_limit_(static_cast<std::size_t>(slots), 1),
        own_(static_cast<std::size_t>(slots)) {
    for (int i = 0; i < slots; ++i) {
      stats_[static_cast<std::size_t>(i)].rank = rank;
      stats_[static_cast<std::size_t>(i)].slot = i + 1;
    }
    if (threaded) {
      threads_.reserve(static_cast<std::size_t>(slots));
      for (int i = 0; i < slots; ++i) threads_.emplace_back([this, i] { executor_loop(i); });
    }
  }
  /// On an error path: running tasks see stopping() (commands are killed) and queued ones
  /// never start, so the error reaches the user without waiting for the work.
  ~LocalExecutors() {
    stopping_.store(true, std::memory_order_relaxed);
    shutdown();
  }
  LocalExecutors(const LocalExecutors&) = delete;
  LocalExecutors& operator=(const LocalExecutors&) = delete;

  bool threaded() const noexcept { return !threads_.empty(); }
  /// Jobs queued and not yet started.
  std::size_t queued() const noexcept { return queued_.load(std::memory_order_relaxed); }
  /// Whether the latest batch ran its jobs in under kSlowJobSeconds each.
  bool fast_jobs() const noexcept { return fast_jobs_.load(std::memory_order_relaxed); }
  /// Queued jobs worth keeping while jobs are fast, so an executor never waits for the
  /// master between them.
  std::size_t fast_depth() const noexcept { return 64 * static_cast<std::size_t>(slots()); }
  int slots() const noexcept { return static_cast<int>(stats_.size()); }
  /// Time all executors have spent in tasks so far, in nanoseconds (any thread may ask).
  std::uint64_t busy_ns() const noexcept { return busy_ns_.load(std::memory_order_relaxed); }

  /// Queues jobs (of one chunk or several: each job's seq names its chunk) for any executor
  /// (slot < 0) or for executor `slot` only (a static schedule). While stopping they become
  /// not_run outcomes at once.
  void push(std::vector<Job<Task>>&& jobs, int slot = -1) {
    if (jobs.empty()) return;
    const std::size_t count = jobs.size();
    {
      std::lock_guard lock(mutex_);
      auto& queue = slot < 0 ? queue_ : own_[static_cast<std::size_t>(slot % slots())];
      for (auto& job : jobs) {
        ++open_[job.seq];
        queue.push_back(std::move(job));
      }
      queued_.fetch_add(count, std::memory_order_relaxed);
      if (stopping_.load(std::memory_order_relaxed)) drain_locked();
    }
    // Jobs in the shared queue suit any executor: wake one per job, never the whole pool
    // for one job (with chunk 1 that herd of wake-ups and lock hand-offs costs more than
    // the tasks). A job for one slot must reach that slot: wake all.
    if (slot >= 0 || count >= static_cast<std::size_t>(slots())) {
      work_.notify_all();
    } else {
      for (std::size_t i = 0; i < count; ++i) work_.notify_one();
    }
  }

  std::size_t open_chunks() {
    std::lock_guard lock(mutex_);
    return open_.size();
  }

  /// Stop starting jobs: queued ones become not_run; running ones finish (and see
  /// TaskContext::stopping()).
  void drain() {
    stopping_.store(true, std::memory_order_relaxed);
    std::lock_guard lock(mutex_);
    drain_locked();
    outbox_ready_.notify_all();
  }
  const std::atomic<bool>& stopping_flag() const noexcept { return stopping_; }

  /// Inline mode: runs a few queued jobs on the calling thread. False if none.
  bool run_one() {
    {
      std::lock_guard lock(mutex_);
      if (!pop_some_locked(0, jobs_inline_)) return false;
    }
    execute_batch(jobs_inline_, 0, outcomes_inline_);
    std::lock_guard lock(mutex_);
    for (auto& outcome : outcomes_inline_) finish_locked(std::move(outcome));
    outcomes_inline_.clear();
    return true;
  }

  /// Moves out the outcomes and the chunks that closed since the last call.
  bool collect(std::vector<Outcome<Result>>& outcomes, std::vector<std::uint64_t>& closed) {
    std::lock_guard lock(mutex_);
    outcomes.swap(outbox_);
    closed.swap(closed_);
    outbox_.clear();
    closed_.clear();
    return !outcomes.empty() || !closed.empty();
  }

  /// Threaded mode: waits until there is something to collect, or `timeout`.
  void wait(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    outbox_ready_.wait_for(lock, timeout, [&] { return !outbox_.empty() || !closed_.empty(); });
  }

  /// Stops and joins the threads (idempotent). Queued jobs are dropped.
  void shutdown() {
    {
      std::lock_guard lock(mutex_);
      quit_ = true;
    }
    work_.notify_all();
    for (auto& thread : threads_) {
      if (thread.joinable()) thread.join();
    }
  }

  /// Per-slot statistics; call after shutdown().
  std::vector<WorkerStats> stats(double wall_seconds) const {
    std::vector<WorkerStats> out = stats_;
    for (auto& s : out) s.wall_seconds = wall_seconds;
    return out;
  }

 private:
  /// Runs `jobs` in order, appending their outcomes; the busy time is measured once per
  /// batch (a clock read costs as much as an empty task). Once stopping, the rest of the
  /// batch comes back as not run.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
// GCC 12 reports moving an engaged-or-not std::optional as maybe-uninitialized (a known
// false positive, GCC bug 80635).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
  double execute_batch(std::vector<Job<Task>>& jobs, int slot, std::vector<Outcome<Result>>& out) {
    const auto start = std::chrono::steady_clock::now();
    std::uint64_t ran = 0;
    for (auto& job : jobs) {
      Outcome<Result> outcome;
      outcome.id = job.id;
      outcome.attempt = job.attempt;
      outcome.seq = job.seq;
      if (stopping_.load(std::memory_order_relaxed)) {
        outcome.kind = OutcomeKind::not_run;
        out.push_back(std::move(outcome));
        continue;
      }
      const TaskContext context{rank_, slot + 1, job.attempt, &stopping_};
      try {
        outcome.value.emplace(invoke_task(fn_, std::as_const(job.task), context));
      } catch (const std::exception& error) {
        outcome.kind = OutcomeKind::error;
        outcome.error = *error.what() != '\0' ? error.what() : "exception without a message";
      } catch (...) {
        outcome.kind = OutcomeKind::error;
        outcome.error = "unknown exception";
      }
      ++ran;
      out.push_back(std::move(outcome));
    }
    jobs.clear();
    WorkerStats& stats = stats_[static_cast<std::size_t>(slot)];
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    stats.busy_seconds += seconds;
    busy_ns_.fetch_add(static_cast<std::uint64_t>(seconds * 1e9), std::memory_order_relaxed);
    stats.tasks += ran;
    // Slow jobs are taken one at a time, so a stop or a result never waits behind a batch.
    const bool slow = ran > 0 && seconds / static_cast<double>(ran) > kSlowJobSeconds;
    batch_limit_[static_cast<std::size_t>(slot)] = slow ? 1 : 64;
    if (ran > 0) fast_jobs_.store(!slow, std::memory_order_relaxed);
    return seconds;
  }
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

  void finish_locked(Outcome<Result>&& outcome) {
    const std::uint64_t seq = outcome.seq;
    outbox_.push_back(std::move(outcome));
    const auto it = open_.find(seq);
    if (it != open_.end() && --it->second == 0) {
      closed_.push_back(seq);
      open_.erase(it);
    }
  }

  bool has_work_locked(int slot) const {
    return !own_[static_cast<std::size_t>(slot)].empty() || !queue_.empty();
  }
  /// A few jobs for executor `slot` (its fair share of the queue, at most 64), so the lock
  /// and the clock are paid per batch rather than per job.
  bool pop_some_locked(int slot, std::vector<Job<Task>>& jobs) {
    const std::size_t share = std::clamp<std::size_t>(
        queued_.load(std::memory_order_relaxed) / (2 * static_cast<std::size_t>(slots())), 1,
        batch_limit_[static_cast<std::size_t>(slot)]);
    Job<Task> job;
    while (jobs.size() < share && pop_locked(slot, job)) jobs.push_back(std::move(job));
    return !jobs.empty();
  }

  /// The next job for executor `slot`: its own queue first, then the shared one.
  bool pop_locked(int slot, Job<Task>& job) {
    auto& own = own_[static_cast<std::size_t>(slot)];
    auto& queue = own.empty() ? queue_ : own;
    if (queue.empty()) return false;
    job = std::move(queue.front());
    queue.pop_front();
    queued_.fetch_sub(1, std::memory_order_relaxed);
    return true;
  }

  void drain_locked() {
    for (int slot = 0; slot < slots(); ++slot) {
      Job<Task> job;
      while (pop_locked(slot, job)) {
        Outcome<Result> outcome;
        outcome.id = job.id;
        outcome.attempt = job.attempt;
        outcome.seq = job.seq;
        outcome.kind = OutcomeKind::not_run;
        finish_locked(std::move(outcome));
      }
    }
  }

  void executor_loop(int slot) {
    // Outcomes are handed over in batches so the messaging loop wakes per batch, not per
    // task; a batch goes out when it is large, when the queue runs dry, or when it is old.
    std::vector<Job<Task>> jobs;
    std::vector<Outcome<Result>> batch;
    auto batch_start = std::chrono::steady_clock::now();
    for (;;) {
      {
        std::unique_lock lock(mutex_);
        if (!batch.empty() && (!has_work_locked(slot) || batch.size() >= 64 ||
                               std::chrono::steady_clock::now() - batch_start > flush_interval_)) {
          for (auto& outcome : batch) finish_locked(std::move(outcome));
          batch.clear();
          outbox_ready_.notify_all();
        }
        if (!quit_ && !has_work_locked(slot)) {
          // Fine-grained tasks: the next job is usually microseconds away, and sleeping on
          // the condition variable costs a futex wake-up per job. Spin briefly first.
          lock.unlock();
          const auto spin_until = std::chrono::steady_clock::now() + std::chrono::microseconds(50);
          while (queued_.load(std::memory_order_relaxed) == 0 &&
                 std::chrono::steady_clock::now() < spin_until) {
          }
          lock.lock();
        }
        work_.wait(lock, [&] { return quit_ || has_work_locked(slot); });
        if (quit_) return;
        pop_some_locked(slot, jobs);
      }
      if (batch.empty()) batch_start = std::chrono::steady_clock::now();
      if (execute_batch(jobs, slot, batch) > kSlowJobSeconds) {
        // Worth handing over at once: the next job may take as long.
        std::lock_guard lock(mutex_);
        for (auto& outcome : batch) finish_locked(std::move(outcome));
        batch.clear();
        outbox_ready_.notify_all();
      }
    }
  }

  Fn& fn_;
  int rank_;
  std::chrono::duration<double> flush_interval_;
  static constexpr double kSlowJobSeconds = 100e-6;
  std::vector<WorkerStats> stats_;        // slot i is written only by the thread running slot i
  std::vector<std::size_t> batch_limit_;  // per slot, like stats_
  std::atomic<bool> stopping_{false};
  std::atomic<std::size_t> queued_{0};  // jobs in the queues, read without the lock
  std::atomic<bool> fast_jobs_{false};
  std::atomic<std::uint64_t> busy_ns_{0};
  std::mutex mutex_;
  std::condition_variable work_;
  std::condition_variable outbox_ready_;
  std::deque<Job<Task>> queue_;                          // jobs any executor may take
  std::vector<std::deque<Job<Task>>> own_;               // per executor (static schedule)
  std::unordered_map<std::uint64_t, std::size_t> open_;  // chunk -> jobs not yet reported
  std::vector<Outcome<Result>> outbox_;
  std::vector<std::uint64_t> closed_;
  bool quit_ = false;
  std::vector<Job<Task>> jobs_inline_;  // run_one's scratch
  std::vector<Outcome<Result>> outcomes_inline_;
  std::vector<std::thread> threads_;
};

}  // namespace parakit::detail
