// The farm master's bookkeeping on rank 0: the scheduler, open chunks, retries, the
// journal (resume and append), the order-independent checksum, counts, and delivery to the
// sink in completion or task order. Transport-free: the messaging loop feeds it.
#pragma once

#include <sys/stat.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "parakit/core/error.hpp"
#include "parakit/io/codec.hpp"
#include "parakit/io/hash.hpp"
#include "parakit/io/journal.hpp"
#include "parakit/patterns/detail/farm_executors.hpp"
#include "parakit/patterns/detail/farm_scheduler.hpp"
#include "parakit/patterns/farm_journal.hpp"
#include "parakit/patterns/farm_options.hpp"
#include "parakit/patterns/farm_report.hpp"
#include "parakit/patterns/farm_task.hpp"

namespace parakit::detail {

/// Journal payloads start with one byte saying what follows (patterns/farm_journal.hpp).
using PayloadKind = FarmPayloadKind;

/// The identity of a task list with a journal's hash: its length and every task's encoding.
template <class Tasks>
std::uint64_t task_list_identity(const Tasks& tasks, io::JournalHash hash) {
  io::TaskListIdentity identity(hash, static_cast<std::uint64_t>(tasks.size()));
  std::vector<std::byte> scratch;
  for (std::uint64_t id = 0; id < static_cast<std::uint64_t>(tasks.size()); ++id) {
    scratch.clear();
    io::Encoder(scratch).put(tasks[id]);
    identity.add_task(scratch);
  }
  return identity.value();
}

/// One finished task's term of FarmReport::checksum: XXH3-64 of the id's 8 little-endian bytes,
/// seeded with digest ^ (status << 56).
inline std::uint64_t checksum_term(std::uint64_t id, TaskStatus status,
                                   std::uint64_t digest) noexcept {
  return io::hash_u64(id, digest ^ (static_cast<std::uint64_t>(status) << 56));
}

template <class Task, class Result, class Tasks, class Sink>
class FarmMaster {
 public:
  FarmMaster(const Tasks& tasks, Sink& sink, const FarmOptions& options,
             const FarmHooks<Result>& hooks)
      : tasks_(tasks),
        sink_(sink),
        options_(options),
        hooks_(hooks),
        total_(static_cast<std::uint64_t>(tasks.size())) {}

  /// Opens (or resumes) the journal and builds the schedule. Throws parakit::Error.
  void open(std::vector<int> endpoint_slots) {
    if (!options_.exclude.empty()) {
      if (options_.exclude.size() != total_)
        throw InternalError("farm: exclude has the wrong size");
      excluded_ = static_cast<std::uint64_t>(
          std::count(options_.exclude.begin(), options_.exclude.end(), true));
    }
    std::vector<bool> done = options_.exclude;
    skip_excluded();
    if (!options_.journal.path.empty()) open_journal(done);
    open_per_endpoint_.assign(endpoint_slots.size(), 0);
    scheduler_.emplace(total_, std::move(done), options_, std::move(endpoint_slots));
  }

  /// Tasks in this run (the list minus excluded ids).
  std::uint64_t total() const noexcept { return total_ - excluded_; }
  std::uint64_t finished_tasks() const noexcept { return ok_ + failed_; }
  std::uint64_t resumed() const noexcept { return resumed_; }
  bool stopping() const noexcept { return stopping_; }
  void stop() noexcept { stopping_ = true; }

  /// The next chunk for `endpoint`, unless it already holds `limit` open chunks.
  bool next_chunk(int endpoint, std::size_t limit, ChunkPlan& plan) {
    auto& open = open_per_endpoint_[static_cast<std::size_t>(endpoint)];
    if (stopping_ || open >= limit || !scheduler_->next(endpoint, plan)) return false;
    ++open;
    chunk_owner_[plan.seq] = endpoint;
    return true;
  }
  void close_chunk(std::uint64_t seq) {
    const auto it = chunk_owner_.find(seq);
    if (it == chunk_owner_.end()) throw InternalError("farm: unknown chunk closed");
    --open_per_endpoint_[static_cast<std::size_t>(it->second)];
    chunk_owner_.erase(it);
  }
  decltype(auto) task(std::uint64_t id) const { return tasks_[id]; }

  /// Everything handed out has come back and nothing is left (or we are stopping).
  bool finished() const noexcept {
    return chunk_owner_.empty() && (stopping_ || scheduler_->exhausted());
  }

  /// One outcome from any executor. `encoded` is the value's encoding when the caller has it
  /// (a message), else empty.
  void complete(std::uint64_t id, std::uint32_t attempt, OutcomeKind kind, const Result* value,
                std::span<const std::byte> encoded, std::string_view error) {
    if (id >= total_) throw InternalError("farm: result for an unknown task id");
    if (kind == OutcomeKind::not_run) return;
    TaskStatus status = TaskStatus::failed;
    if (kind == OutcomeKind::value) status = hooks_.status ? hooks_.status(*value) : TaskStatus::ok;
    const bool failed = status == TaskStatus::failed || status == TaskStatus::timed_out;
    if (failed && attempt < static_cast<std::uint32_t>(options_.retries)) {
      // While stopping, a task with attempts left is left not run: a resume retries it.
      if (stopping_) return;
      scheduler_->retry(id, attempt + 1);
      ++retried_;
      return;
    }
    finalize(id, status, kind == OutcomeKind::value ? value : nullptr, encoded, error, attempt + 1,
             false);
  }

