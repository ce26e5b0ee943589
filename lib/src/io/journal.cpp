#include "parakit/io/journal.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <nmmintrin.h>
#define PARAKIT_JOURNAL_SSE42 1
#endif

#include <algorithm>
#include <atomic>
#include <boost/crc.hpp>
#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <cstring>
#include <deque>
#include <exception>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <utility>

#include "parakit/core/error.hpp"
#include "parakit/core/fault.hpp"
#include "parakit/sys/error_text.hpp"
#include "parakit/sys/file_io.hpp"
#include "parakit/sys/unique_fd.hpp"

namespace parakit::io {
namespace {

using sys::errno_text;

constexpr char kMagic[8] = {'P', 'K', 'J', 'R', 'N', 'L', '0', '1'};
constexpr std::size_t kHeaderHead = 8 + 4 + 4;      // magic, length, crc
constexpr std::size_t kHeaderFixed = 8 + 8 + 2;     // identity, task_count, kind_length
constexpr std::size_t kRecordHead = 4 + 4 + 8 + 1;  // length, crc, id, status
constexpr std::size_t kCrcOffset = 8;               // the checksum covers id, status, payload
constexpr std::uint32_t kMaxPayload = 64u << 20;
constexpr std::size_t kMaxKind = 256;
constexpr std::size_t kReadChunk = std::size_t{4} << 20;

using BoostCrc32c = boost::crc_optimal<32, 0x1EDC6F41, 0xFFFFFFFF, 0xFFFFFFFF, true, true>;

#ifdef PARAKIT_JOURNAL_SSE42
// The crc32 instruction has a latency of about 3 cycles but a throughput of 1 per cycle, so
// long inputs are checksummed as three interleaved lanes. The CRC register is linear over
// GF(2): crc(s, A || B) == shift_|B|(crc(s, A)) ^ crc(0, B), where shift_n(v) is the register
// after n zero bytes starting from v, itself linear in v and so a table lookup per byte of v.
constexpr std::size_t kLane = 256;  // bytes per lane and round (a multiple of 8)

struct LaneShift {
  std::uint32_t table[4][256];
  std::uint32_t operator()(std::uint32_t v) const noexcept {
    return table[0][v & 0xFF] ^ table[1][(v >> 8) & 0xFF] ^ table[2][(v >> 16) & 0xFF] ^
           table[3][v >> 24];
  }
};

__attribute__((target("sse4.2"))) LaneShift make_lane_shift() noexcept {
  std::uint32_t basis[32];
  for (int bit = 0; bit < 32; ++bit) {
    std::uint64_t c = std::uint64_t{1} << bit;
    for (std::size_t i = 0; i < kLane; i += 8) c = _mm_crc32_u64(c, 0);
    basis[bit] = static_cast<std::uint32_t>(c);
  }
  LaneShift shift{};
  for (int k = 0; k < 4; ++k) {
    for (std::uint32_t b = 0; b < 256; ++b) {
      std::uint32_t v = 0;
      for (int j = 0; j < 8; ++j) {
        if ((b >> j) & 1u) v ^= basis[8 * k + j];
      }
      shift.table[k][b] = v;
    }
  }
  return shift;
}

__attribute__((target("sse4.2"))) std::uint32_t crc32c_sse42(const std::byte* data,
                                                             std::size_t size,
                                                             std::uint32_t crc) noexcept {
  std::uint64_t c = ~crc;
  if (size >= 3 * kLane) {
    static const LaneShift shift = make_lane_shift();
    do {
      std::uint64_t b = 0;
      std::uint64_t d = 0;
      for (std::size_t i = 0; i < kLane; i += 8) {
        std::uint64_t w0, w1, w2;
        std::memcpy(&w0, data + i, 8);
        std::memcpy(&w1, data + kLane + i, 8);
        std::memcpy(&w2, data + 2 * kLane + i, 8);
        c = _mm_crc32_u64(c, w0);
        b = _mm_crc32_u64(b, w1);
        d = _mm_crc32_u64(d, w2);
      }
      c = shift(shift(static_cast<std::uint32_t>(c)) ^ static_cast<std::uint32_t>(b)) ^
          static_cast<std::uint32_t>(d);
      data += 3 * kLane;
      size -= 3 * kLane;
    } while (size >= 3 * kLane);
  }
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
#endif

template <class T>
T load(const std::byte* p) noexcept {
  T value;
  std::memcpy(&value, p, sizeof(T));
  return value;
}

template <class T>
std::byte* store(std::byte* p, T value) noexcept {
  std::memcpy(p, &value, sizeof(T));
  return p + sizeof(T);
}

/// A forward reader over a file through one reused buffer; records are parsed in place.
class Reader {
 public:
  explicit Reader(const std::string& path) : path_(path) {
    fd_ = sys::open_fd(path, O_RDONLY);
    if (!fd_) {
      const int err = errno;
      throw InputError("cannot open journal " + path + ": " + errno_text(err));
    }
    struct stat info {};
    if (::fstat(fd_.get(), &info) != 0 || !S_ISREG(info.st_mode)) {
      throw InputError("journal " + path + " is not a regular file");
    }
    size_ = static_cast<std::uint64_t>(info.st_size);
    ::posix_fadvise(fd_.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  }
  ~Reader() {
    if (prefetch_.joinable()) {
      prefetch_.request_stop();
      prefetch_.join();
    }
  }
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  /// The file size when it was opened; reading stops there.
  std::uint64_t size() const noexcept { return size_; }

  /// A journal that is not in the page cache (a requeued job on another node) would make the
  /// scan wait for the disk at every chunk: a helper thread asks the kernel to read ahead
  /// (readahead(2), chunk by chunk), at most kAhead bytes in front of the scan, so the disk
  /// works while the records are checked and replayed. Files of two chunks or less: none.
  void start_prefetch() noexcept {
    if (size_ <= 2 * kReadChunk) return;
    try {
      prefetch_ = std::jthread([this](const std::stop_token& stop) { prefetch(stop); });
    } catch (const std::system_error&) {
      // No thread to spare (RLIMIT_NPROC...): the scan reads without help, just slower.
    }
  }

  /// Whether at(offset, count) would return bytes already in the buffer (no refill, so the
  /// pointers handed out since the last refill stay valid).
  bool buffered(std::uint64_t offset, std::size_t count) const noexcept {
    return offset >= begin_ && offset + count <= begin_ + filled_;
  }

  /// Gives the buffer (and the bytes read into it) away and goes on in `fresh`: pointers into
  /// the old buffer stay valid for whoever holds it. The next at() reads again.
  std::vector<std::byte> exchange_buffer(std::vector<std::byte> fresh) noexcept {
    std::vector<std::byte> old = std::exchange(buffer_, std::move(fresh));
    begin_ = 0;
    filled_ = 0;
    return old;
  }

  /// `count` bytes at `offset` (offset + count <= size()), valid until the next refill.
  const std::byte* at(std::uint64_t offset, std::size_t count) {
    if (offset < begin_ || offset + count > begin_ + filled_) fill(offset, count);
    return buffer_.data() + (offset - begin_);
  }

  /// Whether every byte from `offset` to size() is zero (true when there are none).
  bool zeros_from(std::uint64_t offset) {
    while (offset < size_) {
      const auto count =
          static_cast<std::size_t>(std::min<std::uint64_t>(kReadChunk, size_ - offset));
      const std::byte* p = at(offset, count);
      // p[0] == 0 and p[i] == p[i + 1] for all i: every byte is zero.
      if (p[0] != std::byte{0} || std::memcmp(p, p + 1, count - 1) != 0) return false;
      offset += count;
    }
    return true;
  }

 private:
  void fill(std::uint64_t offset, std::size_t count) {
    const std::size_t want = std::max(count, kReadChunk);
    if (buffer_.size() < want) buffer_.resize(want);
    const auto to_read = static_cast<std::size_t>(std::min<std::uint64_t>(want, size_ - offset));
    const auto [got, err] = sys::pread_all(fd_.get(), std::span(buffer_.data(), to_read), offset);
    if (err != 0) throw InputError("cannot read journal " + path_ + ": " + errno_text(err));
    if (got < to_read) throw InputError("cannot read journal " + path_ + ": it shrank while read");
    begin_ = offset;
    filled_ = got;
    consumed_.store(offset + got, std::memory_order_relaxed);
  }

  void prefetch(const std::stop_token& stop) noexcept {
    for (std::uint64_t at = 0; at < size_ && !stop.stop_requested(); at += kReadChunk) {
      while (at > consumed_.load(std::memory_order_relaxed) + kAhead) {
        if (stop.stop_requested()) return;
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
      ::readahead(fd_.get(), static_cast<off_t>(at), kReadChunk);
    }
  }

  std::string path_;
  sys::UniqueFd fd_;
  std::uint64_t size_ = 0;
  std::vector<std::byte> buffer_;
  std::uint64_t begin_ = 0;
  std::size_t filled_ = 0;
  static constexpr std::uint64_t kAhead = 16 * kReadChunk;
  std::atomic<std::uint64_t> consumed_{0};
  std::jthread prefetch_;  // last: joined before the descriptor is closed
};

/// Parses the header into `header`; returns its size in bytes.
std::uint64_t parse_header(Reader& in, const std::string& path, JournalHeader& header) {
  const auto bad = [&](const std::string& why) {
    return InputError("journal " + path + " is not a parakit journal (" + why + ")");
  };
  if (in.size() < kHeaderHead + kHeaderFixed) throw bad("too short for a header");
  const std::byte* head = in.at(0, kHeaderHead);
  if (std::memcmp(head, kMagic, sizeof kMagic) != 0) throw bad("bad magic");
  const auto length = load<std::uint32_t>(head + 8);
  const auto crc = load<std::uint32_t>(head + 12);
  if (length < kHeaderFixed || length > kHeaderFixed + kMaxKind ||
      kHeaderHead + std::uint64_t{length} > in.size()) {
    throw bad("bad header length " + std::to_string(length));
  }
  const std::byte* payload = in.at(kHeaderHead, length);
  if (crc32c({payload, length}) != crc) throw bad("header checksum mismatch");
  const auto kind_length = load<std::uint16_t>(payload + 16);
  if (std::size_t{kind_length} + kHeaderFixed != length) throw bad("bad kind length");
  header.identity = load<std::uint64_t>(payload);
  header.task_count = load<std::uint64_t>(payload + 8);
  header.kind.assign(reinterpret_cast<const char*>(payload + kHeaderFixed), kind_length);
  return kHeaderHead + std::uint64_t{length};
}

/// Two runs appending to one journal would interleave records: the writer holds an
/// exclusive flock for its lifetime (released when the descriptor closes).
void lock_exclusively(int fd, const std::string& path) {
  if (::flock(fd, LOCK_EX | LOCK_NB) == 0) return;
  const int err = errno;
  if (err == EWOULDBLOCK) {
    throw InputError("journal " + path + " is in use by another running parakit farm");
  }
  throw InputError("cannot lock journal " + path + ": " + errno_text(err));
}

}  // namespace

namespace detail {
std::uint32_t crc32c_portable(std::span<const std::byte> data, std::uint32_t crc) noexcept {
  // checksum() == reflect(interim remainder) ^ 0xFFFFFFFF, so resuming from a finished
  // `crc` starts from the remainder reflect(~crc).
  std::uint32_t rem = ~crc;
  std::uint32_t reflected = 0;
  for (int bit = 0; bit < 32; ++bit, rem >>= 1) reflected = (reflected << 1) | (rem & 1u);
  BoostCrc32c boost_crc(reflected);
  boost_crc.process_bytes(data.data(), data.size());
  return boost_crc.checksum();
}
}  // namespace detail

std::uint32_t crc32c(std::span<const std::byte> data, std::uint32_t crc) noexcept {
#ifdef PARAKIT_JOURNAL_SSE42
  if (have_sse42()) return crc32c_sse42(data.data(), data.size(), crc);
#endif
  return detail::crc32c_portable(data, crc);
}

JournalHeader read_journal_header(const std::string& path) {
  Reader in(path);
  JournalHeader header;
  parse_header(in, path, header);
  return header;
}

namespace {

/// Checked records, with the buffer that holds their bytes (handed from the checking side to
/// the replaying side and back for reuse).
struct Block {
  std::vector<std::byte> bytes;
  std::vector<JournalRecord> records;
};

/// The checking side gave up because the replaying side did (its callback threw).
struct Abandoned {};

/// Checks every record after the header at `offset` (length, checksum, status), and hands
/// the valid ones out in file order through emit(Block&&), one block per buffer's worth, the
/// last one before a bad record is judged. spare() supplies an empty block to read on in.
/// Sets scan.valid_bytes, dropped_bytes and warning; throws InputError for a corrupt record
/// before the end (unless `force`) or a read error.
template <class Emit, class Spare>
void check_records(Reader& in, const std::string& path, bool force, std::uint64_t offset,
                   JournalScan& scan, Emit&& emit, Spare&& spare) {
  const std::uint64_t end = in.size();
  std::string problem;       // why the record at `offset` is bad; empty: none is
  std::uint64_t extent = 0;  // how far the bad record reaches (may pass the end)
  std::vector<JournalRecord> records;
  const auto hand_off = [&] {  // before the reader refills: the records point into its buffer
    if (records.empty()) return;
    Block block = spare();
    block.bytes = in.exchange_buffer(std::move(block.bytes));
    block.records.swap(records);
    records.clear();
    emit(std::move(block));
  };
  while (offset < end) {
    const std::uint64_t left = end - offset;
    if (left < kRecordHead) {
      problem = "cut short";
      extent = kRecordHead;
      break;
    }
    if (!in.buffered(offset, kRecordHead)) hand_off();
    const auto length = load<std::uint32_t>(in.at(offset, kRecordHead));
    if (length > kMaxPayload) {  // the length itself is garbage: only the head is known
      problem = "length " + std::to_string(length) + " over the 64 MiB limit";
      extent = kRecordHead;
      break;
    }
    extent = kRecordHead + std::uint64_t{length};
    if (extent > left) {
      problem = "cut short";
      break;
    }
    if (!in.buffered(offset, static_cast<std::size_t>(extent))) hand_off();
    const std::byte* record = in.at(offset, static_cast<std::size_t>(extent));
    const std::byte* covered = record + kCrcOffset;
    if (crc32c({covered, kRecordHead - kCrcOffset + length}) != load<std::uint32_t>(record + 4)) {
      problem = "checksum mismatch";
      break;
    }
    const auto status = static_cast<std::uint8_t>(record[16]);
    if (status > kMaxTaskStatus) {
      problem = "unknown status " + std::to_string(status);
      break;
    }
    records.push_back(JournalRecord{load<std::uint64_t>(covered),
                                    static_cast<TaskStatus>(status),
                                    {record + kRecordHead, length}});
    offset += extent;
  }
  hand_off();  // every valid record, also those before a bad one
  scan.valid_bytes = offset;
  if (problem.empty()) return;

  scan.dropped_bytes = end - offset;
  const std::string where = "at offset " + std::to_string(offset);
  const bool last = extent >= end - offset || in.zeros_from(offset + extent);
  if (last) {
    scan.warning = "journal " + path + ": ignored a torn last record (" +
                   std::to_string(scan.dropped_bytes) + " bytes " + where + ")";
  } else if (force) {
    scan.warning = "journal " + path + ": dropped a corrupt record " + where + " (" + problem +
                   ") and everything after it, " + std::to_string(scan.dropped_bytes) +
                   " bytes in all (--force-resume)";
  } else {
    throw InputError("journal " + path + ": corrupt record " + where + " (" + problem +
                     "), before the end; use --force-resume to drop it and everything after it");
  }
}

/// A bounded hand-off of blocks from the checking thread to the replaying one, and of used
/// blocks back for reuse (so the buffers are allocated, and paged in, once).
class BlockQueue {
 public:
  /// Checking side: queues a block, waiting while kDepth are queued. Throws Abandoned when
  /// the replaying side has given up.
  void push(Block&& block) {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return abandoned_ || ready_.size() < kDepth; });
    if (abandoned_) throw Abandoned{};
    ready_.push_back(std::move(block));
    changed_.notify_all();
  }
  /// Checking side: a used block (its records cleared), or a new one.
  Block spare() {
    const std::lock_guard lock(mutex_);
    if (free_.empty()) return {};
    Block block = std::move(free_.back());
    free_.pop_back();
    return block;
  }
  /// Checking side: nothing more comes.
  void close() {
    const std::lock_guard lock(mutex_);
    closed_ = true;
    changed_.notify_all();
  }
  /// Replaying side: the next block; false once the queue is closed and empty.
  bool pop(Block& out) {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return closed_ || !ready_.empty(); });
    if (ready_.empty()) return false;
    out = std::move(ready_.front());
    ready_.pop_front();
    changed_.notify_all();
    return true;
  }
  /// Replaying side: a block it is done with.
  void recycle(Block&& block) {
    block.records.clear();
    const std::lock_guard lock(mutex_);
    free_.push_back(std::move(block));
  }
  /// Replaying side: it stops early; the checking side's next push throws Abandoned.
  void abandon() {
    const std::lock_guard lock(mutex_);
    abandoned_ = true;
    changed_.notify_all();
  }

