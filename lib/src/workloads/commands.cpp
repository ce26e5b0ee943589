#include "parakit/workloads/commands.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <thread>
#include <utility>

#include "parakit/core/error.hpp"

extern "C" char** environ;  // <unistd.h> declares it only with _GNU_SOURCE

namespace parakit::workloads {
namespace {

std::string errno_text(int err) {
  return std::strerror(err);
}

/// Closes a file descriptor at scope exit.
class FdGuard {
 public:
  explicit FdGuard(int fd = -1) noexcept : fd_(fd) {}
  ~FdGuard() {
    if (fd_ >= 0) ::close(fd_);
  }
  FdGuard(const FdGuard&) = delete;
  FdGuard& operator=(const FdGuard&) = delete;
  int get() const noexcept { return fd_; }

 private:
  int fd_;
};

bool is_blank(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\v' || c == '\f';
}

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

/// An O_CLOEXEC descriptor numbered 3 or above, so the child's dup2 onto 0, 1 and 2 always
/// makes a fresh, inheritable copy (dup2 onto itself would keep close-on-exec set).
int open_above_stdio(const char* path, int flags, mode_t mode) {
  int fd = ::open(path, flags | O_CLOEXEC, mode);
  if (fd < 0 || fd > 2) return fd;
  const int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
  const int err = errno;
  ::close(fd);
  errno = err;
  return moved;
}

void write_best_effort(int fd, std::string_view text) noexcept {
  while (!text.empty()) {
    const ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    text.remove_prefix(static_cast<std::size_t>(n));
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

/// posix_spawn's attribute and file-action objects, destroyed at scope exit.
class SpawnSetup {
 public:
  SpawnSetup(int stdin_fd, int stdout_fd, int stderr_fd) {
    if (int rc = ::posix_spawnattr_init(&attr_); rc != 0) {
      throw InternalError("posix_spawnattr_init: " + errno_text(rc));
    }
    attr_ok_ = true;
    if (int rc = ::posix_spawn_file_actions_init(&actions_); rc != 0) {
      throw InternalError("posix_spawn_file_actions_init: " + errno_text(rc));
    }
    actions_ok_ = true;

    sigset_t empty;
    sigemptyset(&empty);
    sigset_t defaults;
    sigemptyset(&defaults);
    for (const int sig : {SIGPIPE, SIGCHLD, SIGINT, SIGTERM}) sigaddset(&defaults, sig);
    short flags = POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
    check(::posix_spawnattr_setflags(&attr_, flags), "setflags");
    check(::posix_spawnattr_setpgroup(&attr_, 0), "setpgroup");
    check(::posix_spawnattr_setsigmask(&attr_, &empty), "setsigmask");
    check(::posix_spawnattr_setsigdefault(&attr_, &defaults), "setsigdefault");

    check(::posix_spawn_file_actions_adddup2(&actions_, stdin_fd, 0), "adddup2");
    check(::posix_spawn_file_actions_adddup2(&actions_, stdout_fd, 1), "adddup2");
    check(::posix_spawn_file_actions_adddup2(&actions_, stderr_fd, 2), "adddup2");
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
    // Descriptors other libraries (MPI) opened without O_CLOEXEC stay out of user commands.
    check(::posix_spawn_file_actions_addclosefrom_np(&actions_, 3), "addclosefrom_np");
#endif
  }
  ~SpawnSetup() {
    if (actions_ok_) ::posix_spawn_file_actions_destroy(&actions_);
    if (attr_ok_) ::posix_spawnattr_destroy(&attr_);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;

  const posix_spawnattr_t* attr() const noexcept {
    return &attr_;
  }
  const posix_spawn_file_actions_t* actions() const noexcept {
    return &actions_;
  }

 private:
  static void check(int rc, const char* what) {
    if (rc != 0) throw InternalError(std::string("posix_spawn ") + what + ": " + errno_text(rc));
  }

  posix_spawnattr_t attr_{};
  posix_spawn_file_actions_t actions_{};
  bool attr_ok_ = false;
  bool actions_ok_ = false;
};

using Clock = std::chrono::steady_clock;

/// Seconds as a clock duration, clamped to [0, ~30 years] so huge options cannot overflow.
Clock::duration to_duration(double seconds) {
  const double clamped = std::clamp(seconds, 0.0, 1e9);
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(clamped));
}

/// A pidfd for `pid` (readable once it exits), or -1 where the kernel has none (< 5.3).
int open_pidfd(pid_t pid) noexcept {
#ifdef SYS_pidfd_open
  const long fd = ::syscall(SYS_pidfd_open, pid, 0);
  return fd < 0 ? -1 : static_cast<int>(fd);  // close-on-exec by definition
#else
  (void)pid;
  return -1;
#endif
}

/// Waits until `fd` is readable or `until` passes.
void wait_readable(int fd, Clock::time_point until) noexcept {
  const auto left = std::max(Clock::duration::zero(), until - Clock::now());
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(ns / 1000000000);
  ts.tv_nsec = static_cast<long>(ns % 1000000000);
  pollfd p{fd, POLLIN, 0};
  ::ppoll(&p, 1, &ts, nullptr);  // EINTR: the caller looks again
}

/// Sends `sig` to the process group; a group that is already gone is fine.
void signal_group(pid_t pgid, int sig) noexcept {
  ::kill(-pgid, sig);  // ESRCH: nobody left
}

/// Whether process `pid` (as named in /proc) is a live member of group `pgid`.
bool live_member_of(const char* pid, pid_t pgid) {
  const std::string path = std::string("/proc/") + pid + "/stat";
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[512];
  const ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return false;
  buf[n] = '\0';
  // "pid (comm) state ppid pgrp ...": comm may hold anything, so parse after the last ')'.
  const char* paren = std::strrchr(buf, ')');
  char state = 0;
  long ppid = 0;
  long pgrp = 0;
  if (paren == nullptr || std::sscanf(paren + 1, " %c %ld %ld", &state, &ppid, &pgrp) != 3) {
    return false;
  }
  return pgrp == pgid && state != 'Z' && state != 'X';
}

/// Whether any process of group `pgid` still runs. Zombies do not count: once the shell is
/// reaped its orphans belong to init (or a subreaper), which may be slow to reap them.
bool group_alive(pid_t pgid) {
  if (::kill(-pgid, 0) != 0 && errno == ESRCH) return false;
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return true;  // cannot tell: assume it runs
  bool alive = false;
  while (const dirent* entry = ::readdir(proc)) {
    if (entry->d_name[0] < '1' || entry->d_name[0] > '9') continue;
    if (live_member_of(entry->d_name, pgid)) {
      alive = true;
      break;
    }
  }
  ::closedir(proc);
  return alive;
}

}  // namespace

// ---- the commands file --------------------------------------------------------------------

CommandsFile read_commands_file(const std::string& path) {
  const std::string what = "commands file " + path;
  FdGuard fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
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
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (const char c : command) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ull;
  }
  return h;
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

std::string_view to_string(CommandStatus status) noexcept {
  switch (status) {
    case CommandStatus::ok:
      return "ok";
    case CommandStatus::failed:
      return "failed";
    case CommandStatus::timed_out:
      return "timed_out";
    case CommandStatus::interrupted:
      return "interrupted";
  }
  return "unknown";
}

// ---- running one command --------------------------------------------------------------------

void check_logdir(const std::string& logdir) {
  make_directories(logdir);
  const std::string probe = logdir + "/.parakit-probe." + std::to_string(::getpid());
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    const int err = errno;
    throw InputError("cannot write in log directory " + logdir + ": " + errno_text(err));
  }
  ::close(fd);
  ::unlink(probe.c_str());
}

std::string command_stdout_path(const std::string& logdir, std::uint64_t id) {
  return logdir + "/" + std::to_string(id / 1000) + "/" + std::to_string(id) + ".out";
}

std::string command_stderr_path(const std::string& logdir, std::uint64_t id) {
  return logdir + "/" + std::to_string(id / 1000) + "/" + std::to_string(id) + ".err";
}

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

