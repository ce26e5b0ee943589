// What a farm run is asked to do (patterns/farm.hpp) and what it reports back. Kept apart
// from the templates so the CLI and the non-template parts compile against it alone.
#pragma once

#include <atomic>
#include <boost/serialization/string.hpp>
#include <boost/serialization/utility.hpp>
#include <boost/serialization/vector.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "parakit/io/journal.hpp"

namespace parakit {

/// How many tasks one request hands out.
struct Chunking {
  enum class Kind { fixed, guided };
  Kind kind = Kind::guided;
  /// fixed: tasks per chunk; guided: the smallest chunk.
  std::uint64_t size = 1;

  static Chunking fixed(std::uint64_t n) { return {Kind::fixed, n}; }
  /// Chunks of remaining / (2 x workers) tasks, never below `min_size`: big while the queue
  /// is full, single tasks at the end so the last workers finish together.
  static Chunking guided(std::uint64_t min_size = 1) { return {Kind::guided, min_size}; }
};
/// "N" (fixed), "guided" or "guided:MIN". Throws UsageError.
Chunking parse_chunking(std::string_view text);
std::string to_string(const Chunking& chunking);

/// dynamic: workers pull chunks from one queue. static_blocks: each worker gets one
/// contiguous block of the task list up front (for comparison; multiprocessing's Pool.map).
enum class Schedule { dynamic, static_blocks };
Schedule parse_schedule(std::string_view text);
std::string_view to_string(Schedule schedule) noexcept;

struct FarmJournalOptions {
  std::string path;  ///< empty: no journal
  /// Continue the journal at `path` (skip every task recorded there). Without it an existing,
  /// non-empty journal is refused, so earlier results are never overwritten.
  bool resume = false;
  bool resume_failed = false;   ///< with resume: also rerun tasks recorded as failed or timed out
  bool force_resume = false;    ///< drop a corrupt record before the end instead of refusing
  double fsync_interval = 1.0;  ///< seconds between fsyncs (records are write()n as they come)
  std::string kind = "farm";    ///< recorded in the header
  /// What the task list is made of, for its identity (hashed with the journal's own hash); a
  /// journal with another identity is refused. Empty: every encoded task and the count.
  std::string identity_key;
};

struct FarmOptions {
  Chunking chunk;
  Schedule schedule = Schedule::dynamic;
  /// Upper bound on a chunk (tasks per message), so messages and queues stay bounded.
  std::uint64_t max_chunk = 16384;
  /// Chunks each executor may hold at once (>= 1): with 2 the next chunk is already there
  /// when the current one ends, so a worker never idles waiting for the master.
  int in_flight = 2;
  /// Deliver results to the sink in task order (buffering those that finish early).
  bool ordered = false;
  /// Whether rank 0 also runs tasks. Default: yes when the job has one rank (threads, or
  /// mpirun -np 1), no otherwise (a dedicated master answers workers without delay).
  std::optional<bool> master_computes;
  /// Attempts after the first for a task that throws (or whose result the status hook calls
  /// failed / timed_out). After that it is recorded as failed and the run goes on.
  int retries = 0;
  /// Tasks each rank runs at once (its executors). 0: the team's threads per rank.
  int slots = 0;
  /// Run tasks on dedicated executor threads even with one slot, so a blocking task (a
  /// shell command) never delays the rank's messaging.
  bool dedicated_executors = false;
  FarmJournalOptions journal;
  /// Ids of the list that are not tasks (e.g. comment lines of a commands file, whose ids
  /// are line numbers): never run, not counted. Empty: every id is a task.
  std::vector<bool> exclude;
  /// Polled on every rank; once true, no new task starts, running ones finish (or see
  /// TaskContext::stopping), results are journaled and the farm returns with stopped = true.
  std::function<bool()> stop_requested;
  /// Seconds between executors' partial result messages while a chunk is still running.
  double flush_interval = 0.1;
  /// A progress line on stderr (rank 0): done/total, tasks/s, ETA.
  bool progress = false;
  std::string label = "farm";
};

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

  /// max / mean busy time over executors that ran tasks (1 = perfect balance).
  double imbalance() const noexcept;
  /// Mean busy / wall over executors.
  double utilisation() const noexcept;

  template <class Archive>
  void serialize(Archive& ar, unsigned /*version*/) {
    ar& tasks& ok& failed& timed_out& interrupted& not_run& resumed& retried& checksum& seconds&
        stopped& journal_warning& failures& workers;
  }
};

/// What the task function may look at (take it as a second parameter).
struct TaskContext {
  int rank = 0;
  int slot = 1;  ///< 1-based executor index on this rank
  std::uint32_t attempt = 0;
  /// Becomes true once the farm is stopping (a signal, or the master draining).
  const std::atomic<bool>* stopping_flag = nullptr;
  /// A long task may poll this and give up early.
  bool stopping() const noexcept {
    return stopping_flag != nullptr && stopping_flag->load(std::memory_order_relaxed);
  }
};

