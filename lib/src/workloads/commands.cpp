#include "parakit/workloads/commands.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <optional>
#include <system_error>
#include <utility>

#include "parakit/core/error.hpp"
#include "parakit/core/parse.hpp"
#include "parakit/io/hash.hpp"
#include "parakit/sys/error_text.hpp"
#include "parakit/sys/file_io.hpp"
#include "parakit/sys/subprocess.hpp"
#include "parakit/sys/unique_fd.hpp"

extern "C" char** environ;  // <unistd.h> declares it only with _GNU_SOURCE

namespace parakit::workloads {
namespace {

using sys::errno_text;

/// Whether a line holds no command: empty, only blanks, or a '#' comment.
bool skipped_line(std::string_view line) noexcept {
  for (const char c : line) {
    if (is_blank(c)) continue;
    return c == '#';
  }
  return true;
}

// ---- running --------------------------------------------------------------------------------

double wall_clock_seconds() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

/// mkdir -p that tolerates other threads and processes creating the same directories.
void make_directories(const std::string& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return;
    throw InputError("cannot create log directory " + dir + ": it exists and is not a directory");
  }
  std::size_t pos = 0;
  while (pos != std::string::npos) {
    pos = dir.find('/', pos + 1);
    const std::string partial = dir.substr(0, pos);
    if (partial.empty() || partial.back() == '/') continue;  // "//" or a trailing '/'
    if (::mkdir(partial.c_str(), 0777) == 0) continue;
    const int err = errno;
    if (err == EEXIST && ::stat(partial.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) continue;
    throw InputError("cannot create log directory " + partial + ": " +
                     errno_text(err == EEXIST ? ENOTDIR : err));
  }
}

bool has_prefix(const char* entry, std::string_view prefix) noexcept {
  return std::strncmp(entry, prefix.data(), prefix.size()) == 0;
}

/// environ without inherited PARAKIT_{TASK_ID,SEQ,RANK,HOST,SLOT}, then ours.
std::vector<std::string> child_environment(const Placeholders& where) {
  static constexpr std::string_view kOurs[] = {
      "PARAKIT_TASK_ID=", "PARAKIT_SEQ=", "PARAKIT_RANK=", "PARAKIT_HOST=", "PARAKIT_SLOT="};
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    if (std::any_of(std::begin(kOurs), std::end(kOurs),
                    [&](std::string_view p) { return has_prefix(*e, p); })) {
      continue;
    }
    env.emplace_back(*e);
  }
  env.push_back("PARAKIT_TASK_ID=" + std::to_string(where.id));
  env.push_back("PARAKIT_SEQ=" + std::to_string(where.id + 1));
  env.push_back("PARAKIT_RANK=" + std::to_string(where.rank));
  env.push_back("PARAKIT_HOST=" + where.host);
  env.push_back("PARAKIT_SLOT=" + std::to_string(where.slot));
  return env;
}

}  // namespace

// ---- the commands file --------------------------------------------------------------------

