// The farm's journal: an append-only file of checksummed records, one per finished task,
// that lets a killed run resume without redoing or losing work.
//
// Layout (integers little-endian):
//   header:  "PKJRNL01" | u32 length | u32 crc32c(payload) | payload
//            payload = u64 identity | u64 task_count | u16 kind_length | kind bytes (<= 256)
//   records: u32 payload_length | u32 crc32c(id, status, payload) | u64 task_id | u8 status |
//            payload (<= 64 MiB)
// Each batch of records reaches the kernel with write() as soon as it is flushed, so a
// kill -9 of the writer loses nothing flushed; only fsync (power loss) is batched.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace parakit::io {

enum class JournalStatus : std::uint8_t { ok = 0, failed = 1, timed_out = 2, interrupted = 3 };
std::string_view to_string(JournalStatus status) noexcept;

struct JournalHeader {
  std::string kind;            ///< what wrote it, e.g. "farm queue" (<= 256 bytes)
  std::uint64_t identity = 0;  ///< hash of the task list; resume refuses another one
  std::uint64_t task_count = 0;
};

/// One record as read back; `payload` is valid only during the callback.
struct JournalRecord {
  std::uint64_t task_id = 0;
  JournalStatus status = JournalStatus::ok;
  std::span<const std::byte> payload;
};

struct JournalScan {
  JournalHeader header;
  std::uint64_t records = 0;        ///< valid records delivered
  std::uint64_t valid_bytes = 0;    ///< offset just past the last valid record
  std::uint64_t dropped_bytes = 0;  ///< bytes after valid_bytes that were not trusted
  std::string warning;              ///< empty, or one line about what was dropped
};

/// CRC-32C (Castagnoli) of `data`, continuing from `crc` (0 to start).
std::uint32_t crc32c(std::span<const std::byte> data, std::uint32_t crc = 0) noexcept;

/// Reads only the header. Throws InputError (missing, unreadable, not a journal).
JournalHeader read_journal_header(const std::string& path);

/// Calls on_record for every valid record in file order. A bad record (wrong checksum,
/// impossible length or status, cut short) at the end of the file is a torn write: it is
/// dropped with a warning. A bad record with more data after it is an InputError, unless
/// `force`, which drops it and everything after it (with a warning).
JournalScan scan_journal(const std::string& path, bool force,
                         const std::function<void(const JournalRecord&)>& on_record);

/// Appends records. Not thread-safe (the farm master owns it).
class JournalWriter {
 public:
  /// Creates (or truncates) `path` and writes the header durably.
  static JournalWriter create(const std::string& path, const JournalHeader& header,
                              double fsync_interval_s);
  /// Continues an existing journal after scan_journal: truncates it to `valid_bytes`
  /// (dropping a torn tail) and appends after that.
  static JournalWriter append_to(const std::string& path, std::uint64_t valid_bytes,
                                 double fsync_interval_s);
  JournalWriter(JournalWriter&& other) noexcept;
  JournalWriter& operator=(JournalWriter&& other) noexcept;
  JournalWriter(const JournalWriter&) = delete;
  JournalWriter& operator=(const JournalWriter&) = delete;
  /// Flushes and fsyncs (best effort, never throws).
  ~JournalWriter();

  /// Stages one record in memory.
  void add(std::uint64_t task_id, JournalStatus status, std::span<const std::byte> payload);
  /// write()s every staged record, then fsyncs if fsync_interval seconds have passed since
  /// the last fsync (0: every flush; negative: only in sync()). Throws InputError (ENOSPC...).
  void flush();
  /// flush(), then fsync now.
  void sync();
  const std::string& path() const noexcept { return path_; }
  std::uint64_t bytes() const noexcept { return bytes_; }
  std::uint64_t records_written() const noexcept { return records_; }

 private:
  JournalWriter(std::string path, int fd, std::uint64_t bytes, double fsync_interval_s);
  void close() noexcept;

  std::string path_;
  int fd_ = -1;
  std::uint64_t bytes_ = 0;
  std::uint64_t records_ = 0;
  double fsync_interval_ = 1.0;
  std::chrono::steady_clock::time_point last_sync_;
  std::vector<std::byte> staged_;
  bool dirty_ = false;  // written since the last fsync
};

}  // namespace parakit::io
