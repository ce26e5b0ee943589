// What a journal says about its farm, read without changing the file or disturbing its writer:
// how many tasks are done, failed, interrupted or not run, the first failures, the throughput
// and, while the writer runs, an estimate of the time left.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "parakit/core/task_status.hpp"
#include "parakit/io/journal.hpp"

namespace parakit::io {

/// A failed task as its deciding record holds it (the payload copied out of the reader).
struct JournalFailure {
  std::uint64_t task_id = 0;
  TaskStatus status = TaskStatus::failed;  ///< failed or timed_out
  std::uint32_t attempts = 0;              ///< 0: not recorded (layout 1)
  std::int64_t completed_ns = 0;           ///< 0: not recorded (layout 1)
  std::uint64_t runtime_ns = 0;            ///< 0: not known
  std::vector<std::byte> payload;
};

struct JournalSummaryOptions {
  std::size_t failures = 10;  ///< how many failures to keep, lowest task ids first
  /// Seconds of records, ending at the last one, that the throughput is measured over.
  double rate_window_s = 60;
};

/// The state of a journal. A task's status comes from its deciding record, the one a resume
/// keeps: its ok record if it has one, else its last failed or timed_out record, else its last
/// interrupted record (so a failure that a rerun left interrupted still counts as failed).
/// The counts follow FarmReport's: `failed` includes `timed_out`, `not_run` includes
/// `interrupted`.
struct JournalSummary {
  std::string path;
  JournalHeader header;
  std::uint64_t tasks = 0;    ///< header.task_count
  std::uint64_t records = 0;  ///< valid records read
  std::uint64_t done = 0;
  std::uint64_t failed = 0;
  std::uint64_t timed_out = 0;
  std::uint64_t interrupted = 0;
  std::uint64_t not_run = 0;  ///< tasks - done - failed (0 if ids beyond tasks finished)
  /// Whether a writer holds the journal: true, false, or unknown (the file system cannot say).
  std::optional<bool> running;
  /// The scan: valid_bytes, dropped_bytes and its warning (torn tail).
  JournalScan scan;
  /// A torn last record while the writer runs: a record being written, not damage.
  bool tail_being_written = false;
  std::vector<JournalFailure> first_failures;  ///< at most options.failures, by task id
  /// Completion times of the first and last records (ns since the Unix epoch; layout 2 only).
  std::optional<std::int64_t> first_completed_ns;
  std::optional<std::int64_t> last_completed_ns;
  /// Tasks finished per second (ok, failed or timed out) over the last records' window;
  /// unknown without times or when they all carry one time stamp.
  std::optional<double> rate;
  /// Seconds until every task is finished at `rate`, while the writer runs (or may run) and
  /// tasks are left.
  std::optional<double> eta_seconds;
};

/// Whether a farm is writing the journal at `path` now. The writer holds an exclusive flock
/// for its lifetime; this tries a shared one without waiting on a read-only descriptor and
/// releases it at once: held elsewhere -> true, granted -> false, a file system without flock
/// (some network ones) -> nullopt. It never waits and never changes the file; a writer that
/// starts during the microseconds the shared lock is held waits for it (JournalWriter retries
/// a lock held briefly), so the probe cannot make a farm fail. Throws InputError when the file
/// cannot be opened.
std::optional<bool> journal_writer_running(const std::string& path);

/// Reads the journal at `path` without changing it: scan_journal_batched (force = false,
/// scan_journal's checks and results, its checksums verified on two threads) with a writer
/// probe first, so that a torn last record of a running farm is reported as being
/// written. Decodes no payload; copies only the kept failures'. Throws InputError as
/// scan_journal does (not a journal, corrupt record before the end), and for a record of a
/// task id of 2^40 or more.
JournalSummary summarize_journal(const std::string& path,
                                 const JournalSummaryOptions& options = {});

/// summarize_journal, then a second read that calls on_record for every task's deciding
/// record, once per task, in file order (records a running writer added between the two
/// reads are left out: the records match the summary). Keeps 8 bytes per task in memory.
JournalSummary visit_deciding_records(const std::string& path,
                                      const std::function<void(const JournalRecord&)>& on_record,
                                      const JournalSummaryOptions& options = {});

}  // namespace parakit::io
