#include "parakit/io/journal_summary.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <limits>
#include <map>
#include <memory>
#include <new>
#include <set>
#include <span>
#include <unordered_map>
#include <utility>

#include "parakit/core/error.hpp"
#include "parakit/sys/error_text.hpp"
#include "parakit/sys/unique_fd.hpp"

namespace parakit::io {
namespace {

constexpr std::uint8_t kNoRecord = 0xFF;
constexpr std::uint64_t kNoOrdinal = std::numeric_limits<std::uint64_t>::max();
constexpr std::uint64_t kMaxTaskId = std::uint64_t{1} << 40;

bool is_failure(TaskStatus status) noexcept {
  return status == TaskStatus::failed || status == TaskStatus::timed_out;
}

/// Whether a record of status `next` becomes the deciding record of a task whose deciding
/// record so far has status `current` (kNoRecord: none): an ok record stays; a failure
/// replaces anything but ok; an interrupted record replaces only none or another interrupted.
bool decides(std::uint8_t current, TaskStatus next) noexcept {
  if (current == kNoRecord) return true;
  const auto status = static_cast<TaskStatus>(current);
  if (status == TaskStatus::ok) return false;
  if (next == TaskStatus::interrupted) return status == TaskStatus::interrupted;
  return true;
}

/// Every task's status (its deciding record's) and, for a second pass, that record's ordinal:
/// dense up to the header's task count, sparse above it (ids a farm left out of its count,
/// such as a commands file's comment lines).
class TaskTable {
 public:
  /// The dense part grows with the ids seen (doubling), up to `tasks`: a header's count costs
  /// no memory until records fill it.
  TaskTable(std::uint64_t tasks, bool ordinals) : dense_limit_(tasks), ordinals_(ordinals) {}

  /// Takes a record into account. Returns whether it is now the task's deciding record, and
  /// sets `previous` to the status it replaced (kNoRecord: none).
  bool update(std::uint64_t id, TaskStatus status, std::uint64_t ordinal, std::uint8_t& previous) {
    std::uint8_t* slot = nullptr;
    std::uint64_t* where = nullptr;
    if (id >= dense_size_ && id < dense_limit_) grow(id);
    if (id < dense_size_) {
      slot = status_.get() + id;
      if (ordinals_) where = &ordinal_[id];
    } else {
      Sparse& entry = sparse_[id];
      slot = &entry.status;
      where = &entry.ordinal;
    }
    previous = *slot;
    if (!decides(previous, status)) return false;
    *slot = static_cast<std::uint8_t>(status);
    if (where != nullptr) *where = ordinal;
    return true;
  }

  /// Whether the record numbered `ordinal` is task `id`'s deciding record.
  bool deciding(std::uint64_t id, std::uint64_t ordinal) const {
    if (id < ordinal_.size()) return ordinal_[id] == ordinal;
    const auto it = sparse_.find(id);
    return it != sparse_.end() && it->second.ordinal == ordinal;
  }

  /// The lowest `count` ids whose deciding record is a failure.
  std::set<std::uint64_t> failed_ids(std::size_t count) const {
    std::set<std::uint64_t> out;
    for (std::uint64_t id = 0; id < dense_size_ && out.size() < count; ++id) {
      if (const std::uint8_t s = status_.get()[id];
          s != kNoRecord && is_failure(static_cast<TaskStatus>(s))) {
        out.insert(id);
      }
    }
    for (const auto& [id, entry] : sparse_) {
      if (is_failure(static_cast<TaskStatus>(entry.status))) out.insert(id);
    }
    while (out.size() > count) out.erase(std::prev(out.end()));
    return out;
  }

 private:
  // realloc, not a vector's resize: glibc moves a large block by remapping its pages
  // (mremap), not by copying them, and only the new part is filled.
  void grow(std::uint64_t id) {
    const std::uint64_t size =
        std::min(dense_limit_, std::max<std::uint64_t>({id + 1, 2 * dense_size_, 4096}));
    void* grown = std::realloc(status_.get(), static_cast<std::size_t>(size));
    if (grown == nullptr) throw std::bad_alloc();
    (void)status_.release();
    status_.reset(static_cast<std::uint8_t*>(grown));
    std::memset(status_.get() + dense_size_, kNoRecord,
                static_cast<std::size_t>(size - dense_size_));
    dense_size_ = size;
    if (ordinals_) ordinal_.resize(static_cast<std::size_t>(size), kNoOrdinal);
  }
  struct Free {
    void operator()(std::uint8_t* bytes) const noexcept { std::free(bytes); }
  };