 private:
  static constexpr std::size_t kDepth = 4;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Block> ready_;
  std::vector<Block> free_;
  bool closed_ = false;
  bool abandoned_ = false;
};

}  // namespace

JournalScan scan_journal(const std::string& path, bool force,
                         const std::function<void(const JournalRecord&)>& on_record) {
  Reader in(path);
  in.start_prefetch();
  JournalScan scan;
  const std::uint64_t offset = parse_header(in, path, scan.header);
  const auto deliver = [&](const Block& block) {
    if (on_record) {
      for (const JournalRecord& record : block.records) on_record(record);
    }
    scan.records += block.records.size();
  };
  // Two stages: a checking thread reads and verifies the records (the I/O, the copy and the
  // checksums), this thread hands them to on_record (the replay, which costs as much again
  // on a resume of many small records). Files of one read chunk or less are checked inline.
  BlockQueue queue;
  JournalScan checked;
  std::exception_ptr failure;
  std::jthread checker;
  if (in.size() > kReadChunk) {
    try {
      checker = std::jthread([&] {
        try {
          check_records(
              in, path, force, offset, checked,
              [&](Block&& block) { queue.push(std::move(block)); }, [&] { return queue.spare(); });
        } catch (const Abandoned&) {
        } catch (...) {
          failure = std::current_exception();
        }
        queue.close();
      });
    } catch (const std::system_error&) {
      // No thread to spare (RLIMIT_NPROC...): check inline below.
    }
  }
  if (!checker.joinable()) {
    Block spare;
    check_records(
        in, path, force, offset, checked,
        [&](Block&& block) {
          deliver(block);
          spare = std::move(block);
          spare.records.clear();
        },
        [&] { return std::move(spare); });
  } else {
    Block block;
    try {
      while (queue.pop(block)) {
        deliver(block);
        queue.recycle(std::move(block));
      }
    } catch (...) {
      queue.abandon();
      checker.join();
      throw;
    }
    checker.join();
    if (failure) std::rethrow_exception(failure);
  }
  scan.valid_bytes = checked.valid_bytes;
  scan.dropped_bytes = checked.dropped_bytes;
  scan.warning = std::move(checked.warning);
  return scan;
}

