// parakit journal: what a farm's journal says (counts, first failures, throughput, ETA while
// the farm runs), and its tasks exported as CSV or JSON lines. Reads only; never waits for
// or disturbs the farm writing it.
#include <sys/stat.h>

#include <algorithm>
#include <charconv>
#include <cinttypes>
#include <cstdio>
#include <ctime>
#include <memory>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "cli.hpp"
#include "library_terms.hpp"
#include "parakit/core/error.hpp"
#include "parakit/io/atomic_file.hpp"
#include "parakit/io/journal_summary.hpp"
#include "parakit/runtime/environment.hpp"
#include "parakit/workloads/journal_rows.hpp"
#include "registry.hpp"

namespace parakit::cli {
namespace {

struct JournalArgs {
  std::string path;
  std::vector<std::string> export_to;  // FORMAT FILE
  std::size_t failures = 10;
  bool json = false;
};

std::string hex64(std::uint64_t value) {
  char buffer[24];
  std::snprintf(buffer, sizeof buffer, "%016" PRIx64, value);
  return buffer;
}

/// "2026-12-08T02:04:16.123Z" (UTC, milliseconds). Remembers the last second's text: rows
/// come in time order.
std::string iso_time(std::int64_t ns) {
  static thread_local std::int64_t cached_second = -1;
  static thread_local std::string cached_text;
  const std::int64_t second = ns / 1000000000;
  if (second != cached_second) {
    const auto seconds = static_cast<std::time_t>(second);
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char buffer[32];
    cached_text.assign(buffer, std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%S", &utc));
    cached_second = second;
  }
  char millis[8];
  std::snprintf(millis, sizeof millis, ".%03dZ", static_cast<int>(ns / 1000000 % 1000));
  return cached_text + millis;
}

nlohmann::json optional_time(const std::optional<std::int64_t>& ns) {
  return ns ? nlohmann::json(iso_time(*ns)) : nlohmann::json(nullptr);
}

/// One field of a row: nothing (null, an empty CSV field), text, or a number.
using Value = std::variant<std::monostate, std::string, std::int64_t, std::uint64_t, double>;
struct Field {
  const char* name;
  Value value;
};

Value text_or_null(const std::string& text) {
  return text.empty() ? Value{} : Value{text};
}

/// A task's row, the same columns for every row of one result type: the export's lines
/// and the summary's failures.
std::vector<Field> row_fields(const workloads::JournalRow& row, workloads::JournalResultType type) {
  const bool timed = row.completed_ns != 0;
  std::vector<Field> out{
      {"id", row.id},
      {"status", std::string(to_string(row.status))},
      {"attempts", row.attempts != 0 ? Value{std::uint64_t{row.attempts}} : Value{}},
      {"completed_ns", timed ? Value{std::int64_t{row.completed_ns}} : Value{}},
      {"completed", timed ? Value{iso_time(row.completed_ns)} : Value{}},
      {"runtime_seconds",
       row.runtime_ns != 0 ? Value{static_cast<double>(row.runtime_ns) / 1e9} : Value{}}};
  if (type == workloads::JournalResultType::command) {
    const auto& c = row.command;
    out.push_back({"exit_code", c ? Value{std::int64_t{c->exit_code}} : Value{}});
    out.push_back({"signal", c ? Value{std::int64_t{c->signal}} : Value{}});
    out.push_back({"host", c ? text_or_null(c->host) : Value{}});
    out.push_back({"command", c ? text_or_null(c->command) : Value{}});
    out.push_back({"stdout", c ? text_or_null(c->stdout_path) : Value{}});
    out.push_back({"stderr", c ? text_or_null(c->stderr_path) : Value{}});
  } else if (type == workloads::JournalResultType::encoded || row.result.empty()) {
    out.push_back({"result", text_or_null(row.result)});  // hex
  } else {
    std::uint64_t number = 0;
    std::from_chars(row.result.data(), row.result.data() + row.result.size(), number);
    out.push_back({"result", number});
  }
  out.push_back({"error", text_or_null(row.error)});
  return out;
}

nlohmann::json value_json(const Value& value) {
  return std::visit(
      [](const auto& v) -> nlohmann::json {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::monostate>) {
          return nullptr;
        } else if constexpr (std::is_same_v<T, double>) {
          return json_double(v);
        } else {
          return v;
        }
      },
      value);
}

nlohmann::json row_json(const workloads::JournalRow& row, workloads::JournalResultType type) {
  nlohmann::json out = nlohmann::json::object();
  for (const Field& field : row_fields(row, type)) out[field.name] = value_json(field.value);
  return out;
}

/// A number as the shortest text that reads back the same.
void append_number(std::string& out, const Value& value) {
  char buffer[32];
  const auto [end, error] = std::visit(
      [&](const auto& v) {
        if constexpr (std::is_same_v<std::decay_t<decltype(v)>, std::monostate> ||
                      std::is_same_v<std::decay_t<decltype(v)>, std::string>) {
          return std::to_chars_result{buffer, std::errc{}};
        } else {
          return std::to_chars(buffer, buffer + sizeof buffer, v);
        }
      },
      value);
  out.append(buffer, end);
}

/// A JSON string: as it is when it is plain printable ASCII, else through nlohmann::json
/// (escapes, invalid UTF-8 replaced).
void append_json_string(std::string& out, const std::string& text) {
  const bool plain = std::all_of(text.begin(), text.end(), [](char c) {
    return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
  });
  if (plain) {
    out += '"';
    out += text;
    out += '"';
  } else {
    out += nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
}

void append_json_line(std::string& out, const std::vector<Field>& fields) {
  out += '{';
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (i != 0) out += ',';
    out += '"';
    out += fields[i].name;
    out += "\":";
    const Value& value = fields[i].value;
    if (std::holds_alternative<std::monostate>(value)) {
      out += "null";
    } else if (const auto* text = std::get_if<std::string>(&value)) {
      append_json_string(out, *text);
    } else {
      append_number(out, value);
    }
  }
  out += "}\n";
}

/// A CSV line; a field is quoted when it holds a comma, quote or line break.
void append_csv_line(std::string& out, const std::vector<Field>& fields) {
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (i != 0) out += ',';
    const auto* text = std::get_if<std::string>(&fields[i].value);
    if (text == nullptr) {
      append_number(out, fields[i].value);
    } else if (text->find_first_of(",\"\r\n") == std::string::npos) {
      out += *text;
    } else {
      out += '"';
      for (const char c : *text) {
        if (c == '"') out += '"';
        out += c;
      }
      out += '"';
    }
  }
  out += '\n';
}

/// Writes the rows to an AtomicFile in 1 MiB writes.
class RowWriter {
 public:
  RowWriter(const std::string& format, const std::string& path, workloads::JournalResultType type)
      : csv_(format == "csv"), type_(type), file_(path) {
    if (!csv_) return;
    const std::vector<Field> columns = row_fields(workloads::JournalRow{}, type_);
    for (std::size_t i = 0; i < columns.size(); ++i) {  // the header: the column names
      buffer_ += i != 0 ? "," : "";
      buffer_ += columns[i].name;
    }
    buffer_ += '\n';
  }
  void add(const workloads::JournalRow& row) {
    const std::vector<Field> fields = row_fields(row, type_);
    if (csv_) {
      append_csv_line(buffer_, fields);
    } else {
      append_json_line(buffer_, fields);
    }
    ++rows_;
    if (buffer_.size() >= (std::size_t{1} << 20)) flush();
  }
  void commit() {
    flush();
    file_.commit();
  }
  std::uint64_t rows() const noexcept { return rows_; }

