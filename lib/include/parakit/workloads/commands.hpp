// Shell commands as farm tasks (a file of commands, one per line, like the TACC launcher, GNU
// parallel or disBatch): reading the commands file, running one command with its output in
// per-task log files, and GNU parallel's --joblog. Everything here is safe to call from several
// threads at once: nothing changes process-wide state (cwd, umask, signal handlers or masks).
#pragma once

#include <atomic>
#include <boost/serialization/string.hpp>
#include <boost/serialization/version.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "parakit/core/task_status.hpp"
#include "parakit/sys/unique_fd.hpp"

namespace parakit::workloads {

/// The longest command line accepted, in bytes: Linux refuses a single exec argument of
/// MAX_ARG_STRLEN (131072) bytes or more, counting its terminating NUL.
inline constexpr std::size_t kMaxCommandBytes = 131071;

/// One line of the commands file = one farm task.
struct CommandTask {
  std::uint64_t id = 0;  ///< 0-based line number in the file
  std::string command;

  template <class Archive>
  void serialize(Archive& ar, unsigned /*version*/) {
    ar& id& command;
  }
};

struct CommandsFile {
  std::vector<CommandTask> tasks;  ///< in line order
  std::uint64_t lines = 0;         ///< lines in the file (a final line needs no newline)
};

/// Reads `path`: each line is one command. Blank lines and lines whose first non-blank character
/// is '#' are skipped but keep the numbering (ids are 0-based line numbers). A trailing carriage
/// return and a leading UTF-8 byte-order mark are dropped. Reads at most one line's worth of
/// memory beyond the commands themselves, so a huge single-line file fails after
/// kMaxCommandBytes bytes.
/// Throws InputError naming the file (and the 1-based line where relevant) when it is missing or
/// unreadable, a directory, has no commands, has a line longer than kMaxCommandBytes, or
/// contains a NUL byte.
CommandsFile read_commands_file(const std::string& path);

/// io::hash_bytes (XXH3-64) of the command's bytes: the same on every run and machine. Used
/// to refuse a commands file that changed under the same line numbers.
std::uint64_t command_hash(std::string_view command) noexcept;

/// Where a command runs, for placeholders and PARAKIT_* variables.
struct Placeholders {
  std::uint64_t id = 0;  ///< the task id (0-based line number)
  int rank = 0;
  std::string host;
  int slot = 1;  ///< 1-based executor index on the rank
};

/// Replaces {id} (0-based), {#} (id + 1, GNU parallel's sequence number), {rank}, {host} and
/// {slot} (1-based). Unknown {...} and lone braces are left as they are; replaced text is not
/// scanned again.
std::string expand_placeholders(std::string_view text, const Placeholders& values);

struct CommandResult {
  /// ok: exit status 0. failed: nonzero exit, killed by a signal, or could not be started.
  /// timed_out: killed after CommandOptions::timeout_s. interrupted: killed on a stop.
  TaskStatus status = TaskStatus::ok;
  int exit_code = 0;      ///< exit status; -1 if killed by a signal, timed out or interrupted
  int signal = 0;         ///< the signal that ended the command's shell, 0 if none
  double start_time = 0;  ///< seconds since the Unix epoch
  double runtime = 0;     ///< seconds
  std::string host;
  int rank = 0;
  int slot = 1;
  std::uint64_t command_hash = 0;  ///< command_hash() of the task's (unexpanded) command
  /// The command line as run (placeholders expanded), and its log files (absolute paths;
  /// empty when it never started). Not in results recorded by parakit 0.1 (class version 0):
  /// those decode with them empty.
  std::string command;
  std::string stdout_path;
  std::string stderr_path;

