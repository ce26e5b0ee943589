// Shared by the libFuzzer targets: input bytes become a file the readers open by path, and
// only parakit's own errors (bad input, reported) may leave a reader; anything else escapes
// to libFuzzer as a crash.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

namespace parakit::fuzz {

/// The scratch file of this process for one extension.
inline std::string scratch_path(const char* extension) {
  return "/tmp/parakit-fuzz-" + std::to_string(::getpid()) + extension;
}

/// The scratch file for `extension`, now holding `size` bytes of `data`.
inline std::string as_file(const std::uint8_t* data, std::size_t size, const char* extension) {
  const std::string path = scratch_path(extension);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) std::abort();
  for (std::size_t done = 0; done < size;) {
    const ssize_t n = ::write(fd, data + done, size - done);
    if (n <= 0) std::abort();
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
  return path;
}

}  // namespace parakit::fuzz
