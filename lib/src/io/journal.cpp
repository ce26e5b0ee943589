#include "parakit/io/journal.hpp"

#include <fcntl.h>
#include <nmmintrin.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/crc.hpp>
#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include "parakit/core/error.hpp"

namespace parakit::io {
namespace {

constexpr char kMagic[8] = {'P', 'K', 'J', 'R', 'N', 'L', '0', '1'};
constexpr std::size_t kRecordHead = 4 + 4 + 8 + 1;  // length, crc, id, status
constexpr std::uint32_t kMaxPayload = 64u << 20;
constexpr std::size_t kMaxKind = 256;

using BoostCrc32c = boost::crc_optimal<32, 0x1EDC6F41, 0xFFFFFFFF, 0xFFFFFFFF, true, true>;

__attribute__((target("sse4.2"))) std::uint32_t crc32c_sse42(const std::byte* data,
                                                             std::size_t size,
                                                             std::uint32_t crc) noexcept {
  std::uint64_t c = ~crc & 0xFFFFFFFFu;
  while (size >= 8) {
    std::uint64_t word;
    std::memcpy(&word, data, 8);
    c = _mm_crc32_u64(c, word);
    data += 8;
    size -= 8;
  }
  auto c32 = static_cast<std::uint32_t>(c);
  while (size > 0) {
    c32 = _mm_crc32_u8(c32, static_cast<unsigned char>(*data));
    ++data;
    --size;
  }
  return ~c32;
}

bool have_sse42() noexcept {
  static const bool have = __builtin_cpu_supports("sse4.2");
  return have;
}

template <class T>
T load(const std::byte* p) {
  T value;
  std::memcpy(&value, p, sizeof(T));
  return value;
}
template <class T>
void store(std::vector<std::byte>& out, T value) {
  const auto* p = reinterpret_cast<const std::byte*>(&value);
  out.insert(out.end(), p, p + sizeof(T));
}

std::string errno_text() {
  return std::strerror(errno);
}

void write_all(int fd, const std::byte* data, std::size_t size, const std::string& path) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw InputError("cannot write journal " + path + ": " + errno_text());
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
}

void fsync_directory_of(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  const std::string dir =
      slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

/// A forward reader over a file with a large buffer: records are parsed in place.
class Reader {
 public:
  Reader(const std::string& path) : path_(path) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) throw InputError("cannot open journal " + path + ": " + errno_text());
    struct stat info {};
    if (::fstat(fd_, &info) != 0 || !S_ISREG(info.st_mode)) {
      ::close(fd_);
      throw InputError("journal " + path + " is not a regular file");
    }
    size_ = static_cast<std::uint64_t>(info.st_size);
    ::posix_fadvise(fd_, 0, 0, POSIX_FADV_SEQUENTIAL);
  }
  ~Reader() { ::close(fd_); }
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  std::uint64_t size() const noexcept { return size_; }
  /// `count` bytes at `offset` (offset + count <= size()), valid until the next call.
  const std::byte* at(std::uint64_t offset, std::size_t count) {
    if (offset < begin_ || offset + count > begin_ + filled_) fill(offset, count);
    return buffer_.data() + (offset - begin_);
  }

 private:
  void fill(std::uint64_t offset, std::size_t count) {
    const std::size_t want = std::max<std::size_t>(count, kChunk);
    if (buffer_.size() < want) buffer_.resize(want);
    const std::size_t to_read =
        static_cast<std::size_t>(std::min<std::uint64_t>(want, size_ - offset));
    std::size_t got = 0;
    while (got < to_read) {
      const ssize_t n =
          ::pread(fd_, buffer_.data() + got, to_read - got, static_cast<off_t>(offset + got));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) throw InputError("cannot read journal " + path_ + ": " + errno_text());
      got += static_cast<std::size_t>(n);
    }
    begin_ = offset;
    filled_ = got;
  }
  static constexpr std::size_t kChunk = 4u << 20;
  std::string path_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
  std::vector<std::byte> buffer_;
  std::uint64_t begin_ = 0;
  std::size_t filled_ = 0;
};