  template <class Archive>
  void serialize(Archive& ar, unsigned version) {
    ar& status& exit_code& signal& start_time& runtime& host& rank& slot& command_hash;
    if (version >= 1) ar& command& stdout_path& stderr_path;
  }
};

struct CommandOptions {
  std::string logdir = "parakit-logs";  ///< may contain placeholders
  double timeout_s = 0;                 ///< 0: none
  double kill_grace_s = 2;              ///< SIGTERM -> SIGKILL delay for the process group
  /// When it becomes true, the running command's group is killed and the result is
  /// `interrupted`. Already true: the command is not started at all.
  const std::atomic<bool>* interrupt = nullptr;
  /// Sleep on a pidfd while waiting where the kernel has them (Linux 5.3+). false: poll
  /// waitpid with a backoff, as on older kernels (for tests).
  bool use_pidfd = true;
};

/// Creates `logdir` (mkdir -p) and checks that a file can be created in it. Throws
/// InputError naming the directory otherwise (run once before the tasks start).
void check_logdir(const std::string& logdir);

/// The log files of task `id`: `<logdir>/<id / 1000>/<id>.out` and `.err`.
std::string command_stdout_path(const std::string& logdir, std::uint64_t id);
std::string command_stderr_path(const std::string& logdir, std::uint64_t id);

/// Runs `/bin/sh -c -- <expanded command>` (posix_spawn) as the leader of a new process group,
/// with stdin from /dev/null, stdout and stderr truncated into the task's log files under
/// `options.logdir` (placeholders expanded, directories created as by mkdir -p), no other file
/// descriptors, an empty signal mask, default SIGPIPE/SIGCHLD/SIGINT/SIGTERM dispositions, and
/// this process's environment plus PARAKIT_TASK_ID ({id}), PARAKIT_SEQ ({#}), PARAKIT_RANK,
/// PARAKIT_HOST and PARAKIT_SLOT (replacing inherited values).
///
/// Waits on a pidfd (else by polling waitpid(WNOHANG) with a backoff from 0.2 ms to 10 ms),
/// looking at the interrupt flag at least every 10 ms. On timeout or
/// interrupt the whole group gets SIGTERM, then SIGKILL after `kill_grace_s` (at once when the
/// group is already gone); once the shell has exited no member of its group survives
/// run_command. Status: ok for exit 0; failed for a nonzero exit, death by a signal, or a
/// spawn failure (exit_code 127, reason written to the .err file); timed_out / interrupted
/// with exit_code -1.
///
/// Throws InputError when the log directory or files cannot be created (a user error that would
/// hit every task), InternalError when the child cannot be waited for.
CommandResult run_command(const CommandTask& task, const Placeholders& where,
                          const CommandOptions& options);

/// The first line of a joblog (GNU parallel's --joblog), without the newline.
inline constexpr std::string_view kJobLogHeader =
    "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand";

/// One joblog line with its newline, as GNU parallel writes it: Seq (id + 1), Host, Starttime
/// ("%.3f" epoch seconds), JobRuntime ("%10.3f", truncated to milliseconds), Send 0, Receive
/// 0, Exitval (the exit status; -1 when timed out or interrupted; 128 + signal when killed by
/// a signal), Signal, and the command with placeholders expanded (newlines as spaces).
std::string joblog_line(const CommandTask& task, const CommandResult& result);

/// A GNU parallel --joblog file, written one whole line per write(2) (O_APPEND), so several
/// threads may add() at once and a crash leaves at most a torn last line.
class JobLog {
 public:
  /// Creates or truncates `path` and writes the header. With `append`, an existing non-empty
  /// file is continued without a second header (after a newline if its last line is torn).
  /// Throws InputError naming `path`.
  JobLog(const std::string& path, bool append);
  ~JobLog();
  JobLog(const JobLog&) = delete;
  JobLog& operator=(const JobLog&) = delete;

  /// Appends joblog_line(task, result). Throws InputError on a write error.
  void add(const CommandTask& task, const CommandResult& result);

  const std::string& path() const noexcept { return path_; }

 private:
  void write_all(std::string_view text);

  std::string path_;
  sys::UniqueFd fd_;
};

}  // namespace parakit::workloads

// Version 1 added the command line and the log paths; journals keep version 0 records.
BOOST_CLASS_VERSION(parakit::workloads::CommandResult, 1)
