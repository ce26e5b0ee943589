// Whole-buffer reads and writes, and durable directory entries. Every function returns 0 or an
// errno value instead of throwing, so callers phrase the error in their own terms (the file's
// role, its path) with sys::errno_text.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace parakit::sys {

/// write(2) until every byte is written, retrying EINTR and partial writes (at most 1 GiB per
/// call: Linux moves less than 2 GiB at once). Returns 0, or the errno of the failure (EIO for
/// a write that made no progress); bytes before the failure may have been written.
int write_all(int fd, std::span<const std::byte> bytes) noexcept;
inline int write_all(int fd, std::string_view text) noexcept {
  return write_all(fd, std::as_bytes(std::span(text.data(), text.size())));
}

struct ReadResult {
  std::size_t bytes = 0;  ///< read into the buffer; < its size only at the end of the file
  int error = 0;          ///< 0, or the errno of a failed pread
};

/// pread(2) at `offset` until `out` is full or the file ends, retrying EINTR and short reads
/// (at most 1 GiB per call).
ReadResult pread_all(int fd, std::span<std::byte> out, std::uint64_t offset) noexcept;

/// The directory that holds `path`: "." for a bare name, "/" for a file in the root.
std::string parent_directory(std::string_view path);

/// fsync(2) of the directory that holds `path`, so that a file created or renamed there
/// survives a crash. Returns 0 or the errno (some file systems refuse to fsync a directory:
/// callers that have already made the change treat it as best effort).
int fsync_parent(const std::string& path) noexcept;

}  // namespace parakit::sys
