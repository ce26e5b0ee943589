// What a farm run is asked to do (patterns/farm.hpp): how tasks are chunked and scheduled,
// the journal, retries and stopping, and the optional per-result policies (FarmHooks). Kept
// apart from the templates so the CLI and the non-template parts compile against it alone.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
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
  /// A progress line on stderr (rank 0): done/total, tasks/s, ETA (core/progress.hpp).
  bool progress = false;
  /// Seconds between progress lines when stderr is not a terminal (> 0).
  double progress_interval = 10.0;
  std::string label = "farm";
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

}  // namespace parakit
