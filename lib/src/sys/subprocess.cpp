#include "parakit/sys/subprocess.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <system_error>
#include <thread>

#include "parakit/core/error.hpp"
#include "parakit/sys/error_text.hpp"
#include "parakit/sys/unique_fd.hpp"

namespace parakit::sys {
namespace {

using Clock = Subprocess::Clock;
using Micros = std::chrono::microseconds;
constexpr Micros kFirstSleep{200};
constexpr Micros kLongestSleep{10000};

/// posix_spawn's attribute and file-action objects, destroyed at scope exit.
class SpawnSetup {
 public:
  explicit SpawnSetup(const SpawnOptions& options) {
    if (const int rc = ::posix_spawnattr_init(&attr_); rc != 0) {
      throw InternalError("posix_spawnattr_init: " + errno_text(rc));
    }
    attr_ok_ = true;
    if (const int rc = ::posix_spawn_file_actions_init(&actions_); rc != 0) {
      throw InternalError("posix_spawn_file_actions_init: " + errno_text(rc));
    }
    actions_ok_ = true;

    sigset_t empty;
    sigemptyset(&empty);
    sigset_t defaults;
    sigemptyset(&defaults);
    for (const int sig : {SIGPIPE, SIGCHLD, SIGINT, SIGTERM}) sigaddset(&defaults, sig);
    const short flags = POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
    check(::posix_spawnattr_setflags(&attr_, flags), "setflags");
    check(::posix_spawnattr_setpgroup(&attr_, 0), "setpgroup");
    check(::posix_spawnattr_setsigmask(&attr_, &empty), "setsigmask");
    check(::posix_spawnattr_setsigdefault(&attr_, &defaults), "setsigdefault");

    const int stdio[3] = {options.stdin_fd, options.stdout_fd, options.stderr_fd};
    for (int target = 0; target < 3; ++target) {
      if (stdio[target] <= 2) {
        throw InternalError("Subprocess: the child's descriptor " + std::to_string(target) +
                            " must come from a descriptor numbered 3 or above");
      }
      check(::posix_spawn_file_actions_adddup2(&actions_, stdio[target], target), "adddup2");
    }
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
    // Descriptors other libraries (MPI) opened without O_CLOEXEC stay out of the child.
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

/// Seconds as a clock duration, clamped to [0, ~30 years] so huge values cannot overflow.
Clock::duration to_duration(double seconds) {
  const double clamped = std::clamp(seconds, 0.0, 1e9);
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(clamped));
}

/// A pidfd for `pid` (readable once it exits), or none where the kernel has none (< 5.3).
UniqueFd open_pidfd(pid_t pid) noexcept {
#ifdef SYS_pidfd_open
  const long fd = ::syscall(SYS_pidfd_open, pid, 0);
  return UniqueFd(fd < 0 ? -1 : static_cast<int>(fd));  // close-on-exec by definition
#else
  (void)pid;
  return UniqueFd();
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
  const UniqueFd fd = open_fd(std::string("/proc/") + pid + "/stat", O_RDONLY);
  if (!fd) return false;
  char buf[512];
  const ssize_t n = ::read(fd.get(), buf, sizeof buf - 1);
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

/// Whether any process of group `pgid` still runs. Zombies do not count: once the leader is
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

/// After a killed leader has been reaped: gives the rest of its group `pgid` what is left of the
/// grace (up to `kill_deadline`, none once `killed_hard`), then SIGKILLs it, and waits until
/// it is gone, so that no member outlives the wait. Signalling only a group that still has
/// members keeps clear of a reused process id.
void end_group(pid_t pgid, Clock::time_point kill_deadline, bool killed_hard) {
  Micros nap = kFirstSleep;
  bool alive = group_alive(pgid);
  while (alive && !killed_hard && Clock::now() < kill_deadline) {
    std::this_thread::sleep_until(std::min(Clock::now() + nap, kill_deadline));
    nap = std::min(kLongestSleep, Micros(nap.count() * 3 / 2));
    alive = group_alive(pgid);
  }
  if (alive) signal_group(pgid, SIGKILL);
  // SIGKILL takes effect asynchronously: wait (a bounded while, in case a member sits in an
  // uninterruptible sleep) until the group is really gone.
  const auto give_up = Clock::now() + std::chrono::seconds(2);
  nap = kFirstSleep;
  while (alive && Clock::now() < give_up) {
    alive = group_alive(pgid);
    if (alive) {
      std::this_thread::sleep_for(nap);
      nap = std::min(kLongestSleep, Micros(nap.count() * 3 / 2));
    }
  }
}

}  // namespace

bool ExitInfo::exited_normally() const noexcept {
  return WIFEXITED(wait_status);
}
int ExitInfo::exit_code() const noexcept {
  return WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : -1;
}
int ExitInfo::signal() const noexcept {
  return WIFSIGNALED(wait_status) ? WTERMSIG(wait_status) : 0;
}

Subprocess::Subprocess(const SpawnOptions& options) {
  if (options.argv.empty()) throw InternalError("Subprocess: empty argv");
  std::vector<std::string> argv_text = options.argv;  // posix_spawn wants char*, not const
  std::vector<std::string> env_text = options.environment;
  std::vector<char*> argv;
  argv.reserve(argv_text.size() + 1);
  for (auto& arg : argv_text) argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::vector<char*> envp;
  envp.reserve(env_text.size() + 1);
  for (auto& entry : env_text) envp.push_back(entry.data());
  envp.push_back(nullptr);

  const SpawnSetup setup(options);
  started_ = Clock::now();
  const int rc =
      ::posix_spawn(&pid_, argv[0], setup.actions(), setup.attr(), argv.data(), envp.data());
  if (rc != 0) {
    pid_ = -1;
    throw std::system_error(rc, std::generic_category(), "posix_spawn " + options.argv[0]);
  }
}

Subprocess::Subprocess(Subprocess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      reaped_(std::exchange(other.reaped_, true)),
      started_(other.started_) {}

Subprocess::~Subprocess() {
  kill_and_reap();
}

void Subprocess::kill_and_reap() noexcept {
  if (pid_ <= 0 || reaped_) return;
  signal_group(pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  reaped_ = true;
}

ExitInfo Subprocess::wait(const WaitLimits& limits) {
  if (pid_ <= 0 || reaped_) throw InternalError("Subprocess::wait: no child to wait for");
  // Sleep on a pidfd when the kernel has them (woken the moment the leader exits), else poll
  // waitpid with a backoff, so a 1 ms child costs ~1 ms and a long one few wakeups. Either
  // way the stop flag is looked at every 10 ms at most.
  const UniqueFd pidfd = limits.use_pidfd ? open_pidfd(pid_) : UniqueFd();
  Micros sleep = pidfd ? kLongestSleep : kFirstSleep;
  using Ending = ExitInfo::Ending;
  Ending kill_reason = Ending::exited;  // exited: not killing
  Clock::time_point kill_deadline{};
  bool killed_hard = false;
  const auto grace = to_duration(limits.kill_grace_s);
  const auto stop_requested = [&] {
    return limits.stop != nullptr && limits.stop->load(std::memory_order_relaxed);
  };
  const auto start_killing = [&](Ending reason, Clock::time_point now) {
    kill_reason = reason;
    kill_deadline = now + grace;
    signal_group(pid_, SIGTERM);
    signal_group(pid_, SIGCONT);  // a stopped group would not act on SIGTERM
  };

  ExitInfo info;
  for (;;) {
    const pid_t r = ::waitpid(pid_, &info.wait_status, WNOHANG);
    if (r == pid_) break;
    if (r < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      kill_and_reap();
      throw std::system_error(err, std::generic_category(), "waitpid");
    }
    const auto now = Clock::now();
    if (kill_reason == Ending::exited) {
      if (stop_requested()) {
        start_killing(Ending::stopped, now);
      } else if (now >= limits.deadline) {
        start_killing(Ending::timed_out, now);
      }
    }
    if (kill_reason != Ending::exited && !killed_hard && Clock::now() >= kill_deadline) {
      signal_group(pid_, SIGKILL);
      killed_hard = true;
    }
    // Sleep, but wake for the next deadline.
    Clock::time_point wake = Clock::now() + sleep;
    if (kill_reason == Ending::exited) {
      wake = std::min(wake, limits.deadline);
    } else if (!killed_hard) {
      wake = std::min(wake, kill_deadline);
    }
    if (pidfd) {
      wait_readable(pidfd.get(), wake);
    } else {
      std::this_thread::sleep_until(wake);
      sleep = std::min(kLongestSleep, Micros(sleep.count() * 3 / 2));
    }
  }
  reaped_ = true;
  info.seconds = std::chrono::duration<double>(Clock::now() - started_).count();
  info.ending = kill_reason;
  if (kill_reason != Ending::exited) end_group(pid_, kill_deadline, killed_hard);
  return info;
}

}  // namespace parakit::sys