CommandsFile read_commands_file(const std::string& path) {
  const std::string what = "commands file " + path;
  const sys::UniqueFd fd = sys::open_fd(path, O_RDONLY);
  if (!fd) {
    const int err = errno;
    throw InputError("cannot open " + what + ": " + errno_text(err));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    const int err = errno;
    throw InputError("cannot read " + what + ": " + errno_text(err));
  }
  if (S_ISDIR(st.st_mode)) throw InputError(what + " is a directory");

  CommandsFile file;
  std::uint64_t line_index = 0;  // 0-based number of the line being read
  std::string line;              // never longer than kMaxCommandBytes + 1 ('\r')
  bool pending = false;          // bytes of a line without its newline yet
  const auto line_error = [&](const std::string& problem) {
    return InputError(what + ": line " + std::to_string(line_index + 1) + " " + problem);
  };
  const auto finish_line = [&] {
    if (line_index == 0 && line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.size() > kMaxCommandBytes) {
      throw line_error("is longer than " + std::to_string(kMaxCommandBytes) + " bytes");
    }
    if (!skipped_line(line)) file.tasks.push_back({line_index, line});
    ++line_index;
    line.clear();
    pending = false;
  };

  std::vector<char> buffer(std::size_t{1} << 16);
  for (;;) {
    const ssize_t n = ::read(fd.get(), buffer.data(), buffer.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      throw InputError("cannot read " + what + ": " + errno_text(err));
    }
    if (n == 0) break;
    const char* p = buffer.data();
    const char* const end = p + n;
    while (p < end) {
      const auto* newline = static_cast<const char*>(std::memchr(p, '\n', end - p));
      const char* piece_end = newline != nullptr ? newline : end;
      const auto piece = static_cast<std::size_t>(piece_end - p);
      if (std::memchr(p, '\0', piece) != nullptr) {
        throw line_error("contains a NUL byte (not a text file?)");
      }
      if (line.size() + piece > kMaxCommandBytes + 1) {
        throw line_error("is longer than " + std::to_string(kMaxCommandBytes) + " bytes");
      }
      line.append(p, piece);
      pending = true;
      if (newline == nullptr) break;
      finish_line();
      p = newline + 1;
    }
  }
  if (pending && !line.empty()) finish_line();
  file.lines = line_index;
  if (file.tasks.empty()) throw InputError(what + " has no commands");
  return file;
}

std::uint64_t command_hash(std::string_view command) noexcept {
  return io::hash_bytes(command);
}

std::string expand_placeholders(std::string_view text, const Placeholders& values) {
  std::string out;
  out.reserve(text.size() + 16);
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t brace = text.find('{', i);
    if (brace == std::string_view::npos) {
      out.append(text.substr(i));
      break;
    }
    out.append(text.substr(i, brace - i));
    const std::string_view rest = text.substr(brace);
    const auto replace = [&](std::string_view token, const std::string& value) {
      if (rest.substr(0, token.size()) != token) return false;
      out += value;
      i = brace + token.size();
      return true;
    };
    if (replace("{id}", std::to_string(values.id)) ||
        replace("{#}", std::to_string(values.id + 1)) ||
        replace("{rank}", std::to_string(values.rank)) || replace("{host}", values.host) ||
        replace("{slot}", std::to_string(values.slot))) {
      continue;
    }
    out += '{';
    i = brace + 1;
  }
  return out;
}

// ---- running one command --------------------------------------------------------------------

void check_logdir(const std::string& logdir) {
  make_directories(logdir);
  const std::string probe = logdir + "/.parakit-probe." + std::to_string(::getpid());
  if (!sys::open_fd(probe, O_WRONLY | O_CREAT | O_EXCL, 0600)) {
    const int err = errno;
    throw InputError("cannot write in log directory " + logdir + ": " + errno_text(err));
  }
  ::unlink(probe.c_str());
}

std::string command_stdout_path(const std::string& logdir, std::uint64_t id) {
  return logdir + "/" + std::to_string(id / 1000) + "/" + std::to_string(id) + ".out";
}

std::string command_stderr_path(const std::string& logdir, std::uint64_t id) {
  return logdir + "/" + std::to_string(id / 1000) + "/" + std::to_string(id) + ".err";
}

