#include "parakit/io/journal.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/crc.hpp>
#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <cstring>
#include <ctime>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
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

constexpr std::uint32_t kMaxPayload = 64u << 20;
constexpr std::size_t kMaxKind = 256;
constexpr std::size_t kReadChunk = std::size_t{4} << 20;
constexpr std::size_t kHeaderRead = std::size_t{64} << 10;  // a header is at most 296 bytes

/// Where a version's header and records keep their fields.
struct RecordLayout {
  std::uint8_t number;        // 1 or 2
  std::size_t head;           // bytes before the payload
  std::size_t checked_from;   // the checksum covers [checked_from, head + payload_length)
  std::size_t checksum_size;  // 4 (CRC-32C) or 8 (XXH3-64), stored at offset 4
};
constexpr RecordLayout kLayout1{1, 4 + 4 + 8 + 1, 8, 4};
// length, checksum, id, status, attempts, completed_ns, runtime_ns
constexpr RecordLayout kLayout2{2, 4 + 8 + 8 + 1 + 4 + 8 + 8, 12, 8};

const RecordLayout& layout_of(std::uint8_t number) {
  return number == 1 ? kLayout1 : kLayout2;
}

struct HeaderFormat {
  char magic[8];
  std::size_t head;           // magic, length, checksum
  std::size_t fixed;          // the payload's bytes before the kind
  std::size_t checksum_size;  // stored after the length
};
constexpr HeaderFormat kHeader1{{'P', 'K', 'J', 'R', 'N', 'L', '0', '1'}, 8 + 4 + 4, 8 + 8 + 2, 4};
constexpr HeaderFormat kHeader2{
    {'P', 'K', 'J', 'R', 'N', 'L', '0', '2'}, 8 + 4 + 8, 1 + 1 + 2 + 8 + 8, 8};

using BoostCrc32c = boost::crc_optimal<32, 0x1EDC6F41, 0xFFFFFFFF, 0xFFFFFFFF, true, true>;

/// Version 1's digest of bytes: FNV-1a 64 followed by a final avalanche.
std::uint64_t fnv1a_avalanche(std::span<const std::byte> data) noexcept {
  std::uint64_t h = legacy_fnv1a64(data);
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  return h;
}

