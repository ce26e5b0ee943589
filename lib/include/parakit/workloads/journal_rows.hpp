// The journals of parakit's own farms (the queue and cost demos, command farms) as rows:
// each task's record with its result decoded by the journal's kind, and the result of a farm
// of any other type as the hex of its encoding.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "parakit/core/task_status.hpp"
#include "parakit/io/journal.hpp"
#include "parakit/io/journal_summary.hpp"
#include "parakit/workloads/commands.hpp"

namespace parakit::workloads {

/// The result types of the farms parakit writes journals for, by journal kind.
enum class JournalResultType {
  queue_item,  ///< "farm queue": the task's item (std::uint64_t)
  cost_ns,     ///< "farm cost": the task's cost in ns (std::uint64_t)
  command,     ///< "farm commands": a CommandResult
  encoded,     ///< any other kind: shown as the hex of the result's encoding
};

JournalResultType journal_result_type(std::string_view kind) noexcept;

/// One task's record, decoded.
struct JournalRow {
  std::uint64_t id = 0;
  TaskStatus status = TaskStatus::ok;
  std::uint32_t attempts = 0;     ///< 0: not recorded (format 1)
  std::int64_t completed_ns = 0;  ///< ns since the Unix epoch; 0: not recorded (format 1)
  std::uint64_t runtime_ns = 0;   ///< 0: not known
  /// The result as text: a decimal number for the demos, lowercase hex of its encoding for
  /// other kinds; empty for a command (see `command`) or a task that threw.
  std::string result;
  std::string error;                     ///< the message of the exception the task threw
  std::optional<CommandResult> command;  ///< a command farm's result
};

/// Decodes one record of a journal whose header is `header` (path: for messages). Throws
/// InputError on a payload that does not decode as its kind's result.
JournalRow journal_row(const io::JournalHeader& header, const std::string& path,
                       const io::JournalRecord& record);
JournalRow journal_row(const io::JournalHeader& header, const std::string& path,
                       const io::JournalFailure& failure);

/// Calls on_row for every task's deciding record (io::visit_deciding_records), decoded, in
/// file order; returns the summary. Throws as summarize_journal and journal_row.
io::JournalSummary read_journal_rows(const std::string& path,
                                     const std::function<void(const JournalRow&)>& on_row,
                                     const io::JournalSummaryOptions& options = {});

}  // namespace parakit::workloads