/// Parses the header; returns its total size.
std::uint64_t parse_header(Reader& in, const std::string& path, JournalHeader& header) {
  const auto bad = [&](const std::string& why) {
    return InputError("journal " + path + " is not a parakit journal (" + why + ")");
  };
  if (in.size() < 16) throw bad("too short");
  const std::byte* head = in.at(0, 16);
  if (std::memcmp(head, kMagic, 8) != 0) throw bad("bad magic");
  const auto length = load<std::uint32_t>(head + 8);
  const auto crc = load<std::uint32_t>(head + 12);
  if (length < 18 || length > 18 + kMaxKind || 16 + std::uint64_t{length} > in.size()) {
    throw bad("bad header length");
  }
  const std::byte* payload = in.at(16, length);
  if (crc32c({payload, length}) != crc) throw bad("header checksum mismatch");
  header.identity = load<std::uint64_t>(payload);
  header.task_count = load<std::uint64_t>(payload + 8);
  const auto kind_length = load<std::uint16_t>(payload + 16);
  if (std::size_t{kind_length} + 18 != length) throw bad("bad header length");
  header.kind.assign(reinterpret_cast<const char*>(payload + 18), kind_length);
  return 16 + std::uint64_t{length};
}

}  // namespace

std::string_view to_string(JournalStatus status) noexcept {
  switch (status) {
    case JournalStatus::ok:
      return "ok";
    case JournalStatus::failed:
      return "failed";
    case JournalStatus::timed_out:
      return "timed_out";
    case JournalStatus::interrupted:
      return "interrupted";
  }
  return "unknown";
}

std::uint32_t crc32c(std::span<const std::byte> data, std::uint32_t crc) noexcept {
  if (have_sse42()) return crc32c_sse42(data.data(), data.size(), crc);
  // Boost's CRC continues from a remainder: feed it the un-reflected-out state.
  BoostCrc32c boost_crc(~crc);
  boost_crc.process_bytes(data.data(), data.size());
  return boost_crc.checksum();
}

JournalHeader read_journal_header(const std::string& path) {
  Reader in(path);
  JournalHeader header;
  parse_header(in, path, header);
  return header;
}

JournalScan scan_journal(const std::string& path, bool force,
                         const std::function<void(const JournalRecord&)>& on_record) {
  Reader in(path);
  JournalScan scan;
  std::uint64_t offset = parse_header(in, path, scan.header);
  const std::uint64_t end = in.size();
  while (offset < end) {
    // Decide whether the record at `offset` is whole and intact.
    bool good = false;
    std::uint64_t extent = end - offset;  // what to drop if it is bad
    if (end - offset >= kRecordHead) {
      const std::byte* head = in.at(offset, kRecordHead);
      const auto length = load<std::uint32_t>(head);
      const auto crc = load<std::uint32_t>(head + 4);
      const auto status = static_cast<std::uint8_t>(head[16]);
      if (length <= kMaxPayload && status <= 3 && end - offset >= kRecordHead + length) {
        extent = kRecordHead + length;
        const std::byte* body = in.at(offset + 8, 9 + length);
        if (crc32c({body, 9 + std::size_t{length}}) == crc) {
          good = true;
          on_record(JournalRecord{
              load<std::uint64_t>(body), static_cast<JournalStatus>(status), {body + 9, length}});
          ++scan.records;
          offset += extent;
        }
      }
    }
    if (good) continue;
    scan.valid_bytes = offset;
    scan.dropped_bytes = end - offset;
    if (offset + extent < end) {  // more data follows: corruption, not a torn write
      if (!force) {
        throw InputError("journal " + path + ": corrupt record at offset " +
                         std::to_string(offset) +
                         ", before the end; use --force-resume to drop it and everything after it");
      }
      scan.warning = "journal " + path + ": dropped a corrupt record at offset " +
                     std::to_string(offset) + " and the " + std::to_string(scan.dropped_bytes) +
                     " bytes after it (--force-resume)";
    } else {
      scan.warning = "journal " + path + ": ignored a torn last record (" +
                     std::to_string(scan.dropped_bytes) + " bytes at offset " +
                     std::to_string(offset) + ")";
    }
    return scan;
  }
  scan.valid_bytes = offset;
  return scan;
}

JournalWriter::JournalWriter(std::string path, int fd, std::uint64_t bytes, double interval)
    : path_(std::move(path)),
      fd_(fd),
      bytes_(bytes),
      fsync_interval_(interval),
      last_sync_(std::chrono::steady_clock::now()) {}