/// Version 1's chaining step: SplitMix64's finaliser.
constexpr std::uint64_t splitmix(std::uint64_t x) noexcept {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

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
  /// `fill_bytes`: how much a refill reads at least (less for a reader that only wants the
  /// header, then reads into buffers of its own).
  explicit Reader(const std::string& path, std::size_t fill_bytes = kReadChunk)
      : path_(path), fill_bytes_(fill_bytes) {
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

  /// Reads out.size() bytes at `offset` (offset + out.size() <= size()) into `out`, a
  /// buffer of the caller's, as a refill would (the read-ahead follows).
  void read_into(std::span<std::byte> out, std::uint64_t offset) {
    const auto [got, err] = sys::pread_all(fd_.get(), out, offset);
    if (err != 0) throw InputError("cannot read journal " + path_ + ": " + errno_text(err));
    if (got < out.size()) {
      throw InputError("cannot read journal " + path_ + ": it shrank while read");
    }
    consumed_.store(offset + got, std::memory_order_relaxed);
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
    // A chunk, but never more than the file holds from here: a small journal (most of them)
    // costs a small buffer.
    const std::size_t want = std::max(
        count, static_cast<std::size_t>(std::min<std::uint64_t>(fill_bytes_, size_ - offset)));
    if (buffer_.size() < want) buffer_.resize(want);
    const auto to_read = static_cast<std::size_t>(std::min<std::uint64_t>(want, size_ - offset));
    read_into(std::span(buffer_.data(), to_read), offset);
    begin_ = offset;
    filled_ = to_read;
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
  std::size_t fill_bytes_;
  sys::UniqueFd fd_;
  std::uint64_t size_ = 0;
  std::vector<std::byte> buffer_;
  std::uint64_t begin_ = 0;
  std::size_t filled_ = 0;
  static constexpr std::uint64_t kAhead = 16 * kReadChunk;
  std::atomic<std::uint64_t> consumed_{0};
  std::jthread prefetch_;  // last: joined before the descriptor is closed
};

/// Whether the checksum stored in a record (or header) head matches its bytes.
bool checksum_matches(std::size_t checksum_size, const std::byte* stored,
                      std::span<const std::byte> covered) noexcept {
  if (checksum_size == 4) return detail::crc32c(covered) == load<std::uint32_t>(stored);
  return hash_bytes(covered) == load<std::uint64_t>(stored);
}

void store_checksum(std::size_t checksum_size, std::byte* at,
                    std::span<const std::byte> covered) noexcept {
  if (checksum_size == 4) {
    store(at, detail::crc32c(covered));
  } else {
    store(at, hash_bytes(covered));
  }
}

/// Parses the header into `header`; returns its size in bytes.
std::uint64_t parse_header(Reader& in, const std::string& path, JournalHeader& header) {
  const auto bad = [&](const std::string& why) {
    return InputError("journal " + path + " is not a parakit journal (" + why + ")");
  };
  if (in.size() < 8) throw bad("too short for a header");
  const std::byte* magic = in.at(0, 8);
  const HeaderFormat* format = nullptr;
  for (const HeaderFormat* known : {&kHeader1, &kHeader2}) {
    if (std::memcmp(magic, known->magic, 8) == 0) format = known;
  }
  if (format == nullptr) {
    if (std::memcmp(magic, "PKJRNL", 6) == 0) {
      throw InputError("journal " + path + " was written by a newer parakit (format " +
                       std::string(reinterpret_cast<const char*>(magic) + 6, 2) +
                       "); this one reads formats 01 and 02");
    }
    throw bad("bad magic");
  }
  if (in.size() < format->head + format->fixed) throw bad("too short for a header");
  const std::byte* head = in.at(0, format->head);
  const auto length = load<std::uint32_t>(head + 8);
  if (length < format->fixed || length > format->fixed + kMaxKind ||
      format->head + std::uint64_t{length} > in.size()) {
    throw bad("bad header length " + std::to_string(length));
  }
  head = in.at(0, format->head + length);
  const std::byte* payload = head + format->head;
  if (!checksum_matches(format->checksum_size, head + 12, {payload, length})) {
    throw bad("header checksum mismatch");
  }
  std::uint16_t kind_length = 0;
  if (format == &kHeader1) {
    header = journal_header("", load<std::uint64_t>(payload), load<std::uint64_t>(payload + 8), 1);
    kind_length = load<std::uint16_t>(payload + 16);
  } else {
    const auto layout = static_cast<std::uint8_t>(payload[0]);
    const auto hash = static_cast<std::uint8_t>(payload[1]);
    if (layout != 2 || hash != static_cast<std::uint8_t>(JournalHash::xxh3_64)) {
      throw InputError("journal " + path + " was written by a newer parakit (record layout " +
                       std::to_string(layout) + ", hash " + std::to_string(hash) +
                       "); this one reads layout 2 with hash 2 (XXH3-64)");
    }
    kind_length = load<std::uint16_t>(payload + 2);
    header =
        journal_header("", load<std::uint64_t>(payload + 4), load<std::uint64_t>(payload + 12), 2);
  }
  if (std::size_t{kind_length} + format->fixed != length) throw bad("bad kind length");
  header.kind.assign(reinterpret_cast<const char*>(payload + format->fixed), kind_length);
  return format->head + std::uint64_t{length};
}

/// Two runs appending to one journal would interleave records: the writer holds an
/// exclusive flock for its lifetime (released when the descriptor closes). A lock held for
/// less than kLockPatience is not a farm's: journal_writer_running (journal_summary.hpp)
/// holds a shared one for microseconds to see whether a farm runs, so the writer tries again
/// for a while before it calls the journal in use.
void lock_exclusively(int fd, const std::string& path) {
  constexpr auto kLockPatience = std::chrono::milliseconds(250);
  const auto deadline = std::chrono::steady_clock::now() + kLockPatience;
  for (;;) {
    if (::flock(fd, LOCK_EX | LOCK_NB) == 0) return;
    const int err = errno;
    if (err == EINTR) continue;
    if (err != EWOULDBLOCK) {
      throw InputError("cannot lock journal " + path + ": " + errno_text(err));
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      throw InputError("journal " + path + " is in use by another running parakit farm");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

}  // namespace

std::uint64_t legacy_fnv1a64(std::span<const std::byte> data) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (const std::byte b : data) {
    h ^= static_cast<std::uint64_t>(b);
    h *= 0x100000001b3ULL;
  }
  return h;
}

namespace detail {
std::uint32_t crc32c(std::span<const std::byte> data, std::uint32_t crc) noexcept {
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

JournalHeader journal_header(std::string kind, std::uint64_t identity, std::uint64_t task_count,
                             std::uint8_t version) {
  JournalHeader header;
  header.kind = std::move(kind);
  header.identity = identity;
  header.task_count = task_count;
  header.version = version;
  header.record_layout = version == 1 ? 1 : 2;
  header.hash = version == 1 ? JournalHash::fnv1a_crc32c : JournalHash::xxh3_64;
  return header;
}

std::uint64_t journal_identity(JournalHash hash, std::string_view key) noexcept {
  const auto bytes = std::as_bytes(std::span(key.data(), key.size()));
  return hash == JournalHash::fnv1a_crc32c ? fnv1a_avalanche(bytes) : hash_bytes(bytes);
}

TaskListIdentity::TaskListIdentity(JournalHash hash, std::uint64_t count) : hash_(hash) {
  if (hash_ == JournalHash::fnv1a_crc32c) {
    legacy_ = splitmix(count);
  } else {
    stream_ = std::make_unique<StreamHash>();
    stream_->add_u64(count);
  }
}

TaskListIdentity::~TaskListIdentity() = default;

void TaskListIdentity::add_task(std::span<const std::byte> encoded) noexcept {
  if (hash_ == JournalHash::fnv1a_crc32c) {
    legacy_ = splitmix(legacy_ ^ fnv1a_avalanche(encoded));
  } else {
    stream_->add_u64(encoded.size());
    stream_->add(encoded);
  }
}

std::uint64_t TaskListIdentity::value() const noexcept {
  return hash_ == JournalHash::fnv1a_crc32c ? legacy_ : stream_->value();
}

JournalHeader read_journal_header(const std::string& path) {
  Reader in(path, kHeaderRead);
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

/// Sets `r` to the fields of a checked record at `record` whose payload is `length` bytes
/// (field by field: no temporary whose copy would stall on store forwarding).
void decode_record(const RecordLayout& layout, const std::byte* record, std::uint32_t length,
                   JournalRecord& r) noexcept {
  const std::byte* covered = record + layout.checked_from;
  r.task_id = load<std::uint64_t>(covered);
  r.status = static_cast<TaskStatus>(covered[8]);
  if (layout.number == 2) {
    r.attempts = load<std::uint32_t>(covered + 9);
    r.completed_ns = load<std::int64_t>(covered + 13);
    r.runtime_ns = load<std::uint64_t>(covered + 21);
  } else {
    r.attempts = 0;
    r.completed_ns = 0;
    r.runtime_ns = 0;
  }
  r.payload = {record + layout.head, length};
}

/// A record that failed a check: where, how far it reaches (may pass the end), and why.
struct BadRecord {
  std::uint64_t offset = 0;
  std::uint64_t extent = 0;
  std::string problem;
};

/// Judges the first bad record: a torn last one (nothing but zeros after its extent) sets
/// scan.warning; any other throws InputError, or with `force` sets the warning. Sets
/// scan.valid_bytes and dropped_bytes.
void judge_bad_record(Reader& in, const std::string& path, bool force, const BadRecord& bad,
                      JournalScan& scan) {
  const std::uint64_t end = in.size();
  const std::uint64_t offset = bad.offset;
  const std::uint64_t extent = bad.extent;
  const std::string& problem = bad.problem;
  scan.valid_bytes = offset;
  scan.dropped_bytes = end - offset;
  const std::string where = "at offset " + std::to_string(offset);
  const bool last = extent >= end - offset || in.zeros_from(offset + extent);
  if (last) {
    scan.warning = "journal " + path + ": ignored a torn last record (" +
                   std::to_string(scan.dropped_bytes) + " bytes " + where + ")";
  } else if (force) {
    scan.warning = "journal " + path + ": dropped a corrupt record " + where + " (" + problem +
                   ") and everything after it, " + std::to_string(scan.dropped_bytes) +
                   " bytes in all (scan_journal(force = true))";
  } else {
    throw InputError("journal " + path + ": corrupt record " + where + " (" + problem +
                     "), before the end; use scan_journal(force = true) to drop it and everything "
                     "after it");
  }
}

/// Checks every record after the header at `offset` (length, checksum, status), and hands
/// the valid ones out in file order through emit(Block&&), one block per buffer's worth, the
/// last one before a bad record is judged. spare() supplies an empty block to read on in.
/// Sets scan.valid_bytes, dropped_bytes and warning; throws InputError for a corrupt record
/// before the end (unless `force`) or a read error.
template <class Emit, class Spare>
void check_records(Reader& in, const std::string& path, bool force, std::uint64_t offset,
                   const RecordLayout& layout, JournalScan& scan, Emit&& emit, Spare&& spare) {
  const std::uint64_t end = in.size();
  const std::size_t head = layout.head;
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
    if (left < head) {
      problem = "cut short";
      extent = head;
      break;
    }
    if (!in.buffered(offset, head)) hand_off();
    const auto length = load<std::uint32_t>(in.at(offset, head));
    if (length > kMaxPayload) {  // the length itself is garbage: only the head is known
      problem = "length " + std::to_string(length) + " over the 64 MiB limit";
      extent = head;
      break;
    }
    extent = head + std::uint64_t{length};
    if (extent > left) {
      problem = "cut short";
      break;
    }
    if (!in.buffered(offset, static_cast<std::size_t>(extent))) hand_off();
    const std::byte* record = in.at(offset, static_cast<std::size_t>(extent));
    const std::byte* covered = record + layout.checked_from;
    if (!checksum_matches(layout.checksum_size, record + 4,
                          {covered, head - layout.checked_from + length})) {
      problem = "checksum mismatch";
      break;
    }
    const auto status = static_cast<std::uint8_t>(covered[8]);
    if (status > kMaxTaskStatus) {
      problem = "unknown status " + std::to_string(status);
      break;
    }
    decode_record(layout, record, length, records.emplace_back());
    offset += extent;
  }
  hand_off();  // every valid record, also those before a bad one
  scan.valid_bytes = offset;
  if (problem.empty()) return;

  judge_bad_record(in, path, force, {offset, extent, problem}, scan);
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
  const RecordLayout& layout = layout_of(scan.header.record_layout);
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
              in, path, force, offset, layout, checked,
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
        in, path, force, offset, layout, checked,
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

namespace {

// The batched scan reads chunks of whole records into a ring of buffers (allocated once, not
// zero-filled); each chunk's checksums are verified by whichever thread is free (a helper
// takes them oldest first, the caller's thread the one it needs next or the newest), and
// the caller's thread decodes the verified records into a small reused array for the
// callback, in file order.
constexpr std::size_t kChunkBytes = std::size_t{256} << 10;
constexpr std::uint64_t kRingSlots = 4;
constexpr std::size_t kBatchRecords = 256;

/// A chunk's phases, in the low two bits of its state (above them: the chunk's number).
enum Phase : std::uint64_t { kRead = 1, kClaimed = 2, kVerified = 3 };
constexpr std::uint64_t kStopState = ~std::uint64_t{0};

constexpr std::uint64_t state_of(std::uint64_t number, Phase phase) noexcept {
  return number * 4 + phase;
}

/// Whole records read from the file, and what checking them found.
struct Chunk {
  std::unique_ptr<std::byte[]> data;
  std::size_t capacity = 0;
  std::uint64_t offset = 0;  // of data[0] in the file
  std::size_t whole = 0;     // bytes of whole records, by their lengths
  bool ends_bad = false;     // the record after them is bad (`bad`): reading stops there
  BadRecord bad;
  std::size_t good = 0;         // bytes of records that passed their checks (verified)
  bool checksum_bad = false;    // the record at `good` (< whole) has a bad checksum,
  std::uint8_t bad_status = 0;  // or else this unknown status
  std::atomic<std::uint64_t> state{0};
};

void reserve_chunk(Chunk& chunk, std::size_t bytes) {
  if (chunk.capacity >= bytes) return;
  chunk.data = std::make_unique_for_overwrite<std::byte[]>(bytes);
  chunk.capacity = bytes;
}

/// Reads whole records from `offset` into `chunk` (a chunk's worth; more for a record larger
/// than that), and notes a bad length or a record cut short by the end of the file.
void read_chunk(Reader& in, const RecordLayout& layout, std::uint64_t offset, Chunk& chunk) {
  const std::uint64_t end = in.size();
  const std::size_t head = layout.head;
  auto want = static_cast<std::size_t>(std::min<std::uint64_t>(kChunkBytes, end - offset));
  reserve_chunk(chunk, want);
  in.read_into({chunk.data.get(), want}, offset);
  chunk.offset = offset;
  chunk.ends_bad = false;
  std::size_t at = 0;
  for (;;) {
    const std::uint64_t left = end - (offset + at);
    if (left == 0) break;
    if (left < head) {
      chunk.ends_bad = true;
      chunk.bad = {offset + at, head, "cut short"};
      break;
    }
    if (at + head > want) break;  // the next chunk starts with this record
    const auto length = load<std::uint32_t>(chunk.data.get() + at);
    if (length > kMaxPayload) {
      chunk.ends_bad = true;
      chunk.bad = {offset + at, head,
                   "length " + std::to_string(length) + " over the 64 MiB limit"};
      break;
    }
    const std::uint64_t extent = head + std::uint64_t{length};
    if (extent > left) {
      chunk.ends_bad = true;
      chunk.bad = {offset + at, extent, "cut short"};
      break;
    }
    if (at + extent > want) {
      if (at != 0) break;
      want = static_cast<std::size_t>(extent);  // one record larger than a chunk: read it whole
      reserve_chunk(chunk, want);
      in.read_into({chunk.data.get(), want}, offset);
    }
    at += static_cast<std::size_t>(extent);
  }
  chunk.whole = at;
}

/// Verifies the checksum and status of each whole record of `chunk`; sets good and, for a
/// bad record, checksum_bad or bad_status.
void verify_chunk(const RecordLayout& layout, Chunk& chunk) noexcept {
  const std::byte* p = chunk.data.get();
  const std::size_t covered_head = layout.head - layout.checked_from;
  std::size_t at = 0;
  chunk.checksum_bad = false;
  while (at < chunk.whole) {
    const std::byte* record = p + at;
    const auto length = load<std::uint32_t>(record);
    const std::byte* covered = record + layout.checked_from;
    if (!checksum_matches(layout.checksum_size, record + 4, {covered, covered_head + length})) {
      chunk.checksum_bad = true;
      break;
    }
    const auto status = static_cast<std::uint8_t>(covered[8]);
    if (status > kMaxTaskStatus) {
      chunk.bad_status = status;
      break;
    }
    at += layout.head + length;
  }
  chunk.good = at;
}

/// The ring of chunks and the helper thread that verifies them.
class ChunkRing {
 public:
  explicit ChunkRing(const RecordLayout& layout) : layout_(layout) {}
  ~ChunkRing() { stop(); }
  ChunkRing(const ChunkRing&) = delete;
  ChunkRing& operator=(const ChunkRing&) = delete;

  /// Starts the helper (none when no thread can be had: the caller's thread verifies all).
  void start_helper() noexcept {
    try {
      helper_ = std::jthread([this] { help(); });
    } catch (const std::system_error&) {
    }
  }

  Chunk& slot(std::uint64_t number) noexcept { return slots_[number % kRingSlots]; }

  /// Chunk `number` has been read: it may be verified.
  void publish(std::uint64_t number) noexcept {
    Chunk& chunk = slot(number);
    chunk.state.store(state_of(number, kRead), std::memory_order_release);
    chunk.state.notify_all();
  }

  /// Returns once chunk `number` is verified, verifying it or (while the helper does) the
  /// newest unclaimed chunk up to `newest` meanwhile.
  void await_verified(std::uint64_t number, std::uint64_t newest) noexcept {
    Chunk& chunk = slot(number);
    for (;;) {
      const std::uint64_t state = chunk.state.load(std::memory_order_acquire);
      if (state == state_of(number, kVerified)) return;
      if (claim(number)) continue;
      bool helped = false;
      for (std::uint64_t other = newest; other > number && !helped; --other) helped = claim(other);
      if (!helped) chunk.state.wait(state, std::memory_order_acquire);
    }
  }

 private:
  /// Verifies chunk `number` if nobody has claimed it yet; returns whether this thread did.
  bool claim(std::uint64_t number) noexcept {
    Chunk& chunk = slot(number);
    std::uint64_t expected = state_of(number, kRead);
    if (!chunk.state.compare_exchange_strong(expected, state_of(number, kClaimed),
                                             std::memory_order_acq_rel)) {
      return false;
    }
    verify_chunk(layout_, chunk);
    chunk.state.store(state_of(number, kVerified), std::memory_order_release);
    chunk.state.notify_all();
    return true;
  }

  void help() noexcept {
    std::uint64_t next = 1;
    while (!stopping_.load(std::memory_order_acquire)) {
      Chunk& chunk = slot(next);
      const std::uint64_t state = chunk.state.load(std::memory_order_acquire);
      if (state == kStopState) return;
      if (state / 4 < next) {
        chunk.state.wait(state, std::memory_order_acquire);  // not read yet
        continue;
      }
      if (state / 4 == next) claim(next);
      ++next;  // verified (here or by the caller's thread), or the slot holds a later chunk
    }
  }

  void stop() noexcept {
    if (!helper_.joinable()) return;
    stopping_.store(true, std::memory_order_release);
    for (Chunk& chunk : slots_) {
      chunk.state.store(kStopState, std::memory_order_release);
      chunk.state.notify_all();
    }
    helper_.join();
  }

  const RecordLayout& layout_;
  std::array<Chunk, kRingSlots> slots_;
  std::atomic<bool> stopping_{false};
  std::jthread helper_;  // last: joined (stop()) before the chunks go
};

/// Hands the verified records of `chunk` to on_batch in arrays of up to kBatchRecords;
/// returns how many.
std::uint64_t deliver_chunk(const RecordLayout& layout, const Chunk& chunk,
                            const std::function<void(std::span<const JournalRecord>)>& on_batch) {
  std::array<JournalRecord, kBatchRecords> batch;
  std::size_t count = 0;
  std::uint64_t delivered = 0;
  const std::byte* p = chunk.data.get();
  for (std::size_t at = 0; at < chunk.good;) {
    const auto length = load<std::uint32_t>(p + at);
    decode_record(layout, p + at, length, batch[count++]);
    at += layout.head + length;
    if (count == kBatchRecords) {
      if (on_batch) on_batch({batch.data(), count});
      delivered += count;
      count = 0;
    }
  }
  if (count != 0 && on_batch) on_batch({batch.data(), count});
  return delivered + count;
}

/// The bad record that stops the scan in a delivered chunk, if any.
std::optional<BadRecord> bad_record_in(const RecordLayout& layout, const Chunk& chunk) {
  if (chunk.good < chunk.whole) {
    const auto length = load<std::uint32_t>(chunk.data.get() + chunk.good);
    return BadRecord{chunk.offset + chunk.good, layout.head + std::uint64_t{length},
                     chunk.checksum_bad ? std::string("checksum mismatch")
                                        : "unknown status " + std::to_string(chunk.bad_status)};
  }
  if (chunk.ends_bad) return chunk.bad;
  return std::nullopt;
}

}  // namespace

JournalScan scan_journal_batched(
    const std::string& path, bool force,
    const std::function<void(std::span<const JournalRecord>)>& on_batch) {
  Reader in(path, kHeaderRead);
  in.start_prefetch();
  JournalScan scan;
  std::uint64_t offset = parse_header(in, path, scan.header);
  scan.valid_bytes = offset;
  const RecordLayout& layout = layout_of(scan.header.record_layout);
  ChunkRing ring(layout);
  if (in.size() - offset > kChunkBytes) ring.start_helper();
  bool reading = offset < in.size();
  std::uint64_t read = 0;  // chunks read (numbered from 1)
  std::optional<BadRecord> bad;
  for (std::uint64_t number = 1;; ++number) {
    while (reading && read < number - 1 + kRingSlots) {
      Chunk& chunk = ring.slot(++read);
      read_chunk(in, layout, offset, chunk);
      offset += chunk.whole;
      reading = !chunk.ends_bad && offset < in.size();
      ring.publish(read);
    }
    if (number > read) break;
    ring.await_verified(number, read);
    const Chunk& chunk = ring.slot(number);
    scan.records += deliver_chunk(layout, chunk, on_batch);
    scan.valid_bytes = chunk.offset + chunk.good;
    bad = bad_record_in(layout, chunk);
    if (bad) break;
  }
  if (bad) judge_bad_record(in, path, force, *bad, scan);
  return scan;
}

JournalWriter::JournalWriter(std::string path, sys::UniqueFd fd, std::uint8_t record_layout,
                             std::uint64_t bytes, double interval)
    : path_(std::move(path)),
      fd_(std::move(fd)),
      bytes_(bytes),
      layout_(record_layout),
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
  const bool v1 = header.version == 1;
  if (header.version != kJournalVersion && !v1) {
    throw InternalError("journal " + path + ": cannot write format " +
                        std::to_string(header.version));
  }
  const HeaderFormat& format = v1 ? kHeader1 : kHeader2;
  const std::size_t length = format.fixed + header.kind.size();
  std::vector<std::byte> out(format.head + length);
  std::byte* payload = out.data() + format.head;
  std::byte* p = payload;
  if (v1) {
    p = store(p, header.identity);
    p = store(p, header.task_count);
    p = store(p, static_cast<std::uint16_t>(header.kind.size()));
  } else {
    p = store(p, std::uint8_t{2});
    p = store(p, static_cast<std::uint8_t>(JournalHash::xxh3_64));
    p = store(p, static_cast<std::uint16_t>(header.kind.size()));
    p = store(p, header.identity);
    p = store(p, header.task_count);
  }
  if (!header.kind.empty()) std::memcpy(p, header.kind.data(), header.kind.size());
  std::memcpy(out.data(), format.magic, 8);
  store(out.data() + 8, static_cast<std::uint32_t>(length));
  store_checksum(format.checksum_size, out.data() + 12, {payload, length});

  sys::UniqueFd file = sys::open_fd(path, O_WRONLY | O_CREAT, 0666);
  if (!file) {
    const int err = errno;
    throw InputError("cannot create journal " + path + ": " + errno_text(err));
  }
  const int fd = file.get();
  JournalWriter writer(path, std::move(file), v1 ? 1 : 2, 0, fsync_interval_s);
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

JournalWriter JournalWriter::append_to(const std::string& path, const JournalScan& scan,
                                       double fsync_interval_s) {
  const std::uint64_t valid_bytes = scan.valid_bytes;
  sys::UniqueFd file = sys::open_fd(path, O_WRONLY);
  if (!file) {
    const int err = errno;
    throw InputError("cannot open journal " + path + " for appending: " + errno_text(err));
  }
  const int fd = file.get();
  const std::uint8_t layout = scan.header.record_layout == 1 ? 1 : 2;
  JournalWriter writer(path, std::move(file), layout, valid_bytes, fsync_interval_s);
  lock_exclusively(fd, path);
  struct stat info {};
  if (::fstat(fd, &info) != 0) {
    const int err = errno;
    throw InputError("cannot stat journal " + path + ": " + errno_text(err));
  }
  const auto size = static_cast<std::uint64_t>(info.st_size);
  const HeaderFormat& format = layout == 1 ? kHeader1 : kHeader2;
  if (size < valid_bytes || valid_bytes < format.head + format.fixed) {
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
      layout_(other.layout_),
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
    layout_ = other.layout_;
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
                        std::span<const std::byte> payload, const RecordTimes& times) {
  if (!fd_) throw InternalError("journal writer used after move");
  if (static_cast<std::uint8_t>(status) > kMaxTaskStatus) {
    throw InternalError("journal " + path_ + ": unknown record status " +
                        std::to_string(static_cast<unsigned>(status)));
  }
  if (payload.size() > kMaxPayload) {
    throw InputError("journal " + path_ + ": a task result of " + std::to_string(payload.size()) +
                     " bytes is too large to record (64 MiB at most)");
  }
  const RecordLayout& layout = layout_of(layout_);
  const std::size_t at = staged_.size();
  staged_.resize(at + layout.head + payload.size());  // keeps its capacity across flushes
  std::byte* record = staged_.data() + at;
  store(record, static_cast<std::uint32_t>(payload.size()));
  // The checksum (and layout 2's completion time) are filled in by seal_staged().
  std::byte* p = store(record + layout.checked_from, task_id);
  p = store(p, static_cast<std::uint8_t>(status));
  if (layout.number == 2) {
    p = store(p, times.attempts);
    p = store(p, std::int64_t{0});
    p = store(p, times.runtime_ns);
  }
  if (!payload.empty()) std::memcpy(p, payload.data(), payload.size());
  ++staged_records_;
  if (kill_at_record_ != 0 && records_ + staged_records_ == kill_at_record_) {
    kill_offset_ = at + (layout.head + payload.size()) / 2;  // half of this record
  }
}

void JournalWriter::seal_staged() noexcept {
  const RecordLayout& layout = layout_of(layout_);
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  const std::int64_t completed_ns =
      static_cast<std::int64_t>(now.tv_sec) * 1000000000 + static_cast<std::int64_t>(now.tv_nsec);
  std::byte* p = staged_.data();
  std::byte* const end = p + staged_.size();
  while (p < end) {
    const std::size_t extent = layout.head + load<std::uint32_t>(p);
    if (layout.number == 2) store(p + layout.checked_from + 13, completed_ns);
    store_checksum(layout.checksum_size, p + 4,
                   {p + layout.checked_from, extent - layout.checked_from});
    p += extent;
  }
}

void JournalWriter::write_staged() {
  if (!fd_) throw InternalError("journal writer used after move");
  if (broken_) throw InputError("journal " + path_ + ": unusable after an earlier failure");
  if (staged_.empty()) return;
  seal_staged();
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