JournalWriter::JournalWriter(std::string path, sys::UniqueFd fd, std::uint64_t bytes,
                             double interval)
    : path_(std::move(path)),
      fd_(std::move(fd)),
      bytes_(bytes),
      fsync_interval_(interval),
      last_sync_(std::chrono::steady_clock::now()) {
  // The kill -9 drill: PARAKIT_FAULT=journal-record#N:kill@0 dies half-way through writing
  // this writer's N-th record (only the farm master, rank 0, writes journals).
  if (const auto plan = planned_fault("journal-record", 0); plan && plan->kind == "kill") {
    kill_at_record_ = plan->hit;
  }
}

JournalWriter JournalWriter::create(const std::string& path, const JournalHeader& header,
                                    double fsync_interval_s) {
  if (header.kind.size() > kMaxKind) {
    throw InternalError("journal kind '" + header.kind + "' is longer than 256 bytes");
  }
  const std::size_t length = kHeaderFixed + header.kind.size();
  std::vector<std::byte> out(kHeaderHead + length);
  std::byte* payload = out.data() + kHeaderHead;
  std::byte* p = store(payload, header.identity);
  p = store(p, header.task_count);
  p = store(p, static_cast<std::uint16_t>(header.kind.size()));
  if (!header.kind.empty()) std::memcpy(p, header.kind.data(), header.kind.size());
  std::memcpy(out.data(), kMagic, sizeof kMagic);
  p = store(out.data() + sizeof kMagic, static_cast<std::uint32_t>(length));
  store(p, crc32c({payload, length}));

  sys::UniqueFd file = sys::open_fd(path, O_WRONLY | O_CREAT, 0666);
  if (!file) {
    const int err = errno;
    throw InputError("cannot create journal " + path + ": " + errno_text(err));
  }
  const int fd = file.get();
  JournalWriter writer(path, std::move(file), 0, fsync_interval_s);
  lock_exclusively(fd, path);
  if (::ftruncate(fd, 0) != 0) {
    const int err = errno;
    throw InputError("cannot truncate journal " + path + ": " + errno_text(err));
  }
  if (const int err = sys::write_all(fd, out); err != 0) {
    writer.broken_ = true;
    throw InputError("cannot write journal " + path + ": " + errno_text(err));
  }
  writer.bytes_ = out.size();
  writer.dirty_ = true;
  writer.fsync_now();
  (void)sys::fsync_parent(path);  // best effort: some file systems refuse
  return writer;
}