namespace {

/// A command's stdio: /dev/null for stdin, and its task's two log files.
struct CommandStdio {
  sys::UniqueFd in, out, err;
};

/// Opens the task's log files (creating their directory) and /dev/null. A failure here is the
/// user's (the log directory is not writable) and would hit every task: InputError.
CommandStdio open_stdio(const std::string& logdir, std::uint64_t id) {
  make_directories(logdir + "/" + std::to_string(id / 1000));
  const auto open_log = [](const std::string& path) {
    sys::UniqueFd fd = sys::open_fd_above_stdio(path, O_WRONLY | O_CREAT | O_TRUNC, 0666);
    if (!fd) {
      const int err = errno;
      throw InputError("cannot create log file " + path + ": " + errno_text(err));
    }
    return fd;
  };
  CommandStdio stdio;
  stdio.out = open_log(command_stdout_path(logdir, id));
  stdio.err = open_log(command_stderr_path(logdir, id));
  stdio.in = sys::open_fd_above_stdio("/dev/null", O_RDONLY);
  if (!stdio.in) {
    const int err = errno;
    throw InternalError("cannot open /dev/null: " + errno_text(err));
  }
  return stdio;
}

/// The task's command for /bin/sh, with its placeholders expanded and our PARAKIT_*
/// variables in its environment.
sys::SpawnOptions command_spawn(const CommandTask& task, const Placeholders& here,
                                const CommandStdio& stdio) {
  sys::SpawnOptions spawn;
  // "--": a command starting with '-' is not an option of sh.
  spawn.argv = {"/bin/sh", "-c", "--", expand_placeholders(task.command, here)};
  spawn.environment = child_environment(here);
  spawn.stdin_fd = stdio.in.get();
  spawn.stdout_fd = stdio.out.get();
  spawn.stderr_fd = stdio.err.get();
  return spawn;
}

/// Records what ran and where its output went (absolute, to be found from any directory).
void name_command(CommandResult& result, const std::string& command, const std::string& logdir,
                  std::uint64_t id) {
  std::string dir = logdir;
  if (!logdir.starts_with('/')) {
    std::error_code failed;
    const std::filesystem::path absolute = std::filesystem::absolute(logdir, failed);
    if (!failed) dir = absolute.string();  // else no working directory any more: as given
  }
  result.command = command;
  result.stdout_path = command_stdout_path(dir, id);
  result.stderr_path = command_stderr_path(dir, id);
}

/// Starts the child; when /bin/sh cannot be started, says why in the task's stderr log
/// (`err_fd`) and returns none, so that one task fails rather than the farm.
std::optional<sys::Subprocess> start_child(const sys::SpawnOptions& spawn, int err_fd,
                                           std::uint64_t id) {
  std::optional<sys::Subprocess> child;
  try {
    child.emplace(spawn);
  } catch (const std::system_error& error) {
    (void)sys::write_all(err_fd, "parakit: cannot run /bin/sh for task " + std::to_string(id) +
                                     ": " + errno_text(error.code().value()) + "\n");
  }
  return child;
}

/// How long the child may run (the timeout counts from its start) and what stops it.
sys::WaitLimits command_limits(const CommandOptions& options, const sys::Subprocess& child) {
  sys::WaitLimits limits;
  limits.stop = options.interrupt;
  limits.kill_grace_s = options.kill_grace_s;
  limits.use_pidfd = options.use_pidfd;
  if (options.timeout_s > 0) {
    limits.deadline =
        child.started() + std::chrono::duration_cast<sys::Subprocess::Clock::duration>(
                              std::chrono::duration<double>(std::min(options.timeout_s, 1e9)));
  }
  return limits;
}

/// The result's status, exit code and signal from how the child ended: killed on the timeout
/// or a stop, its exit code -1; else ok exactly when it exited with 0.
void record_ending(const sys::ExitInfo& exit, CommandResult& result) {
  result.runtime = exit.seconds;
  result.signal = exit.signal();
  switch (exit.ending) {
    case sys::ExitInfo::Ending::timed_out:
      result.status = TaskStatus::timed_out;
      result.exit_code = -1;
      break;
    case sys::ExitInfo::Ending::stopped:
      result.status = TaskStatus::interrupted;
      result.exit_code = -1;
      break;
    case sys::ExitInfo::Ending::exited:
      result.exit_code = exit.exit_code();
      result.status = result.exit_code == 0 ? TaskStatus::ok : TaskStatus::failed;
      break;
  }
}

}  // namespace

