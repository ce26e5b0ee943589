#include "parakit/sys/unique_fd.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace parakit::sys {

void UniqueFd::reset(int fd) noexcept {
  if (fd_ >= 0 && fd_ != fd) ::close(fd_);  // Linux frees the descriptor even on EINTR
  fd_ = fd;
}

int UniqueFd::close() noexcept {
  if (fd_ < 0) return 0;
  const int rc = ::close(std::exchange(fd_, -1));
  return rc == 0 || errno == EINTR ? 0 : errno;
}

UniqueFd open_fd(const std::string& path, int flags, mode_t mode) noexcept {
  for (;;) {
    const int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
    if (fd >= 0) return UniqueFd(fd);
    if (errno != EINTR) return UniqueFd();
  }
}

UniqueFd open_fd_above_stdio(const std::string& path, int flags, mode_t mode) noexcept {
  UniqueFd fd = open_fd(path, flags, mode);
  if (!fd || fd.get() > 2) return fd;
  UniqueFd moved(::fcntl(fd.get(), F_DUPFD_CLOEXEC, 3));
  const int err = errno;
  fd.reset();
  errno = err;
  return moved;
}

}  // namespace parakit::sys