JournalWriter JournalWriter::append_to(const std::string& path, std::uint64_t valid_bytes,
                                       double fsync_interval_s) {
  sys::UniqueFd file = sys::open_fd(path, O_WRONLY);
  if (!file) {
    const int err = errno;
    throw InputError("cannot open journal " + path + " for appending: " + errno_text(err));
  }
  const int fd = file.get();
  JournalWriter writer(path, std::move(file), valid_bytes, fsync_interval_s);
  lock_exclusively(fd, path);
  struct stat info {};
  if (::fstat(fd, &info) != 0) {
    const int err = errno;
    throw InputError("cannot stat journal " + path + ": " + errno_text(err));
  }
  const auto size = static_cast<std::uint64_t>(info.st_size);
  if (size < valid_bytes || valid_bytes < kHeaderHead + kHeaderFixed) {
    writer.broken_ = true;
    throw InputError("journal " + path + " has " + std::to_string(size) + " bytes, not the " +
                     std::to_string(valid_bytes) +
                     " it had when it was read; was it changed meanwhile?");
  }
  if (size > valid_bytes) {
    if (::ftruncate(fd, static_cast<off_t>(valid_bytes)) != 0) {
      const int err = errno;
      writer.broken_ = true;
      throw InputError("cannot truncate journal " + path + ": " + errno_text(err));
    }
    writer.dirty_ = true;
    writer.fsync_now();  // the torn tail must not come back after a crash
  }
  if (::lseek(fd, static_cast<off_t>(valid_bytes), SEEK_SET) < 0) {
    const int err = errno;
    writer.broken_ = true;
    throw InputError("cannot seek in journal " + path + ": " + errno_text(err));
  }
  return writer;
}