 private:
  void flush() {
    file_.write(buffer_);
    buffer_.clear();
  }
  bool csv_;
  workloads::JournalResultType type_;
  io::AtomicFile file_;
  std::string buffer_;
  std::uint64_t rows_ = 0;
};

nlohmann::json running_json(const std::optional<bool>& running) {
  return running ? nlohmann::json(*running) : nlohmann::json(nullptr);
}

nlohmann::json summary_json(const io::JournalSummary& s,
                            const std::vector<workloads::JournalRow>& failures) {
  const auto type = workloads::journal_result_type(s.header.kind);
  nlohmann::json first = nlohmann::json::array();
  for (const auto& row : failures) first.push_back(row_json(row, type));
  return {{"command", "journal"},
          {"path", s.path},
          {"kind", s.header.kind},
          {"version", s.header.version},
          {"identity", hex64(s.header.identity)},
          {"tasks", s.tasks},
          {"records", s.records},
          {"done", s.done},
          {"failed", s.failed},
          {"timed_out", s.timed_out},
          {"interrupted", s.interrupted},
          {"not_run", s.not_run},
          {"running", running_json(s.running)},
          {"being_written", s.tail_being_written},
          {"torn_tail_bytes", s.scan.dropped_bytes},
          {"first_completed", optional_time(s.first_completed_ns)},
          {"last_completed", optional_time(s.last_completed_ns)},
          {"rate", s.rate ? json_double(*s.rate) : nlohmann::json(nullptr)},
          {"eta_seconds", s.eta_seconds ? json_double(*s.eta_seconds) : nlohmann::json(nullptr)},
          {"first_failures", first}};
}

/// "exit 3", "signal 15", "timed out", or the message of a task that threw.
std::string failure_reason(const workloads::JournalRow& row) {
  if (!row.error.empty()) return row.error;
  if (!row.command) return "result " + row.result;
  if (row.status == TaskStatus::timed_out) return "timed out";
  if (row.command->signal != 0) return "signal " + std::to_string(row.command->signal);
  return "exit " + std::to_string(row.command->exit_code);
}

std::string failure_text(const workloads::JournalRow& row) {
  std::string text;
  appendf(text, "  failed     task %" PRIu64 " (%s, %s)", row.id,
          std::string(to_string(row.status)).c_str(), failure_reason(row).c_str());
  if (row.attempts > 1) appendf(text, " after %u attempts", row.attempts);
  text += '\n';
  if (row.command && !row.command->command.empty()) {
    appendf(text, "             command %s\n", row.command->command.c_str());
    appendf(text, "             logs    %s %s\n", row.command->stdout_path.c_str(),
            row.command->stderr_path.c_str());
  }
  return text;
}

/// An export written over the journal itself would replace the farm's results (and a running
/// farm would go on appending to a file no longer there): refused.
void refuse_same_file(const std::string& journal, const std::string& out) {
  struct stat a {};
  struct stat b {};
  if (::stat(journal.c_str(), &a) == 0 && ::stat(out.c_str(), &b) == 0 && a.st_dev == b.st_dev &&
      a.st_ino == b.st_ino) {
    throw UsageError("--export " + out + " is the journal itself; choose another file");
  }
}

std::string running_text(const io::JournalSummary& s) {
  if (!s.running) return "unknown (the file system cannot say)";
  if (!*s.running) return "no";
  return s.tail_being_written ? "yes (a record is being written)" : "yes";
}

std::string summary_text(const io::JournalSummary& s,
                         const std::vector<workloads::JournalRow>& failures) {
  std::string text;
  appendf(text, "parakit journal %s: %s, format %u, task list %s\n", s.path.c_str(),
          s.header.kind.c_str(), static_cast<unsigned>(s.header.version),
          hex64(s.header.identity).c_str());
  appendf(text, "  tasks      %" PRIu64 "\n", s.tasks);
  appendf(text,
          "  done       %" PRIu64 "  failed %" PRIu64 " (timed out %" PRIu64
          ")  interrupted %" PRIu64 "  not run %" PRIu64 "\n",
          s.done, s.failed, s.timed_out, s.interrupted, s.not_run);
  appendf(text, "  running    %s\n", running_text(s).c_str());
  if (s.records == 0) {
    text += "  records    none yet\n";
  } else if (!s.last_completed_ns) {
    text += "  times      not recorded (journal format 1)\n";
  } else {
    appendf(text, "  records    %" PRIu64 ", from %s to %s\n", s.records,
            iso_time(*s.first_completed_ns).c_str(), iso_time(*s.last_completed_ns).c_str());
  }
  if (s.rate) appendf(text, "  throughput %.4g tasks/s\n", *s.rate);
  if (s.eta_seconds) appendf(text, "  eta        %.0f s\n", *s.eta_seconds);
  for (const auto& row : failures) text += failure_text(row);
  if (s.failed > failures.size()) {
    appendf(text, "  ...        %" PRIu64 " more failed (--failures, --export)\n",
            s.failed - failures.size());
  }
  return text;
}

int run_journal(const JournalArgs& args) {
  if (!args.export_to.empty() && args.export_to[0] != "csv" && args.export_to[0] != "jsonl") {
    throw UsageError("--export must be csv or jsonl, not '" + args.export_to[0] + "'");
  }
  if (launcher_rank() != 0) return kExitOk;  // a local report: launcher rank 0 prints
  io::JournalSummaryOptions options;
  options.failures = args.failures;
  io::JournalSummary summary;
  nlohmann::json exported;
  if (args.export_to.empty()) {
    summary = io::summarize_journal(args.path, options);
  } else {
    const io::JournalHeader header = io::read_journal_header(args.path);
    refuse_same_file(args.path, args.export_to[1]);
    RowWriter writer(args.export_to[0], args.export_to[1],
                     workloads::journal_result_type(header.kind));
    summary = workloads::read_journal_rows(
        args.path, [&](const workloads::JournalRow& row) { writer.add(row); }, options);
    writer.commit();
    exported = {
        {"format", args.export_to[0]}, {"path", args.export_to[1]}, {"rows", writer.rows()}};
  }
  std::vector<workloads::JournalRow> failures;
  for (const auto& f : summary.first_failures) {
    failures.push_back(workloads::journal_row(summary.header, summary.path, f));
  }
  if (!summary.scan.warning.empty() && !summary.tail_being_written) {
    std::fprintf(stderr, "parakit: warning: %s\n", in_cli_terms(summary.scan.warning).c_str());
  }
  if (args.json) {
    nlohmann::json out = summary_json(summary, failures);
    if (!exported.is_null()) out["export"] = exported;
    print_json(out);
  } else {
    std::string text = summary_text(summary, failures);
    if (!exported.is_null()) {
      appendf(text, "  exported   %" PRIu64 " tasks to %s\n", exported["rows"].get<std::uint64_t>(),
              args.export_to[1].c_str());
    }
    std::fputs(text.c_str(), stdout);
  }
  return kExitOk;
}

}  // namespace

Subcommand add_journal_command(CLI::App& root) {
  auto args = std::make_shared<JournalArgs>();
  CLI::App* command = root.add_subcommand(
      "journal", "what a farm's journal holds: counts, failures, throughput, ETA; export");
  command->add_option("file", args->path, "the journal (farm --journal)")->required();
  command->add_flag("--json", args->json, "print one JSON object on stdout");
  command
      ->add_option("--export", args->export_to,
                   "write one row per task (id, status, attempts, times, result) as csv or jsonl")
      ->expected(2)
      ->type_name("FORMAT FILE");
  command->add_option("--failures", args->failures, "how many failures to show (lowest ids)")
      ->capture_default_str()
      ->check(non_negative());
  return {command, [args] { return run_journal(*args); }};
}

}  // namespace parakit::cli
