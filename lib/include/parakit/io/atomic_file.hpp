// Crash-safe output files: write to a temporary file next to the target, then
// fsync and rename over it, so readers see either the old file or the whole new one.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

#include "parakit/sys/unique_fd.hpp"

namespace parakit::io {

/// An output file that appears at `path` only when commit() succeeds.
///
/// The constructor creates `path + ".tmp.<pid>.<random>"` in the target's
/// directory; write() appends to it (unbuffered: each call is a write(2) loop);
/// commit() fsyncs, closes and renames it over `path`, then fsyncs the
/// directory. Destroying an AtomicFile that was not committed removes the
/// temporary file and leaves `path` untouched. Any failure (cannot create in the
/// directory, write error such as ENOSPC, fsync or rename failure) throws
/// InputError naming `path`; after such a failure the temporary file is
/// removed by the destructor.
class AtomicFile {
 public:
  explicit AtomicFile(std::string path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  /// Appends bytes. Throws InputError on failure, InternalError after commit().
  void write(std::span<const std::byte> bytes);
  void write(std::string_view text) { write(std::as_bytes(std::span(text.data(), text.size()))); }

  /// Makes the file durable and visible at path(). Throws InputError on
  /// failure (the target is then unchanged); InternalError if already committed.
  void commit();

  /// The final path.
  const std::string& path() const noexcept { return path_; }
  /// The temporary path written until commit().
  const std::string& temp_path() const noexcept { return temp_path_; }
  /// Bytes written so far.
  std::size_t size() const noexcept { return size_; }

 private:
  std::string path_;
  std::string temp_path_;
  sys::UniqueFd fd_;
  std::size_t size_ = 0;
  bool committed_ = false;
};

/// Writes `content` to `path` atomically (AtomicFile + commit). Throws InputError.
void write_file_atomic(const std::string& path, std::string_view content);

}  // namespace parakit::io