JournalWriter::JournalWriter(JournalWriter&& other) noexcept
    : path_(std::move(other.path_)),
      fd_(std::move(other.fd_)),
      bytes_(other.bytes_),
      records_(other.records_),
      staged_records_(std::exchange(other.staged_records_, 0)),
      kill_at_record_(other.kill_at_record_),
      kill_offset_(std::exchange(other.kill_offset_, 0)),
      fsync_interval_(other.fsync_interval_),
      last_sync_(other.last_sync_),
      staged_(std::move(other.staged_)),
      dirty_(std::exchange(other.dirty_, false)),
      broken_(other.broken_) {
  other.staged_.clear();
}

JournalWriter& JournalWriter::operator=(JournalWriter&& other) noexcept {
  if (this != &other) {
    close();
    path_ = std::move(other.path_);
    fd_ = std::move(other.fd_);
    bytes_ = other.bytes_;
    records_ = other.records_;
    staged_records_ = std::exchange(other.staged_records_, 0);
    kill_at_record_ = other.kill_at_record_;
    kill_offset_ = std::exchange(other.kill_offset_, 0);
    fsync_interval_ = other.fsync_interval_;
    last_sync_ = other.last_sync_;
    staged_ = std::move(other.staged_);
    other.staged_.clear();
    dirty_ = std::exchange(other.dirty_, false);
    broken_ = other.broken_;
  }
  return *this;
}