  const auto interrupted = [&] {
    return options.interrupt != nullptr && options.interrupt->load(std::memory_order_relaxed);
  };
  if (interrupted()) {
    result.status = CommandStatus::interrupted;
    result.exit_code = -1;
    return result;
  }

  // Log files: a failure here is the user's (logdir not writable) and would hit every task.
  const std::string logdir = expand_placeholders(options.logdir, here);
  make_directories(logdir + "/" + std::to_string(task.id / 1000));
  const std::string out_path = command_stdout_path(logdir, task.id);
  const std::string err_path = command_stderr_path(logdir, task.id);
  const int file_flags = O_WRONLY | O_CREAT | O_TRUNC;
  FdGuard out_fd(open_above_stdio(out_path.c_str(), file_flags, 0666));
  if (out_fd.get() < 0) {
    const int err = errno;
    throw InputError("cannot create log file " + out_path + ": " + errno_text(err));
  }
  FdGuard err_fd(open_above_stdio(err_path.c_str(), file_flags, 0666));
  if (err_fd.get() < 0) {
    const int err = errno;
    throw InputError("cannot create log file " + err_path + ": " + errno_text(err));
  }
  FdGuard null_fd(open_above_stdio("/dev/null", O_RDONLY, 0));
  if (null_fd.get() < 0) {
    const int err = errno;
    throw InternalError("cannot open /dev/null: " + errno_text(err));
  }

