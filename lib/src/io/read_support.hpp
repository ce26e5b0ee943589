// Private helpers of the file readers in io/: a one-line InputError naming the file, and the
// sys/ primitives with their failures phrased that way. Not installed.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdint>
#include <span>
#include <string>

#include "parakit/core/error.hpp"
#include "parakit/sys/error_text.hpp"
#include "parakit/sys/file_io.hpp"
#include "parakit/sys/unique_fd.hpp"

namespace parakit::io::detail {

[[noreturn]] inline void fail(const std::string& path, const std::string& what) {
  throw InputError(path + ": " + what);
}

/// Opens `path` read-only; InputError "PATH: cannot open: <reason>" when it cannot.
inline sys::UniqueFd open_for_reading(const std::string& path) {
  sys::UniqueFd fd = sys::open_fd(path, O_RDONLY);
  if (!fd) {
    const int err = errno;
    fail(path, "cannot open: " + sys::errno_text(err));
  }
  return fd;
}

/// The size of the regular file open as `fd`; InputError "PATH: is a directory" or "PATH: is
/// not a regular file" otherwise.
inline std::uint64_t regular_file_size(const std::string& path, int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    fail(path, "cannot stat: " + sys::errno_text(err));
  }
  if (S_ISDIR(st.st_mode)) fail(path, "is a directory");
  if (!S_ISREG(st.st_mode)) fail(path, "is not a regular file");
  return static_cast<std::uint64_t>(st.st_size);
}

/// Reads up to n bytes at offset; returns how many were read (< n only at end of file).
inline std::uint64_t pread_full(const std::string& path, int fd, void* buf, std::uint64_t n,
                                std::uint64_t offset) {
  const auto got = sys::pread_all(
      fd, std::span(static_cast<std::byte*>(buf), static_cast<std::size_t>(n)), offset);
  if (got.error != 0) fail(path, "read failed: " + sys::errno_text(got.error));
  return got.bytes;
}

}  // namespace parakit::io::detail
