#include "parakit/io/atomic_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <utility>

#include "parakit/core/error.hpp"

namespace parakit::io {

namespace detail {
namespace {

std::string errno_text(int err) {
  return std::strerror(err);
}

/// A hex token that differs between calls, threads and processes.
std::string random_token() {
  static std::atomic<std::uint64_t> counter{0};
  std::uint64_t x =
      static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
      (counter.fetch_add(1, std::memory_order_relaxed) * 0x9E3779B97F4A7C15ull) ^
      reinterpret_cast<std::uintptr_t>(&x);
  // splitmix64 finalizer
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  x ^= x >> 31;
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(x));
  return buf;
}

std::string directory_of(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

void fsync_directory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;  // best effort: the rename itself already happened
  ::fsync(fd);
  ::close(fd);
}

}  // namespace
}  // namespace detail

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  if (path_.empty()) throw InputError("output path is empty");
  for (int attempt = 0; attempt < 16; ++attempt) {
    temp_path_ = path_ + ".tmp." + std::to_string(::getpid()) + "." + detail::random_token();
    fd_ = ::open(temp_path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd_ >= 0) return;
    if (errno != EEXIST) break;
  }
  const int err = errno;
  throw InputError(path_ + ": cannot create a file in '" + detail::directory_of(path_) +
                   "': " + detail::errno_text(err));
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_ && !temp_path_.empty()) ::unlink(temp_path_.c_str());
}

void AtomicFile::write(std::span<const std::byte> bytes) {
  if (committed_ || fd_ < 0) throw InternalError(path_ + ": write after commit or failure");
  const std::byte* p = bytes.data();
  std::size_t left = bytes.size();
  while (left > 0) {
    // Linux transfers at most 0x7ffff000 bytes per call; ask for no more.
    const std::size_t chunk = left < (std::size_t{1} << 30) ? left : (std::size_t{1} << 30);
    const ssize_t n = ::write(fd_, p, chunk);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd_);
      fd_ = -1;
      throw InputError(path_ + ": write failed: " + detail::errno_text(err));
    }
    if (n == 0) {
      ::close(fd_);
      fd_ = -1;
      throw InputError(path_ + ": write failed: no progress");
    }
    p += n;
    left -= static_cast<std::size_t>(n);
    size_ += static_cast<std::size_t>(n);
  }
}

void AtomicFile::commit() {
  if (committed_ || fd_ < 0) throw InternalError(path_ + ": commit after commit or failure");
  if (::fsync(fd_) != 0) {
    const int err = errno;
    ::close(fd_);
    fd_ = -1;
    throw InputError(path_ + ": fsync failed: " + detail::errno_text(err));
  }
  const int rc = ::close(fd_);
  fd_ = -1;
  if (rc != 0) {
    const int err = errno;
    throw InputError(path_ + ": close failed: " + detail::errno_text(err));
  }
  if (::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    const int err = errno;
    throw InputError(path_ + ": cannot replace the file: " + detail::errno_text(err));
  }
  committed_ = true;
  detail::fsync_directory(detail::directory_of(path_));
}

void write_file_atomic(const std::string& path, std::string_view content) {
  AtomicFile file(path);
  file.write(content);
  file.commit();
}

}  // namespace parakit::io