  /// Hands staged journal records to the kernel (one write for everything since last time).
  /// Also fsyncs once the interval has passed since the last records, on a quiet run.
  void flush_journal() {
    if (journal_) {
      journal_->flush();
      staged_ = false;
    }
  }

  /// Final bookkeeping on rank 0: remaining ordered results, journal fsync, counts.
  FarmReport finish(double seconds) {
    if (options_.ordered) {
      for (auto& [id, item] : reorder_) deliver(id, item);
      reorder_.clear();
    }
    if (journal_) journal_->sync();
    FarmReport report;
    report.tasks = total_ - excluded_;
    report.ok = ok_;
    report.failed = failed_;
    report.timed_out = timed_out_;
    report.interrupted = interrupted_;
    report.not_run = total_ - excluded_ - ok_ - failed_;
    report.resumed = resumed_;
    report.retried = retried_;
    report.checksum = checksum_;
    report.seconds = seconds;
    report.stopped = stopping_;
    report.journal_warning = journal_warning_;
    std::sort(failures_.begin(), failures_.end(),
              [](const TaskFailure& a, const TaskFailure& b) { return a.id < b.id; });
    if (failures_.size() > kFailuresKept) failures_.resize(kFailuresKept);
    report.failures = std::move(failures_);
    return report;
  }

 private:
  static constexpr std::size_t kFailuresKept = 20;

  struct Pending {  // a result waiting for its turn (ordered delivery)
    TaskStatus status = TaskStatus::ok;
    std::optional<Result> value;
    std::string error;
    std::uint32_t attempts = 1;
    bool resumed = false;
  };

  void finalize(std::uint64_t id, TaskStatus status, const Result* value,
                std::span<const std::byte> encoded, std::string_view error, std::uint32_t attempts,
                bool resumed) {
    const bool need_bytes =
        value != nullptr && encoded.empty() && ((journal_ && !resumed) || !hooks_.digest);
    if (need_bytes) {
      value_bytes_.clear();
      io::Encoder(value_bytes_).put(*value);
      encoded = value_bytes_;
    }
    if (journal_ && !resumed) {
      payload_.clear();
      io::Encoder out(payload_);
      out.raw(value != nullptr ? PayloadKind::value : PayloadKind::error);
      if (value != nullptr) {
        out.bytes(encoded.data(), encoded.size());
      } else {
        out.bytes(error.data(), error.size());
      }
      io::RecordTimes times;
      times.attempts = attempts;
      if (value != nullptr && hooks_.runtime) {
        const double seconds = hooks_.runtime(*value);
        if (seconds > 0 && seconds < 1e10)
          times.runtime_ns = static_cast<std::uint64_t>(seconds * 1e9);
      }
      journal_->add(id, status, payload_, times);
      staged_ = true;
    }
    if (status == TaskStatus::interrupted) {
      ++interrupted_;  // not final: a resume runs it again
    } else {
      const std::uint64_t digest =
          value == nullptr ? 0
                           : (hooks_.digest ? hooks_.digest(id, *value) : io::hash_bytes(encoded));
      checksum_ += checksum_term(id, status, digest);
      if (status == TaskStatus::ok) {
        ++ok_;
      } else {
        ++failed_;
        if (status == TaskStatus::timed_out) ++timed_out_;
        if (failures_.size() < 4 * kFailuresKept) {
          failures_.push_back({id, status, value == nullptr ? std::string(error) : std::string()});
        }
      }
      if (resumed) ++resumed_;
    }
    if (options_.ordered) {
      Pending item{status, value ? std::optional<Result>(*value) : std::nullopt, std::string(error),
                   attempts, resumed};
      if (id != next_ordered_) {
        reorder_.emplace(id, std::move(item));
        return;
      }
      deliver(id, item);
      ++next_ordered_;
      skip_excluded();
      for (auto it = reorder_.begin(); it != reorder_.end() && it->first == next_ordered_;) {
        deliver(it->first, it->second);
        it = reorder_.erase(it);
        ++next_ordered_;
        skip_excluded();
      }
      return;
    }
    sink_(FarmItem<Result>{id, status, value, error, attempts, resumed});
  }

  /// Ids that are not tasks never get a result; ordered delivery steps over them.
  void skip_excluded() {
    while (next_ordered_ < options_.exclude.size() && options_.exclude[next_ordered_]) {
      ++next_ordered_;
    }
  }

  void deliver(std::uint64_t id, const Pending& item) {
    sink_(FarmItem<Result>{id, item.status, item.value ? &*item.value : nullptr, item.error,
                           item.attempts, item.resumed});
  }

  /// The task list's identity with a journal's hash.
  std::uint64_t identity(io::JournalHash hash) const {
    const FarmJournalOptions& j = options_.journal;
    return j.identity_key.empty() ? task_list_identity(tasks_, hash)
                                  : io::journal_identity(hash, j.identity_key);
  }