  struct Sparse {
    std::uint8_t status = kNoRecord;
    std::uint64_t ordinal = kNoOrdinal;
  };
  std::uint64_t dense_limit_;
  std::unique_ptr<std::uint8_t, Free> status_;  // dense_size_ bytes
  std::uint64_t dense_size_ = 0;
  std::vector<std::uint64_t> ordinal_;
  std::unordered_map<std::uint64_t, Sparse> sparse_;
  bool ordinals_ = false;
};

JournalFailure failure_of(const JournalRecord& record) {
  JournalFailure out;
  out.task_id = record.task_id;
  out.status = record.status;
  out.attempts = record.attempts;
  out.completed_ns = record.completed_ns;
  out.runtime_ns = record.runtime_ns;
  out.payload.assign(record.payload.begin(), record.payload.end());
  return out;
}

/// Finished records per completion time over a trailing window, for the throughput, in
/// buckets of 1 ms (each with its first time stamp), so that its memory stays bounded (60,000
/// buckets for 60 s) however many records share the window.
class RateWindow {
 public:
  explicit RateWindow(double window_s) : window_ns_(static_cast<std::int64_t>(window_s * 1e9)) {}

  void add(std::int64_t completed_ns) {
    last_ = std::max(last_, completed_ns);
    // In the last bucket: completed_ns / kBucketNs == its first stamp's, without a division.
    if (!buckets_.empty() && completed_ns >= low_ && completed_ns <= high_) {
      ++buckets_.back().second;
      return;
    }
    buckets_.emplace_back(completed_ns, 1);
    const std::int64_t bucket = completed_ns / kBucketNs;  // rounded towards zero
    low_ = bucket > 0 ? bucket * kBucketNs : bucket * kBucketNs - (kBucketNs - 1);
    high_ = bucket < 0 ? bucket * kBucketNs : bucket * kBucketNs + (kBucketNs - 1);
    while (buckets_.front().first < last_ - window_ns_) buckets_.pop_front();
  }

  /// Records after the window's first bucket per second since that bucket's first time stamp;
  /// unknown when the window holds a single bucket.
  std::optional<double> rate() const {
    if (buckets_.empty() || last_ <= buckets_.front().first) return std::nullopt;
    std::uint64_t count = 0;
    for (const auto& [stamp, n] : buckets_) count += n;
    count -= buckets_.front().second;
    if (count == 0) return std::nullopt;
    return static_cast<double>(count) * 1e9 / static_cast<double>(last_ - buckets_.front().first);
  }

 private:
  static constexpr std::int64_t kBucketNs = 1000000;
  std::int64_t window_ns_;
  std::int64_t last_ = std::numeric_limits<std::int64_t>::min();
  std::int64_t low_ = 0;  // the stamps of the last bucket's range
  std::int64_t high_ = 0;
  std::deque<std::pair<std::int64_t, std::uint64_t>> buckets_;
};

/// The first pass: counts, kept failures, times.
class Summarizer {
 public:
  Summarizer(JournalSummary& out, const JournalSummaryOptions& options, bool ordinals)
      : out_(out), options_(options), ordinals_(ordinals), window_(options.rate_window_s) {}

  void add(const JournalRecord& record) {
    const std::uint64_t ordinal = ordinal_++;
    if (record.task_id >= kMaxTaskId) {
      throw InputError("journal " + out_.path + " has a record for task " +
                       std::to_string(record.task_id) + ", beyond any task list");
    }
    if (!table_) table_.emplace(out_.header.task_count, ordinals_);
    if (record.completed_ns != 0) {
      timed_ = true;
      first_ns_ = std::min(first_ns_, record.completed_ns);
      last_ns_ = std::max(last_ns_, record.completed_ns);
      if (record.status != TaskStatus::interrupted) window_.add(record.completed_ns);
    }
    std::uint8_t previous = kNoRecord;
    if (!table_->update(record.task_id, record.status, ordinal, previous)) return;
    if (previous != kNoRecord) --counts_[previous];
    ++counts_[static_cast<std::size_t>(record.status)];
    keep_failure(record, previous);
  }

  /// Fills the counts, rate and ETA in.
  void finish() {
    out_.records = ordinal_;
    if (timed_) {
      out_.first_completed_ns = first_ns_;
      out_.last_completed_ns = last_ns_;
    }
    out_.tasks = out_.header.task_count;
    out_.done = counts_[static_cast<std::size_t>(TaskStatus::ok)];
    out_.timed_out = counts_[static_cast<std::size_t>(TaskStatus::timed_out)];
    out_.failed = counts_[static_cast<std::size_t>(TaskStatus::failed)] + out_.timed_out;
    out_.interrupted = counts_[static_cast<std::size_t>(TaskStatus::interrupted)];
    const std::uint64_t finished = out_.done + out_.failed;
    out_.not_run = out_.tasks > finished ? out_.tasks - finished : 0;
    out_.rate = window_.rate();
    if (out_.running != false && out_.not_run > 0 && out_.rate && *out_.rate > 0) {
      out_.eta_seconds = static_cast<double>(out_.not_run) / *out_.rate;
    }
    for (auto& [id, failure] : kept_) out_.first_failures.push_back(std::move(failure));
  }

  /// Whether the kept failures lost one to a later success and may miss some others.
  bool failures_incomplete() const {
    return lost_ &&
           out_.first_failures.size() < std::min<std::uint64_t>(options_.failures, out_.failed);
  }
  const TaskTable& table() const { return *table_; }
  bool has_table() const { return table_.has_value(); }
  std::optional<TaskTable> take_table() { return std::move(table_); }

