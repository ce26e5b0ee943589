// Reading a farm's journal back in a program that knows the result type: each record with its
// result decoded as the farm encoded it (or the error message of a task that threw).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "parakit/core/error.hpp"
#include "parakit/core/task_status.hpp"
#include "parakit/io/codec.hpp"
#include "parakit/io/journal.hpp"
#include "parakit/io/journal_summary.hpp"

namespace parakit {

/// A farm journal record's payload starts with one byte saying what follows.
enum class FarmPayloadKind : std::uint8_t {
  value = 0,  ///< the result's encoding (io::Encoder)
  error = 1,  ///< the message of the exception the task threw
};

/// A payload split into its kind and body (the result's encoding, or the message's bytes).
struct FarmPayload {
  FarmPayloadKind kind = FarmPayloadKind::value;
  std::span<const std::byte> body;
  std::string_view error() const noexcept {
    return {reinterpret_cast<const char*>(body.data()), body.size()};
  }
};

/// Splits a farm journal payload. Throws InputError naming `path` when it is empty or of an
/// unknown kind.
inline FarmPayload farm_payload(std::span<const std::byte> payload, const std::string& path) {
  if (payload.empty()) throw InputError("journal " + path + ": empty record payload");
  const auto kind = static_cast<FarmPayloadKind>(payload[0]);
  if (kind != FarmPayloadKind::value && kind != FarmPayloadKind::error) {
    throw InputError("journal " + path + ": unknown payload kind");
  }
  return {kind, payload.subspan(1)};
}

/// One journal record with its result decoded.
template <class Result>
struct FarmJournalEntry {
  std::uint64_t id = 0;
  TaskStatus status = TaskStatus::ok;
  std::uint32_t attempts = 0;     ///< 0: not recorded (format 1)
  std::int64_t completed_ns = 0;  ///< ns since the Unix epoch; 0: not recorded (format 1)
  std::uint64_t runtime_ns = 0;   ///< 0: not known
  std::optional<Result> result;   ///< empty when the task threw
  std::string error;              ///< the exception's message when it threw
};

/// Decodes one record of the journal at `path` as a farm of `Result`s wrote it. Throws
/// InputError on a payload that does not decode as a Result.
template <class Result>
FarmJournalEntry<Result> decode_farm_record(const io::JournalRecord& record,
                                            const std::string& path) {
  FarmJournalEntry<Result> entry;
  entry.id = record.task_id;
  entry.status = record.status;
  entry.attempts = record.attempts;
  entry.completed_ns = record.completed_ns;
  entry.runtime_ns = record.runtime_ns;
  const FarmPayload payload = farm_payload(record.payload, path);
  if (payload.kind == FarmPayloadKind::error) {
    entry.error = std::string(payload.error());
    return entry;
  }
  try {
    entry.result.emplace(io::decode<Result>(payload.body));
  } catch (const InputError& error) {
    throw InputError("journal " + path + ": task " + std::to_string(record.task_id) +
                     ": the result does not decode as this type (" + error.what() + ")");
  }
  return entry;
}

/// Calls on_entry for every valid record of the farm journal at `path`, in file order, with
/// its result decoded (a task may have several: a failure, then a rerun). Errors and warnings
/// as io::scan_journal(path, force, ...); returns its scan.
template <class Result>
io::JournalScan read_farm_journal(
    const std::string& path, const std::function<void(const FarmJournalEntry<Result>&)>& on_entry,
    bool force = false) {
  return io::scan_journal(path, force, [&](const io::JournalRecord& record) {
    on_entry(decode_farm_record<Result>(record, path));
  });
}

/// Every task's deciding record (io::summarize_journal's: what a resume keeps), decoded and
/// sorted by task id. Holds every entry in memory; for large journals prefer the callback
/// form or io::visit_deciding_records.
template <class Result>
std::vector<FarmJournalEntry<Result>> read_farm_journal(const std::string& path) {
  std::vector<FarmJournalEntry<Result>> out;
  io::visit_deciding_records(path, [&](const io::JournalRecord& record) {
    out.push_back(decode_farm_record<Result>(record, path));
  });
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  return out;
}

}  // namespace parakit
