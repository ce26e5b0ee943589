#include "parakit/io/atomic_file.hpp"

#include <fcntl.h>
#include <sys/random.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <utility>

#include "parakit/core/error.hpp"
#include "parakit/sys/error_text.hpp"
#include "parakit/sys/file_io.hpp"

namespace parakit::io {

namespace {

/// A hex token that differs between calls, threads and processes: 64 bits from the kernel's
/// random source (getrandom), so concurrent writers never pick the same temporary name.
std::string random_token() {
  std::uint64_t x = 0;
  for (std::size_t got = 0; got < sizeof x;) {
    const ssize_t n = ::getrandom(reinterpret_cast<char*>(&x) + got, sizeof x - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {  // no random source (a very old kernel): the clock and a counter instead
      static std::atomic<std::uint64_t> counter{0};
      x ^= static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) +
           counter.fetch_add(1, std::memory_order_relaxed);
      break;
    }
    got += static_cast<std::size_t>(n);
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(x));
  return buf;
}

}  // namespace

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  if (path_.empty()) throw InputError("output path is empty");
  for (int attempt = 0; attempt < 16; ++attempt) {
    temp_path_ = path_ + ".tmp." + std::to_string(::getpid()) + "." + random_token();
    fd_ = sys::open_fd(temp_path_, O_WRONLY | O_CREAT | O_EXCL, 0666);
    if (fd_) return;
    if (errno != EEXIST) break;
  }
  const int err = errno;
  throw InputError(path_ + ": cannot create a file in '" + sys::parent_directory(path_) +
                   "': " + sys::errno_text(err));
}

AtomicFile::~AtomicFile() {
  fd_.reset();
  if (!committed_ && !temp_path_.empty()) ::unlink(temp_path_.c_str());
}

void AtomicFile::write(std::span<const std::byte> bytes) {
  if (committed_ || !fd_) throw InternalError(path_ + ": write after commit or failure");
  if (const int err = sys::write_all(fd_.get(), bytes); err != 0) {
    fd_.reset();
    throw InputError(path_ + ": write failed: " + sys::errno_text(err));
  }
  size_ += bytes.size();
}

void AtomicFile::commit() {
  if (committed_ || !fd_) throw InternalError(path_ + ": commit after commit or failure");
  if (::fsync(fd_.get()) != 0) {
    const int err = errno;
    fd_.reset();
    throw InputError(path_ + ": fsync failed: " + sys::errno_text(err));
  }
  if (const int err = fd_.close(); err != 0) {
    throw InputError(path_ + ": close failed: " + sys::errno_text(err));
  }
  if (::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    const int err = errno;
    throw InputError(path_ + ": cannot replace the file: " + sys::errno_text(err));
  }
  committed_ = true;
  (void)sys::fsync_parent(path_);  // best effort: the rename itself already happened
}

void write_file_atomic(const std::string& path, std::string_view content) {
  AtomicFile file(path);
  file.write(content);
  file.commit();
}

}  // namespace parakit::io