JournalWriter::~JournalWriter() {
  close();
}

void JournalWriter::close() noexcept {
  if (!fd_) return;
  if (!broken_) {
    try {
      sync();
    } catch (...) {  // best effort: what was written stays, a torn tail is dropped on resume
    }
  }
  fd_.reset();
}

void JournalWriter::add(std::uint64_t task_id, TaskStatus status,
                        std::span<const std::byte> payload) {
  if (!fd_) throw InternalError("journal writer used after move");
  if (static_cast<std::uint8_t>(status) > kMaxTaskStatus) {
    throw InternalError("journal " + path_ + ": unknown record status " +
                        std::to_string(static_cast<unsigned>(status)));
  }
  if (payload.size() > kMaxPayload) {
    throw InputError("journal " + path_ + ": a task result of " + std::to_string(payload.size()) +
                     " bytes is too large to record (64 MiB at most)");
  }
  const std::size_t at = staged_.size();
  staged_.resize(at + kRecordHead + payload.size());  // keeps its capacity across flushes
  std::byte* record = staged_.data() + at;
  std::byte* p = store(record, static_cast<std::uint32_t>(payload.size()));
  p += 4;  // the checksum, stored below
  p = store(p, task_id);
  p = store(p, static_cast<std::uint8_t>(status));
  if (!payload.empty()) std::memcpy(p, payload.data(), payload.size());
  store(record + 4, crc32c({record + kCrcOffset, kRecordHead - kCrcOffset + payload.size()}));
  ++staged_records_;
  if (kill_at_record_ != 0 && records_ + staged_records_ == kill_at_record_) {
    kill_offset_ = at + (kRecordHead + payload.size()) / 2;  // half of this record
  }
}

