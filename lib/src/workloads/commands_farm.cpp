#include "parakit/workloads/commands_farm.hpp"

#include <unistd.h>

#include <algorithm>
#include <boost/serialization/map.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "parakit/backend/collective.hpp"
#include "parakit/core/error.hpp"
#include "parakit/core/system.hpp"
#include "parakit/io/atomic_file.hpp"
#include "parakit/io/hash.hpp"
#include "parakit/io/journal.hpp"
#include "parakit/patterns/farm.hpp"
#include "parakit/workloads/commands.hpp"

namespace parakit::workloads {
namespace {

/// The farm's task list: indexed by line number; comment and blank lines are excluded.
struct CommandLines {
  std::vector<CommandTask> by_line;
  std::uint64_t size() const noexcept { return by_line.size(); }
  const CommandTask& operator[](std::uint64_t i) const { return by_line[i]; }
};

/// Reads the commands file on rank 0 into the task list (by line number; lines without a
/// command go into options.exclude) and opens the job log there; a failure reaches every rank.
CommandLines read_command_lines(const Comm& comm, const CommandsRunOptions& run,
                                FarmOptions& options, std::optional<JobLog>& joblog) {
  CommandLines lines;
  collectively(comm, [&] {
    if (comm.rank() != 0) return;
    CommandsFile file = read_commands_file(run.file);
    lines.by_line.resize(file.lines);
    options.exclude.assign(file.lines, true);
    for (auto& task : file.tasks) {
      options.exclude[task.id] = false;
      lines.by_line[task.id] = std::move(task);
    }
    if (!run.joblog.empty()) joblog.emplace(run.joblog, options.journal.resume);
  });
  return lines;
}

/// The farm's hooks for commands: a result's status is its command's, its digest leaves out
/// what varies from run to run, and a resumed result must be of the same command (unless
/// `force`), since the commands file may have been edited in between.
FarmHooks<CommandResult> command_hooks(const CommandLines& lines, const std::string& file,
                                       bool force) {
  FarmHooks<CommandResult> hooks;
  hooks.status = [](const CommandResult& r) { return r.status; };
  // Timings and hosts vary from run to run; the command and what it did do not.
  hooks.digest = [&lines](std::uint64_t id, const CommandResult& r) {
    std::byte bytes[17];
    std::byte* p = io::put_le(bytes, command_hash(lines.by_line[id].command));
    p = io::put_le(p, static_cast<std::uint32_t>(r.exit_code));
    p = io::put_le(p, static_cast<std::uint32_t>(r.signal));
    io::put_le(p, static_cast<std::uint8_t>(r.status));
    return io::hash_bytes(bytes);
  };
  hooks.runtime = [](const CommandResult& r) { return r.runtime; };
  hooks.check_resumed = [&lines, file, force](std::uint64_t id, const CommandResult& r,
                                              const io::JournalHeader& header) {
    const std::string& command = lines.by_line[id].command;
    // A version 1 journal holds FNV-1a hashes of its commands (and XXH3 ones for the
    // commands a newer parakit appended to it).
    if (force || r.command_hash == command_hash(command) ||
        (header.version == 1 &&
         r.command_hash == io::legacy_fnv1a64(std::as_bytes(std::span(command))))) {
      return;
    }
    throw InputError(
        "commands file " + file + " changed: line " + std::to_string(id + 1) +
        " is not the command the journal recorded; use FarmJournalOptions::force_resume "
        "to accept");
  };
  return hooks;
}

/// Writes <journal>.failed on rank 0: the commands that failed for good, one per line in file
/// order, ready to rerun. Returns its path on every rank (empty without a journal).
std::string write_failed_list(const Comm& comm, const std::string& journal,
                              std::vector<std::uint64_t> failed_ids, const CommandLines& lines) {
  std::string failed_list;
  collectively(comm, [&] {
    if (comm.rank() != 0 || journal.empty()) return;
    const std::string path = journal + ".failed";
    std::string text;
    std::sort(failed_ids.begin(), failed_ids.end());
    for (std::uint64_t id : failed_ids) text += lines.by_line[id].command + "\n";
    io::write_file_atomic(path, text);
    failed_list = path;
  });
  return comm.broadcast(failed_list, 0);
}

}  // namespace

CommandsReport run_commands(Team& team, const CommandsRunOptions& run, FarmOptions options) {
  const Comm& comm = team.comm();
  std::optional<JobLog> joblog;
  const CommandLines lines = read_command_lines(comm, run, options, joblog);
  options.dedicated_executors = true;  // a command blocks its executor; messaging must not wait
  options.journal.kind = "farm commands";
  options.journal.identity_key = "commands";  // lines are checked one by one on resume

  const std::string host = host_name();
  CommandOptions command_options;
  command_options.logdir = run.logdir;
  command_options.timeout_s = run.timeout_s;
  command_options.kill_grace_s = run.kill_grace_s;

  // A log directory no task can write to is the user's error, not every task's failure:
  // check it on every rank (each may expand {rank} and {host} differently) before starting.
  collectively(comm, [&] {
    const std::string dir = expand_placeholders(run.logdir, Placeholders{0, comm.rank(), host, 1});
    check_logdir(dir);
  });

  CommandsReport out;
  std::vector<std::uint64_t> failed_ids;
  const FarmReport report = farm(
      team, lines,
      [&](const CommandTask& task, const TaskContext& context) {
        CommandOptions mine = command_options;
        mine.interrupt = context.stopping_flag;
        CommandResult result =
            run_command(task, Placeholders{task.id, context.rank, host, context.slot}, mine);
        result.command_hash = command_hash(task.command);
        return result;
      },
      [&](const FarmItem<CommandResult>& item) {
        if (item.status == TaskStatus::interrupted) return;  // rerun on resume, not logged
        const int code = item.result != nullptr ? item.result->exit_code : -1;
        ++out.exit_codes[item.status == TaskStatus::ok ? 0 : code];
        if (item.status != TaskStatus::ok) failed_ids.push_back(item.id);
        if (joblog && item.result != nullptr && !item.resumed) {
          joblog->add(lines.by_line[item.id], *item.result);
        }
      },
      options, command_hooks(lines, run.file, options.journal.force_resume));
  out.report = report;
  out.failed_list = write_failed_list(comm, options.journal.path, std::move(failed_ids), lines);
  out.exit_codes = comm.broadcast(out.exit_codes, 0);
  return out;
}

}  // namespace parakit::workloads