  std::string command = expand_placeholders(task.command, here);
  std::string shell = "/bin/sh";
  std::string dash_c = "-c";
  std::string end_of_options = "--";  // a command starting with '-' is not an option of sh
  char* argv[] = {shell.data(), dash_c.data(), end_of_options.data(), command.data(), nullptr};
  std::vector<std::string> env = child_environment(here);
  std::vector<char*> envp;
  envp.reserve(env.size() + 1);
  for (auto& entry : env) envp.push_back(entry.data());
  envp.push_back(nullptr);

  const SpawnSetup setup(null_fd.get(), out_fd.get(), err_fd.get());
  result.start_time = wall_clock_seconds();
  const auto start = Clock::now();
  pid_t pid = -1;
  const int spawn_rc =
      ::posix_spawn(&pid, shell.c_str(), setup.actions(), setup.attr(), argv, envp.data());
  if (spawn_rc != 0) {
    write_best_effort(err_fd.get(), "parakit: cannot run /bin/sh for task " +
                                        std::to_string(task.id) + ": " + errno_text(spawn_rc) +
                                        "\n");
    result.status = CommandStatus::failed;
    result.exit_code = 127;
    result.runtime = std::chrono::duration<double>(Clock::now() - start).count();
    return result;
  }

  // Wait: sleep on a pidfd when the kernel has them (woken the moment the shell exits), else
  // poll waitpid with a backoff, so a 1 ms command costs ~1 ms and a long one few wakeups.
  // Either way the interrupt flag is looked at every 10 ms at most.
  using Micros = std::chrono::microseconds;
  constexpr Micros kFirstSleep{200};
  constexpr Micros kLongestSleep{10000};
  const FdGuard pidfd(options.use_pidfd ? open_pidfd(pid) : -1);
  Micros sleep = pidfd.get() >= 0 ? kLongestSleep : kFirstSleep;
  CommandStatus kill_reason = CommandStatus::ok;  // ok: not killing
  Clock::time_point kill_deadline{};
  bool killed_hard = false;
  const auto grace = to_duration(options.kill_grace_s);
  const Clock::time_point timeout_at =
      options.timeout_s > 0 ? start + to_duration(options.timeout_s) : Clock::time_point::max();
  const auto start_killing = [&](CommandStatus reason, Clock::time_point now) {
    kill_reason = reason;
    kill_deadline = now + grace;
    signal_group(pid, SIGTERM);
    signal_group(pid, SIGCONT);  // a stopped group would not act on SIGTERM
  };

