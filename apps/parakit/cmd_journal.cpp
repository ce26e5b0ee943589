// parakit journal: what a farm's journal says (counts, first failures, throughput, ETA while
// the farm runs), and its tasks exported as CSV or JSON lines. Reads only; never waits for
// or disturbs the farm writing it.
#include <cinttypes>
#include <cstdio>
#include <ctime>
#include <memory>
#include <string>
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

/// "2026-12-08T02:04:16.123Z" (UTC, milliseconds).
std::string iso_time(std::int64_t ns) {
  const std::time_t seconds = static_cast<std::time_t>(ns / 1000000000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char buffer[48];
  const std::size_t n = std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%S", &utc);
  std::snprintf(buffer + n, sizeof buffer - n, ".%03dZ", static_cast<int>(ns / 1000000 % 1000));
  return buffer;
}

nlohmann::json optional_time(const std::optional<std::int64_t>& ns) {
  return ns ? nlohmann::json(iso_time(*ns)) : nlohmann::json(nullptr);
}

/// A row as one JSON object: the export's lines and the summary's failures.
nlohmann::json row_json(const workloads::JournalRow& row, workloads::JournalResultType type) {
  const bool timed = row.completed_ns != 0;
  nlohmann::json out{
      {"id", row.id},
      {"status", to_string(row.status)},
      {"attempts", row.attempts != 0 ? nlohmann::json(row.attempts) : nlohmann::json(nullptr)},
      {"completed_ns", timed ? nlohmann::json(row.completed_ns) : nlohmann::json(nullptr)},
      {"completed", timed ? nlohmann::json(iso_time(row.completed_ns)) : nlohmann::json(nullptr)},
      {"runtime_seconds", row.runtime_ns != 0
                              ? json_double(static_cast<double>(row.runtime_ns) * 1e-9)
                              : nlohmann::json(nullptr)}};
  if (type == workloads::JournalResultType::command) {
    const auto& c = row.command;
    const auto text = [&](const std::string& value) {
      return c && !value.empty() ? nlohmann::json(value) : nlohmann::json(nullptr);
    };
    out["exit_code"] = c ? nlohmann::json(c->exit_code) : nlohmann::json(nullptr);
    out["signal"] = c ? nlohmann::json(c->signal) : nlohmann::json(nullptr);
    out["host"] = c ? text(c->host) : nlohmann::json(nullptr);
    out["command"] = c ? text(c->command) : nlohmann::json(nullptr);
    out["stdout"] = c ? text(c->stdout_path) : nlohmann::json(nullptr);
    out["stderr"] = c ? text(c->stderr_path) : nlohmann::json(nullptr);
  } else {
    out["result"] = row.error.empty() ? nlohmann::json(row.result) : nlohmann::json(nullptr);
  }
  out["error"] = row.error.empty() ? nlohmann::json(nullptr) : nlohmann::json(row.error);
  return out;
}

/// One CSV field: quoted when it holds a comma, quote or line break.
std::string csv_field(const nlohmann::json& value) {
  if (value.is_null()) return "";
  std::string text = value.is_string() ? value.get<std::string>() : value.dump();
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::vector<std::string> csv_columns(workloads::JournalResultType type) {
  std::vector<std::string> columns{"id",           "status",    "attempts",
                                   "completed_ns", "completed", "runtime_seconds"};
  if (type == workloads::JournalResultType::command) {
    for (const char* name : {"exit_code", "signal", "host", "command", "stdout", "stderr"}) {
      columns.emplace_back(name);
    }
  } else {
    columns.emplace_back("result");
  }
  columns.emplace_back("error");
  return columns;
}

/// Writes the rows to an AtomicFile in 1 MiB writes.
class RowWriter {
 public:
  RowWriter(const std::string& format, const std::string& path, workloads::JournalResultType type)
      : csv_(format == "csv"), type_(type), file_(path), columns_(csv_columns(type)) {
    if (csv_) {
      for (std::size_t i = 0; i < columns_.size(); ++i) buffer_ += (i ? "," : "") + columns_[i];
      buffer_ += '\n';
    }
  }
  void add(const workloads::JournalRow& row) {
    const nlohmann::json value = row_json(row, type_);
    if (csv_) {
      for (std::size_t i = 0; i < columns_.size(); ++i) {
        if (i != 0) buffer_ += ',';
        buffer_ += csv_field(value[columns_[i]]);
      }
      buffer_ += '\n';
    } else {
      buffer_ += value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      buffer_ += '\n';
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
  std::vector<std::string> columns_;
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
  if (!s.last_completed_ns) {
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