CommandResult run_command(const CommandTask& task, const Placeholders& where,
                          const CommandOptions& options) {
  Placeholders here = where;
  here.id = task.id;
  CommandResult result;
  result.host = here.host;
  result.rank = here.rank;
  result.slot = here.slot;
  result.command_hash = command_hash(task.command);
  result.start_time = wall_clock_seconds();

  if (options.interrupt != nullptr && options.interrupt->load(std::memory_order_relaxed)) {
    result.status = TaskStatus::interrupted;
    result.exit_code = -1;
    return result;
  }

  const std::string logdir = expand_placeholders(options.logdir, here);
  const CommandStdio stdio = open_stdio(logdir, task.id);
  const sys::SpawnOptions spawn = command_spawn(task, here, stdio);
  name_command(result, spawn.argv.back(), logdir, task.id);
  result.start_time = wall_clock_seconds();
  std::optional<sys::Subprocess> child = start_child(spawn, stdio.err.get(), task.id);
  if (!child) {
    result.status = TaskStatus::failed;
    result.exit_code = 127;
    return result;
  }
  sys::ExitInfo exit;
  try {
    exit = child->wait(command_limits(options, *child));
  } catch (const std::system_error& error) {
    throw InternalError("waitpid for task " + std::to_string(task.id) + ": " +
                        errno_text(error.code().value()));
  }
  record_ending(exit, result);
  return result;
}

// ---- the joblog ---------------------------------------------------------------------------

std::string joblog_line(const CommandTask& task, const CommandResult& result) {
  int exitval = result.exit_code;
  if (result.status == TaskStatus::timed_out || result.status == TaskStatus::interrupted) {
    exitval = -1;  // GNU parallel: Job::kill() sets -1 before reaping
  } else if (result.signal != 0) {
    exitval = 128 + result.signal;  // GNU parallel: "128 | $?" for a job killed by a signal
  }
  // JobRuntime is truncated to milliseconds, then printed "%10.3f", as GNU parallel does.
  const double runtime_ms = std::max(0.0, std::floor(result.runtime * 1000.0 + 1e-6));
  std::string command = expand_placeholders(
      task.command, Placeholders{task.id, result.rank, result.host, result.slot});
  std::replace(command.begin(), command.end(), '\n', ' ');

  char numbers[128];
  std::snprintf(numbers, sizeof numbers, "%.3f\t%10.3f\t0\t0\t%d\t%d\t", result.start_time,
                runtime_ms / 1000.0, exitval, result.signal);
  std::string line = std::to_string(task.id + 1);
  line += '\t';
  line += result.host;
  line += '\t';
  line += numbers;
  line += command;
  line += '\n';
  return line;
}

JobLog::JobLog(const std::string& path, bool append) : path_(path) {
  // Read access only to look at the last byte of a file being continued.
  const int flags = O_CREAT | (append ? O_RDWR | O_APPEND : O_WRONLY | O_TRUNC);
  fd_ = sys::open_fd(path_, flags, 0666);
  if (!fd_) {
    const int err = errno;
    throw InputError("cannot open joblog " + path_ + ": " + errno_text(err));
  }
  struct stat st {};
  if (::fstat(fd_.get(), &st) != 0) {
    const int err = errno;
    throw InputError("cannot open joblog " + path_ + ": " + errno_text(err));
  }
  if (!append || st.st_size == 0) {
    write_all(std::string(kJobLogHeader) + "\n");
    return;
  }
  char last = '\n';
  if (::pread(fd_.get(), &last, 1, st.st_size - 1) == 1 && last != '\n') write_all("\n");
}

JobLog::~JobLog() = default;

void JobLog::add(const CommandTask& task, const CommandResult& result) {
  write_all(joblog_line(task, result));
}

void JobLog::write_all(std::string_view text) {
  if (const int err = sys::write_all(fd_.get(), text); err != 0) {
    throw InputError("cannot write joblog " + path_ + ": " + errno_text(err));
  }
}

}  // namespace parakit::workloads
