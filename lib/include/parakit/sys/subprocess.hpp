// A child process in a process group of its own, waited for with a deadline, a stop flag and a
// kill grace, so that nothing it started outlives it (the command farm's runner).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <string>
#include <vector>

namespace parakit::sys {

struct SpawnOptions {
  /// argv[0] is the program's path (no PATH search); the rest its arguments. Not empty.
  std::vector<std::string> argv;
  /// The child's whole environment, "NAME=value" each.
  std::vector<std::string> environment;
  /// Descriptors the child gets as its stdin, stdout and stderr. Each must be numbered 3 or
  /// above (open_fd_above_stdio), so that the child's copy is a fresh, inheritable one.
  int stdin_fd = -1;
  int stdout_fd = -1;
  int stderr_fd = -1;
};

/// How Subprocess::wait may end a child early.
struct WaitLimits {
  using Clock = std::chrono::steady_clock;
  /// When the child has run too long (max(): never).
  Clock::time_point deadline = Clock::time_point::max();
  /// Looked at every 10 ms at most; once true the child is stopped as on a deadline.
  const std::atomic<bool>* stop = nullptr;
  /// Seconds between SIGTERM and SIGKILL to the group (clamped to [0, ~30 years]).
  double kill_grace_s = 2;
  /// Sleep on a pidfd where the kernel has them (Linux 5.3+); false: poll waitpid with a
  /// backoff from 0.2 ms to 10 ms, as on older kernels.
  bool use_pidfd = true;
};

/// How the child ended.
struct ExitInfo {
  enum class Ending { exited, timed_out, stopped };
  Ending ending = Ending::exited;  ///< timed_out / stopped: the group was killed for it
  int wait_status = 0;             ///< the leader's waitpid status
  double seconds = 0;              ///< from the spawn to the leader's exit

  bool exited_normally() const noexcept;  ///< WIFEXITED
  int exit_code() const noexcept;         ///< WEXITSTATUS, -1 when it did not exit normally
  int signal() const noexcept;            ///< WTERMSIG, 0 when no signal ended it
};

/// One child process, the leader of a new process group.
class Subprocess {
 public:
  using Clock = WaitLimits::Clock;

  /// Starts the program with posix_spawn: in a new process group, with the given stdio, an
  /// empty signal mask, default SIGPIPE, SIGCHLD, SIGINT and SIGTERM dispositions, and no
  /// other descriptors (where glibc has posix_spawn_file_actions_addclosefrom_np). Changes no
  /// process-wide state, so several threads may spawn at once. Throws std::system_error (the
  /// errno of posix_spawn) when the program cannot be started.
  explicit Subprocess(const SpawnOptions& options);
  /// A child that was not waited for has its whole group killed (SIGKILL) and is reaped.
  ~Subprocess();
  Subprocess(Subprocess&& other) noexcept;
  Subprocess& operator=(Subprocess&&) = delete;
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  pid_t pid() const noexcept { return pid_; }
  Clock::time_point started() const noexcept { return started_; }

  /// Waits for the leader to exit. On the deadline or the stop flag its group gets SIGTERM
  /// (and SIGCONT, so a stopped group acts on it), then SIGKILL after the grace; a killed
  /// child's group has no live member left when this returns (unless one stays in an
  /// uninterruptible sleep for more than 2 s after its SIGKILL).
  /// Throws std::system_error when waitpid fails (after killing the group). Call once.
  ExitInfo wait(const WaitLimits& limits);

 private:
  void kill_and_reap() noexcept;

  pid_t pid_ = -1;
  bool reaped_ = false;
  Clock::time_point started_;
};

}  // namespace parakit::sys
