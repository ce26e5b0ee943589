#include "parakit/sys/file_io.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "parakit/sys/unique_fd.hpp"

namespace parakit::sys {
namespace {
constexpr std::size_t kMaxTransfer = std::size_t{1} << 30;  // per read/write call
}  // namespace

int write_all(int fd, std::span<const std::byte> bytes) noexcept {
  const std::byte* p = bytes.data();
  std::size_t left = bytes.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, p, std::min(left, kMaxTransfer));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return EIO;
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  return 0;
}

ReadResult pread_all(int fd, std::span<std::byte> out, std::uint64_t offset) noexcept {
  ReadResult result;
  while (result.bytes < out.size()) {
    const std::size_t want = std::min(out.size() - result.bytes, kMaxTransfer);
    const ssize_t n =
        ::pread(fd, out.data() + result.bytes, want, static_cast<off_t>(offset + result.bytes));
    if (n < 0) {
      if (errno == EINTR) continue;
      result.error = errno;
      return result;
    }
    if (n == 0) break;  // end of file
    result.bytes += static_cast<std::size_t>(n);
  }
  return result;
}

std::string parent_directory(std::string_view path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string_view::npos) return ".";
  if (slash == 0) return "/";
  return std::string(path.substr(0, slash));
}

int fsync_parent(const std::string& path) noexcept {
  try {
    const UniqueFd dir = open_fd(parent_directory(path), O_RDONLY | O_DIRECTORY);
    if (!dir) return errno;
    return ::fsync(dir.get()) == 0 ? 0 : errno;
  } catch (...) {  // the directory name could not be allocated
    return ENOMEM;
  }
}

}  // namespace parakit::sys