  int wstatus = 0;
  for (;;) {
    const pid_t r = ::waitpid(pid, &wstatus, WNOHANG);
    if (r == pid) break;
    if (r < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      signal_group(pid, SIGKILL);
      throw InternalError("waitpid for task " + std::to_string(task.id) + ": " + errno_text(err));
    }
    const auto now = Clock::now();
    if (kill_reason == CommandStatus::ok) {
      if (interrupted()) {
        start_killing(CommandStatus::interrupted, now);
      } else if (now >= timeout_at) {
        start_killing(CommandStatus::timed_out, now);
      }
    }
    if (kill_reason != CommandStatus::ok && !killed_hard && Clock::now() >= kill_deadline) {
      signal_group(pid, SIGKILL);
      killed_hard = true;
    }
    // Sleep, but wake for the next deadline.
    Clock::time_point wake = Clock::now() + sleep;
    if (kill_reason == CommandStatus::ok) {
      wake = std::min(wake, timeout_at);
    } else if (!killed_hard) {
      wake = std::min(wake, kill_deadline);
    }
    if (pidfd.get() >= 0) {
      wait_readable(pidfd.get(), wake);
    } else {
      std::this_thread::sleep_until(wake);
      sleep = std::min(kLongestSleep, Micros(sleep.count() * 3 / 2));
    }
  }
  const auto leader_done = Clock::now();

  if (kill_reason != CommandStatus::ok) {
    // The shell is gone; give the rest of its group what is left of the grace, then kill it.
    // (Signalling only a group that still has members keeps clear of a reused process id.)
    Micros nap = kFirstSleep;
    bool alive = group_alive(pid);
    while (alive && !killed_hard && Clock::now() < kill_deadline) {
      std::this_thread::sleep_until(std::min(Clock::now() + nap, kill_deadline));
      nap = std::min(kLongestSleep, Micros(nap.count() * 3 / 2));
      alive = group_alive(pid);
    }
    if (alive) signal_group(pid, SIGKILL);
  }

  result.runtime = std::chrono::duration<double>(leader_done - start).count();
  if (kill_reason != CommandStatus::ok) {
    result.status = kill_reason;
    result.exit_code = -1;
    result.signal = WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : 0;
  } else if (WIFEXITED(wstatus)) {
    result.exit_code = WEXITSTATUS(wstatus);
    result.status = result.exit_code == 0 ? CommandStatus::ok : CommandStatus::failed;
  } else {
    result.status = CommandStatus::failed;
    result.exit_code = -1;
    result.signal = WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : 0;
  }
  return result;
}

// ---- the joblog ---------------------------------------------------------------------------

std::string joblog_line(const CommandTask& task, const CommandResult& result) {
  int exitval = result.exit_code;
  if (result.status == CommandStatus::timed_out || result.status == CommandStatus::interrupted) {
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
  const int flags = O_CREAT | O_CLOEXEC | (append ? O_RDWR | O_APPEND : O_WRONLY | O_TRUNC);
  fd_ = ::open(path_.c_str(), flags, 0666);
  if (fd_ < 0) {
    const int err = errno;
    throw InputError("cannot open joblog " + path_ + ": " + errno_text(err));
  }
  try {
    struct stat st {};
    if (::fstat(fd_, &st) != 0) {
      const int err = errno;
      throw InputError("cannot open joblog " + path_ + ": " + errno_text(err));
    }
    if (!append || st.st_size == 0) {
      write_all(std::string(kJobLogHeader) + "\n");
      return;
    }
    char last = '\n';
    if (::pread(fd_, &last, 1, st.st_size - 1) == 1 && last != '\n') write_all("\n");
  } catch (...) {
    ::close(fd_);
    fd_ = -1;
    throw;
  }
}

JobLog::~JobLog() {
  if (fd_ >= 0) ::close(fd_);
}

void JobLog::add(const CommandTask& task, const CommandResult& result) {
  write_all(joblog_line(task, result));
}

void JobLog::write_all(std::string_view text) {
  while (!text.empty()) {
    const ssize_t n = ::write(fd_, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : EIO;
      throw InputError("cannot write joblog " + path_ + ": " + errno_text(err));
    }
    text.remove_prefix(static_cast<std::size_t>(n));
  }
}

}  // namespace parakit::workloads
