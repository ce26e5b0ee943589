#include "parakit/workloads/journal_rows.hpp"

#include <string>

#include "parakit/core/error.hpp"
#include "parakit/io/codec.hpp"
#include "parakit/patterns/farm_journal.hpp"

namespace parakit::workloads {
namespace {

std::string hex(std::span<const std::byte> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * bytes.size());
  for (const std::byte b : bytes) {
    const auto value = static_cast<unsigned>(b);
    out += kDigits[value >> 4];
    out += kDigits[value & 15u];
  }
  return out;
}

JournalRow decode_row(const io::JournalHeader& header, const std::string& path, JournalRow row,
                      std::span<const std::byte> payload) {
  const FarmPayload split = farm_payload(payload, path);
  if (split.kind == FarmPayloadKind::error) {
    row.error = std::string(split.error());
    return row;
  }
  try {
    switch (journal_result_type(header.kind)) {
      case JournalResultType::queue_item:
      case JournalResultType::cost_ns:
        row.result = std::to_string(io::decode<std::uint64_t>(split.body));
        break;
      case JournalResultType::command:
        row.command = io::decode<CommandResult>(split.body);
        break;
      case JournalResultType::encoded:
        row.result = hex(split.body);
        break;
    }
  } catch (const InputError& error) {
    throw InputError("journal " + path + ": task " + std::to_string(row.id) +
                     ": the result does not decode as a " + header.kind + " result (" +
                     error.what() + ")");
  }
  return row;
}

}  // namespace

JournalResultType journal_result_type(std::string_view kind) noexcept {
  if (kind == "farm queue") return JournalResultType::queue_item;
  if (kind == "farm cost") return JournalResultType::cost_ns;
  if (kind == "farm commands") return JournalResultType::command;
  return JournalResultType::encoded;
}

JournalRow journal_row(const io::JournalHeader& header, const std::string& path,
                       const io::JournalRecord& record) {
  JournalRow row;
  row.id = record.task_id;
  row.status = record.status;
  row.attempts = record.attempts;
  row.completed_ns = record.completed_ns;
  row.runtime_ns = record.runtime_ns;
  return decode_row(header, path, std::move(row), record.payload);
}

JournalRow journal_row(const io::JournalHeader& header, const std::string& path,
                       const io::JournalFailure& failure) {
  return journal_row(header, path,
                     io::JournalRecord{failure.task_id, failure.status, failure.attempts,
                                       failure.completed_ns, failure.runtime_ns, failure.payload});
}

io::JournalSummary read_journal_rows(const std::string& path,
                                     const std::function<void(const JournalRow&)>& on_row,
                                     const io::JournalSummaryOptions& options) {
  io::JournalHeader header = io::read_journal_header(path);
  return io::visit_deciding_records(
      path, [&](const io::JournalRecord& record) { on_row(journal_row(header, path, record)); },
      options);
}

}  // namespace parakit::workloads
