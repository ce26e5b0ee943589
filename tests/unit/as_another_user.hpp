// Runs part of a test as an unprivileged user, so that permission checks can be tested even
// when the suite runs as root (CI does): root reads and writes any file.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <functional>

namespace parakit::testing {

/// The exit status run_unprivileged returns when it could not drop to another user.
inline constexpr int kCannotDropPrivileges = 125;

/// Runs `body` and returns its result. As root it runs in a forked child that first drops to
/// user and group "nobody" (65534): the result is then the child's exit status (0 to 124 from
/// body), or kCannotDropPrivileges. Paths the body opens must be reachable by that user.
inline int run_unprivileged(const std::function<int()>& body) {
  if (::geteuid() != 0) return body();
  const pid_t pid = ::fork();
  if (pid < 0) return kCannotDropPrivileges;
  if (pid == 0) {
    if (::setgid(65534) != 0 || ::setuid(65534) != 0 || ::geteuid() == 0) {
      ::_exit(kCannotDropPrivileges);
    }
    int status = 126;
    try {
      status = body();
    } catch (...) {
    }
    ::_exit(status);
  }
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return kCannotDropPrivileges;
  return WEXITSTATUS(status);
}

}  // namespace parakit::testing