void JournalWriter::write_staged() {
  if (!fd_) throw InternalError("journal writer used after move");
  if (broken_) throw InputError("journal " + path_ + ": unusable after an earlier failure");
  if (staged_.empty()) return;
  if (kill_offset_ != 0) {  // the drill: the records before, half of this one, then SIGKILL
    (void)sys::write_all(fd_.get(), std::span(staged_.data(), kill_offset_));
    std::raise(SIGKILL);
  }
  if (const int err = sys::write_all(fd_.get(), staged_); err != 0) {
    // Cut a partial batch off again so that a later flush appends whole records only.
    if (::ftruncate(fd_.get(), static_cast<off_t>(bytes_)) != 0 ||
        ::lseek(fd_.get(), static_cast<off_t>(bytes_), SEEK_SET) < 0) {
      broken_ = true;
    }
    throw InputError("cannot write journal " + path_ + ": " + errno_text(err));
  }
  bytes_ += staged_.size();
  records_ += staged_records_;
  staged_.clear();
  staged_records_ = 0;
  dirty_ = true;
}

void JournalWriter::fsync_now() {
  if (!dirty_) return;
  if (::fsync(fd_.get()) != 0) {
    // After a failed fsync the kernel may have dropped the dirty pages: trust nothing more.
    const int err = errno;
    broken_ = true;
    throw InputError("cannot fsync journal " + path_ + ": " + errno_text(err));
  }
  dirty_ = false;
  last_sync_ = std::chrono::steady_clock::now();
}

void JournalWriter::flush() {
  write_staged();
  if (dirty_ && fsync_interval_ >= 0 &&
      std::chrono::duration<double>(std::chrono::steady_clock::now() - last_sync_).count() >=
          fsync_interval_) {
    fsync_now();
  }
}

void JournalWriter::sync() {
  write_staged();
  fsync_now();
}

}  // namespace parakit::io
