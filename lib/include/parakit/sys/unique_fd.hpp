// An owned file descriptor, closed when its owner goes away (RAII).
#pragma once

#include <sys/types.h>

#include <string>
#include <utility>

namespace parakit::sys {

/// Owns one file descriptor (or none: -1). Move-only; the destructor closes it.
class UniqueFd {
 public:
  UniqueFd() noexcept = default;
  explicit UniqueFd(int fd) noexcept : fd_(fd) {}
  ~UniqueFd() { reset(); }
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const noexcept { return fd_; }
  explicit operator bool() const noexcept { return fd_ >= 0; }
  /// Gives the descriptor up without closing it.
  int release() noexcept { return std::exchange(fd_, -1); }
  /// Closes the descriptor held (if any) and holds `fd` instead.
  void reset(int fd = -1) noexcept;
  /// Closes now and returns 0 or close(2)'s errno (a deferred write error on some file
  /// systems). The descriptor is released either way.
  int close() noexcept;

 private:
  int fd_ = -1;
};

/// open(2) with O_CLOEXEC added, retried on EINTR. On failure the result is empty and errno
/// says why.
UniqueFd open_fd(const std::string& path, int flags, mode_t mode = 0) noexcept;

/// As open_fd, but the descriptor is numbered 3 or above, so that a child's dup2 onto 0, 1 or 2
/// always makes a fresh, inheritable copy (dup2 onto itself would keep close-on-exec set).
UniqueFd open_fd_above_stdio(const std::string& path, int flags, mode_t mode = 0) noexcept;

}  // namespace parakit::sys
