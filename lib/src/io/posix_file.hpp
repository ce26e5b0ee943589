// Private helpers of the file readers in io/: a one-line InputError naming the file, an owned
// read-only descriptor, and a pread loop. Not installed.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

#include "parakit/core/error.hpp"

namespace parakit::io::detail {

[[noreturn]] inline void fail(const std::string& path, const std::string& what) {
  throw InputError(path + ": " + what);
}

/// An open read-only file descriptor, closed on scope exit.
class Fd {
 public:
  explicit Fd(const std::string& path) : fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {
    if (fd_ < 0) {
      const int err = errno;
      fail(path, std::string("cannot open: ") + std::strerror(err));
    }
  }
  ~Fd() { ::close(fd_); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const noexcept { return fd_; }

 private:
  int fd_;
};

/// Reads up to n bytes at offset; returns how many were read (< n only at end of file).
inline std::uint64_t pread_full(const std::string& path, int fd, void* buf, std::uint64_t n,
                                std::uint64_t offset) {
  constexpr std::uint64_t kMaxChunkBytes = std::uint64_t{1} << 30;  // per pread call
  auto* p = static_cast<unsigned char*>(buf);
  std::uint64_t done = 0;
  while (done < n) {
    const std::uint64_t chunk = std::min(n - done, kMaxChunkBytes);
    const ssize_t got =
        ::pread(fd, p + done, static_cast<std::size_t>(chunk), static_cast<off_t>(offset + done));
    if (got < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      fail(path, std::string("read failed: ") + std::strerror(err));
    }
    if (got == 0) break;
    done += static_cast<std::uint64_t>(got);
  }
  return done;
}

}  // namespace parakit::io::detail