  /// Opens the journal; on resume marks in `done` the ids it already completed.
  void open_journal(std::vector<bool>& done) {
    const FarmJournalOptions& j = options_.journal;
    struct stat info {};
    const bool present = ::stat(j.path.c_str(), &info) == 0;
    if (present && !S_ISREG(info.st_mode)) {
      throw InputError("journal " + j.path + " is not a regular file");
    }
    const bool exists = present && info.st_size > 0;
    if (exists && !j.resume) {
      throw UsageError("journal " + j.path +
                       " already holds results; pass FarmJournalOptions::resume to continue it, "
                       "or remove it");
    }
    if (!exists) {
      journal_.emplace(io::JournalWriter::create(
          j.path, io::journal_header(j.kind, identity(io::JournalHash::xxh3_64), total()),
          j.fsync_interval));
      return;
    }
    // An older journal is resumed in its own format: its identity with its own hash.
    header_ = io::read_journal_header(j.path);
    if (header_.identity != identity(header_.hash) || header_.kind != j.kind) {
      throw InputError("journal " + j.path + " was written for a different task list (" +
                       header_.kind + ", " + std::to_string(header_.task_count) +
                       " tasks); use another FarmJournalOptions::path, or remove it to start "
                       "over");
    }
    if (done.empty()) done.assign(total_, false);
    // A failure may be superseded by a later success (FarmJournalOptions::resume_failed); hold
    // failures back until the whole journal is read.
    std::map<std::uint64_t, Pending> failed_records;
    const io::JournalScan scan = io::scan_journal(
        j.path, j.force_resume,
        [&](const io::JournalRecord& record) { replay(record, done, failed_records); });
    for (auto& [id, item] : failed_records) {
      done[id] = true;
      finalize(id, item.status, item.value ? &*item.value : nullptr, {}, item.error, 1, true);
    }
    journal_warning_ = scan.warning;
    journal_.emplace(io::JournalWriter::append_to(j.path, scan, j.fsync_interval));
  }

  void replay(const io::JournalRecord& record, std::vector<bool>& done,
              std::map<std::uint64_t, Pending>& failed_records) {
    const std::string& path = options_.journal.path;
    if (record.task_id >= total_) {
      throw InputError("journal " + path + " has a record for task " +
                       std::to_string(record.task_id) + " but the task list has " +
                       std::to_string(total_) + " tasks");
    }
    if (!options_.exclude.empty() && options_.exclude[record.task_id]) {
      throw InputError("journal " + path + " has a record for id " +
                       std::to_string(record.task_id) + ", which is not a task of this list");
    }
    if (record.status == TaskStatus::interrupted || done[record.task_id]) return;
    if (record.payload.empty()) throw InputError("journal " + path + ": empty record payload");
    const auto kind = static_cast<PayloadKind>(record.payload[0]);
    const auto body = record.payload.subspan(1);
    std::optional<Result> value;
    std::string error;
    if (kind == PayloadKind::value) {
      value.emplace(io::decode<Result>(body));
      if (hooks_.check_resumed) hooks_.check_resumed(record.task_id, *value, header_);
    } else if (kind == PayloadKind::error) {
      error.assign(reinterpret_cast<const char*>(body.data()), body.size());
    } else {
      throw InputError("journal " + path + ": unknown payload kind");
    }
    if (record.status == TaskStatus::ok) {
      if (!failed_records.empty()) failed_records.erase(record.task_id);
      done[record.task_id] = true;
      finalize(record.task_id, TaskStatus::ok, &*value, body, {}, 1, true);
      return;
    }
    if (options_.journal.resume_failed) {  // run it again
      failed_records.erase(record.task_id);
      return;
    }
    failed_records[record.task_id] =
        Pending{record.status, std::move(value), std::move(error), 1, true};
  }

  const Tasks& tasks_;
  Sink& sink_;
  FarmOptions options_;
  const FarmHooks<Result>& hooks_;
  std::uint64_t total_;
  std::uint64_t excluded_ = 0;
  std::optional<FarmScheduler> scheduler_;
  std::vector<std::size_t> open_per_endpoint_;
  std::unordered_map<std::uint64_t, int> chunk_owner_;  // open chunk -> endpoint
  std::optional<io::JournalWriter> journal_;
  io::JournalHeader header_;  // of the journal being resumed
  bool staged_ = false;
  std::string journal_warning_;
  std::vector<std::byte> payload_;
  std::vector<std::byte> value_bytes_;
  bool stopping_ = false;
  std::uint64_t ok_ = 0;
  std::uint64_t failed_ = 0;
  std::uint64_t timed_out_ = 0;
  std::uint64_t interrupted_ = 0;
  std::uint64_t resumed_ = 0;
  std::uint64_t retried_ = 0;
  std::uint64_t checksum_ = 0;
  std::vector<TaskFailure> failures_;
  std::map<std::uint64_t, Pending> reorder_;
  std::uint64_t next_ordered_ = 0;
};

}  // namespace parakit::detail