/// One result as the sink on rank 0 sees it.
template <class Result>
struct FarmItem {
  std::uint64_t id = 0;
  TaskStatus status = TaskStatus::ok;
  /// The task's value; nullptr when it threw (then `error` holds the message).
  const Result* result = nullptr;
  std::string_view error;
  std::uint32_t attempts = 1;
  bool resumed = false;  ///< read back from the journal, not run now
};

/// Optional per-result policies.
template <class Result>
struct FarmHooks {
  /// Classifies a returned value (default: ok). failed / timed_out values are retried like
  /// exceptions; interrupted ones are journaled but rerun on resume.
  std::function<TaskStatus(const Result&)> status;
  /// What of task `id`'s result enters the checksum (default: io::hash_bytes of its
  /// encoding). Leave out what legitimately varies between runs, such as timings and hosts.
  std::function<std::uint64_t(std::uint64_t id, const Result&)> digest;
  /// How long a task ran, in seconds, recorded in the journal (default: not recorded).
  std::function<double(const Result&)> runtime;
  /// Called for every result read back from the journal on resume, with the journal's header
  /// (its version says which hash its values used); throw to refuse it.
  std::function<void(std::uint64_t id, const Result&, const io::JournalHeader&)> check_resumed;
};

namespace detail {

/// A run of consecutive task ids handed out together, with their attempt number.
struct Segment {
  std::uint64_t begin = 0;
  std::uint64_t end = 0;
  std::uint32_t attempt = 0;
};

struct ChunkPlan {
  std::uint64_t seq = 0;
  int slot = -1;  ///< static schedule: the executor slot it belongs to; -1: any
  std::vector<Segment> segments;
  std::uint64_t size() const noexcept;
};

/// The master's queue: which ids remain, in which chunks they go out, and retries.
/// Endpoints are whatever asks for work (rank 0's own executors, each worker rank); each
/// has a number of executor slots. Not thread-safe: the master serialises calls.
class FarmScheduler {
 public:
  /// `skip[id]` marks tasks already done (from a journal); it may be empty.
  FarmScheduler(std::uint64_t tasks, std::vector<bool> skip, const FarmOptions& options,
                std::vector<int> endpoint_slots);
  /// Fills `out` with the next chunk for `endpoint`; false when it has nothing now.
  bool next(int endpoint, ChunkPlan& out);
  /// Puts a failed task back for another attempt (ahead of fresh tasks).
  void retry(std::uint64_t id, std::uint32_t attempt);
  /// Nothing left to hand out to anyone.
  bool exhausted() const noexcept;
  /// Ids not yet handed out (fresh and retries), for the progress line.
  std::uint64_t remaining() const noexcept { return remaining_; }

 private:
  struct Cursor {
    std::uint64_t next = 0;
    std::uint64_t end = 0;
  };
  std::uint64_t chunk_size(const Cursor& cursor) const noexcept;
  void take(Cursor& cursor, std::uint64_t count, ChunkPlan& out);

  std::uint64_t tasks_;
  std::vector<bool> skip_;
  FarmOptions options_;
  std::vector<int> slots_;
  std::vector<int> first_slot_;  // endpoint -> index of its first slot
  std::vector<int> turn_;        // endpoint -> next slot to serve (static)
  int total_slots_ = 0;
  std::vector<Cursor> cursors_;  // one shared cursor (dynamic) or one per slot (static)
  std::vector<std::pair<std::uint64_t, std::uint32_t>> retries_;  // LIFO is fine
  std::uint64_t remaining_ = 0;
  std::uint64_t next_seq_ = 0;
};

/// The progress line on stderr: "\r" rewrites on a terminal, one line per ~2 s otherwise.
class ProgressLine {
 public:
  ProgressLine(bool enabled, std::string label, std::uint64_t total, std::uint64_t already);
  void update(std::uint64_t done);
  void finish(std::uint64_t done);

 private:
  void print(std::uint64_t done, bool last);
  bool enabled_;
  bool tty_;
  std::string label_;
  std::uint64_t total_;
  std::uint64_t already_;
  double start_;
  double last_print_ = 0;
  bool printed_ = false;
};

/// Spin, then yield, then nap for growing times while a polling loop finds nothing.
class Backoff {
 public:
  void reset() noexcept { idle_ = 0; }
  /// Spins or yields, and returns how long the caller should nap now (0: poll again).
  std::chrono::microseconds idle();

 private:
  std::uint32_t idle_ = 0;
  std::chrono::steady_clock::time_point since_;
};

}  // namespace detail
}  // namespace parakit