 private:
  void keep_failure(const JournalRecord& record, std::uint8_t previous) {
    if (!is_failure(record.status)) {
      if (previous != kNoRecord && is_failure(static_cast<TaskStatus>(previous)) &&
          kept_.erase(record.task_id) != 0) {
        lost_ = true;
      }
      return;
    }
    const auto it = kept_.find(record.task_id);
    if (it != kept_.end()) {
      it->second = failure_of(record);
      return;
    }
    if (options_.failures == 0) return;
    if (kept_.size() == options_.failures) {
      if (record.task_id > kept_.rbegin()->first) return;
      kept_.erase(std::prev(kept_.end()));
    }
    kept_.emplace(record.task_id, failure_of(record));
  }

  JournalSummary& out_;
  const JournalSummaryOptions& options_;
  bool ordinals_;
  std::optional<TaskTable> table_;
  std::array<std::uint64_t, kMaxTaskStatus + 1> counts_{};
  std::map<std::uint64_t, JournalFailure> kept_;
  bool lost_ = false;
  std::uint64_t ordinal_ = 0;
  bool timed_ = false;  // a record had a completion time: first_ns_ and last_ns_ hold
  std::int64_t first_ns_ = std::numeric_limits<std::int64_t>::max();
  std::int64_t last_ns_ = std::numeric_limits<std::int64_t>::min();
  RateWindow window_;
};

/// Reads the failures again when a success superseded a kept one: the lowest failed ids,
/// each with its last failure record.
void reread_failures(JournalSummary& out, const TaskTable& table, std::size_t count) {
  const std::set<std::uint64_t> ids = table.failed_ids(count);
  std::map<std::uint64_t, JournalFailure> found;
  scan_journal_batched(out.path, false, [&](std::span<const JournalRecord> batch) {
    for (const JournalRecord& record : batch) {
      if (is_failure(record.status) && ids.count(record.task_id) != 0) {
        found[record.task_id] = failure_of(record);
      }
    }
  });
  out.first_failures.clear();
  for (auto& [id, failure] : found) out.first_failures.push_back(std::move(failure));
}

JournalSummary summarize(const std::string& path, const JournalSummaryOptions& options,
                         bool ordinals, std::optional<TaskTable>& table) {
  JournalSummary out;
  out.path = path;
  out.running = journal_writer_running(path);
  out.header = read_journal_header(path);  // the task count sizes the table before the scan
  Summarizer summarizer(out, options, ordinals);
  out.scan = scan_journal_batched(path, false, [&](std::span<const JournalRecord> batch) {
    for (const JournalRecord& record : batch) summarizer.add(record);
  });
  out.header = out.scan.header;
  summarizer.finish();
  out.tail_being_written = out.running == true && out.scan.dropped_bytes > 0;
  if (summarizer.failures_incomplete() && summarizer.has_table())
    reread_failures(out, summarizer.table(), options.failures);
  table = summarizer.take_table();
  return out;
}

}  // namespace

std::optional<bool> journal_writer_running(const std::string& path) {
  // O_NONBLOCK: opening a FIFO for reading must not wait for a writer.
  const sys::UniqueFd fd = sys::open_fd(path, O_RDONLY | O_NONBLOCK);
  if (!fd) {
    const int err = errno;
    throw InputError("cannot open journal " + path + ": " + sys::errno_text(err));
  }
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0 || !S_ISREG(info.st_mode)) {
    throw InputError("journal " + path + " is not a regular file");
  }
  // flock has no test operation (and fcntl's F_GETLK does not see flock locks on Linux), so
  // the probe takes a shared lock and drops it at once. A writer that tries to start in
  // between finds its exclusive lock refused; JournalWriter retries for a while before it
  // calls the journal in use, so the probe only delays it by microseconds.
  int result = 0;
  do {
    result = ::flock(fd.get(), LOCK_SH | LOCK_NB);
  } while (result != 0 && errno == EINTR);
  if (result == 0) {
    ::flock(fd.get(), LOCK_UN);
    return false;
  }
  if (errno == EWOULDBLOCK) return true;
  return std::nullopt;  // ENOLCK, EINVAL, EOPNOTSUPP: some network file systems cannot say
}

JournalSummary summarize_journal(const std::string& path, const JournalSummaryOptions& options) {
  std::optional<TaskTable> table;
  return summarize(path, options, false, table);
}

JournalSummary visit_deciding_records(const std::string& path,
                                      const std::function<void(const JournalRecord&)>& on_record,
                                      const JournalSummaryOptions& options) {
  std::optional<TaskTable> table;
  JournalSummary out = summarize(path, options, true, table);
  if (!table) return out;  // no records
  const std::uint64_t records = out.records;
  std::uint64_t ordinal = 0;
  scan_journal_batched(path, false, [&](std::span<const JournalRecord> batch) {
    for (const JournalRecord& record : batch) {
      const std::uint64_t mine = ordinal++;
      if (mine < records && table->deciding(record.task_id, mine)) on_record(record);
    }
  });
  return out;
}

}  // namespace parakit::io