JournalWriter JournalWriter::create(const std::string& path, const JournalHeader& header,
                                    double fsync_interval_s) {
  if (header.kind.size() > kMaxKind) throw InternalError("journal kind is too long");
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw InputError("cannot create journal " + path + ": " + errno_text());
  JournalWriter writer(path, fd, 0, fsync_interval_s);
  std::vector<std::byte> payload;
  store(payload, header.identity);
  store(payload, header.task_count);
  store(payload, static_cast<std::uint16_t>(header.kind.size()));
  const auto* kind = reinterpret_cast<const std::byte*>(header.kind.data());
  payload.insert(payload.end(), kind, kind + header.kind.size());
  std::vector<std::byte> out(reinterpret_cast<const std::byte*>(kMagic),
                             reinterpret_cast<const std::byte*>(kMagic) + 8);
  store(out, static_cast<std::uint32_t>(payload.size()));
  store(out, crc32c(payload));
  out.insert(out.end(), payload.begin(), payload.end());
  write_all(fd, out.data(), out.size(), path);
  writer.bytes_ = out.size();
  if (::fsync(fd) != 0) throw InputError("cannot fsync journal " + path + ": " + errno_text());
  fsync_directory_of(path);
  return writer;
}

JournalWriter JournalWriter::append_to(const std::string& path, std::uint64_t valid_bytes,
                                       double fsync_interval_s) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) throw InputError("cannot open journal " + path + ": " + errno_text());
  JournalWriter writer(path, fd, valid_bytes, fsync_interval_s);
  if (::ftruncate(fd, static_cast<off_t>(valid_bytes)) != 0 ||
      ::lseek(fd, static_cast<off_t>(valid_bytes), SEEK_SET) < 0) {
    throw InputError("cannot truncate journal " + path + ": " + errno_text());
  }
  return writer;
}

JournalWriter::JournalWriter(JournalWriter&& other) noexcept {
  *this = std::move(other);
}

JournalWriter& JournalWriter::operator=(JournalWriter&& other) noexcept {
  if (this != &other) {
    close();
    path_ = std::move(other.path_);
    fd_ = std::exchange(other.fd_, -1);
    bytes_ = other.bytes_;
    records_ = other.records_;
    fsync_interval_ = other.fsync_interval_;
    last_sync_ = other.last_sync_;
    staged_ = std::move(other.staged_);
    dirty_ = other.dirty_;
  }
  return *this;
}

JournalWriter::~JournalWriter() {
  close();
}

void JournalWriter::close() noexcept {
  if (fd_ < 0) return;
  try {
    sync();
  } catch (...) {  // best effort: the records already written stay
  }
  ::close(fd_);
  fd_ = -1;
}

void JournalWriter::add(std::uint64_t task_id, JournalStatus status,
                        std::span<const std::byte> payload) {
  if (payload.size() > kMaxPayload) {
    throw InputError("a task result of " + std::to_string(payload.size()) +
                     " bytes is too large for the journal (64 MiB at most)");
  }
  const std::size_t at = staged_.size();
  staged_.resize(at + kRecordHead + payload.size());
  std::byte* p = staged_.data() + at;
  const auto length = static_cast<std::uint32_t>(payload.size());
  std::memcpy(p, &length, 4);
  std::memcpy(p + 8, &task_id, 8);
  p[16] = static_cast<std::byte>(status);
  if (!payload.empty()) std::memcpy(p + kRecordHead, payload.data(), payload.size());
  const std::uint32_t crc = crc32c({p + 8, 9 + payload.size()});
  std::memcpy(p + 4, &crc, 4);
  ++records_;
}

void JournalWriter::flush() {
  if (!staged_.empty()) {
    write_all(fd_, staged_.data(), staged_.size(), path_);
    bytes_ += staged_.size();
    staged_.clear();
    dirty_ = true;
  }
  if (dirty_ && fsync_interval_ >= 0 &&
      std::chrono::duration<double>(std::chrono::steady_clock::now() - last_sync_).count() >=
          fsync_interval_) {
    sync();
  }
}

void JournalWriter::sync() {
  if (fd_ < 0) return;
  if (!staged_.empty()) {
    write_all(fd_, staged_.data(), staged_.size(), path_);
    bytes_ += staged_.size();
    staged_.clear();
    dirty_ = true;
  }
  if (dirty_ && ::fsync(fd_) != 0) {
    throw InputError("cannot fsync journal " + path_ + ": " + errno_text());
  }
  dirty_ = false;
  last_sync_ = std::chrono::steady_clock::now();
}

}  // namespace parakit::io
