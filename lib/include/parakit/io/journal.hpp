// The farm's journal: an append-only file of checksummed records, one per finished task,
// that lets a killed run resume without redoing or losing work.
//
// File format (every integer little-endian, no padding, no alignment):
//
//   header   8 bytes  magic "PKJRNL01"
//            u32      header_payload_length (18 + kind_length)
//            u32      crc32c(header_payload)
//            header_payload:
//              u64    identity    (hash of the task list)
//              u64    task_count
//              u16    kind_length (<= 256)
//              kind bytes
//   records, back to back until the end of the file:
//            u32      payload_length (<= 64 MiB; anything larger is corruption)
//            u32      crc32c of the 9 + payload_length bytes that follow
//            u64      task_id
//            u8       status (a TaskStatus)
//            payload bytes
//
// crc32c is CRC-32C (Castagnoli: poly 0x1EDC6F41, reflected, init and xorout 0xFFFFFFFF).
//
// Durability: JournalWriter hands every flushed batch to the kernel with write(), so a kill -9
// of the writer loses nothing that was flushed; only fsync (which guards against power loss
// and OS crashes) is batched at a user interval. A crash can therefore leave at most a torn
// tail, which scan_journal detects, reports and never trusts.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "parakit/core/task_status.hpp"
#include "parakit/sys/unique_fd.hpp"

namespace parakit::io {

struct JournalHeader {
  std::string kind;            ///< what wrote it, e.g. "farm queue" (<= 256 bytes)
  std::uint64_t identity = 0;  ///< hash of the task list; resume refuses a different one
  std::uint64_t task_count = 0;
};

/// One record as read back; `payload` points into the reader's buffer and is valid only
/// during the callback.
struct JournalRecord {
  std::uint64_t task_id = 0;
  TaskStatus status = TaskStatus::ok;
  std::span<const std::byte> payload;
};

struct JournalScan {
  JournalHeader header;
  std::uint64_t records = 0;        ///< valid records delivered
  std::uint64_t valid_bytes = 0;    ///< file offset just past the last valid record
  std::uint64_t dropped_bytes = 0;  ///< bytes after valid_bytes that were not trusted
  std::string warning;              ///< empty, or one line to print (torn tail, forced skip)
};

/// CRC-32C of `data`, continuing from a previous result `crc` (0 to start), so that
/// crc32c(b, crc32c(a)) == crc32c(a + b). Uses SSE4.2 when the CPU has it.
std::uint32_t crc32c(std::span<const std::byte> data, std::uint32_t crc = 0) noexcept;

namespace detail {
/// The portable (Boost.CRC) path of crc32c; same results. Exposed for tests.
std::uint32_t crc32c_portable(std::span<const std::byte> data, std::uint32_t crc = 0) noexcept;
}  // namespace detail

/// Reads only the header of the journal at `path`. Throws InputError naming the path when
/// the file is missing, unreadable, too short for a header, or has a bad magic, length or
/// header checksum.
JournalHeader read_journal_header(const std::string& path);

/// Reads the journal at `path`, calling on_record (if not empty) on the caller's thread for
/// every valid record in file order. Reading streams through 4 MiB buffers (larger only for a
/// record larger than that); the file is never loaded whole. A journal over 4 MiB is read and
/// checked on a second thread, at most 6 buffers ahead of on_record (and read ahead from disk
/// on a third), with the same results, errors and warnings.
/// - Header problems: InputError naming the path, as read_journal_header.
/// - A bad record (checksum mismatch, unknown status, length over 64 MiB, or cut short) is
///   never delivered, and nothing after it is read as records (no resynchronisation).
///   It is a torn last record, dropped with `warning` set and no error, when it is the last
///   thing in the file: fewer than a record head's 17 bytes remain, or its (plausible)
///   declared extent reaches or passes the end of the file, or only zero bytes follow it
///   (blocks a file system may expose after a crash).
/// - Any other bad record has data after it: InputError ("corrupt record at offset O ...,
///   before the end; use --force-resume ..."), unless `force`, which stops there instead and
///   sets `warning`.
/// In both dropped cases valid_bytes is the bad record's offset and dropped_bytes the rest of
/// the file. Exceptions thrown by on_record propagate unchanged.
JournalScan scan_journal(const std::string& path, bool force,
                         const std::function<void(const JournalRecord&)>& on_record);

/// Appends records. Not thread-safe (the farm master owns it).
class JournalWriter {
 public:
  /// Creates `path` (truncating any existing file: the caller has already decided), writes
  /// the header with write(), and fsyncs the file and (best effort) its directory.
  /// Throws InputError when the file cannot be created or written; InternalError when
  /// header.kind is longer than 256 bytes.
  static JournalWriter create(const std::string& path, const JournalHeader& header,
                              double fsync_interval_s);
  /// Continues an existing journal after scan_journal: truncates it to `valid_bytes`
  /// (dropping a torn tail, durably) and appends after that. Throws InputError when the file
  /// cannot be opened or is now shorter than `valid_bytes`.
  static JournalWriter append_to(const std::string& path, std::uint64_t valid_bytes,
                                 double fsync_interval_s);
  JournalWriter(JournalWriter&& other) noexcept;
  JournalWriter& operator=(JournalWriter&& other) noexcept;
  JournalWriter(const JournalWriter&) = delete;
  JournalWriter& operator=(const JournalWriter&) = delete;
  /// sync() (best effort, never throws), then close.
  ~JournalWriter();

  /// Stages one record in memory (no syscall; the staging buffer is reused across flushes).
  /// Throws InputError when the payload is over 64 MiB, InternalError on an unknown status
  /// or a moved-from writer.
  void add(std::uint64_t task_id, TaskStatus status, std::span<const std::byte> payload);
  /// Hands every staged record to the kernel with write() (looping on partial writes and
  /// EINTR), then fsyncs if at least fsync_interval seconds passed since the last fsync
  /// (0: every flush; negative: never except in sync()). Throws InputError on a write or
  /// fsync failure (ENOSPC...): a partially written batch is truncated away again and stays
  /// staged; if that truncation or an fsync fails, the writer refuses all further writes.
  void flush();
  /// flush(), then fsync now (when anything was written since the last fsync).
  void sync();
  const std::string& path() const noexcept { return path_; }
  /// Size of the file so far (header and records handed to the kernel; not staged ones).
  std::uint64_t bytes() const noexcept { return bytes_; }
  /// Records this writer has handed to the kernel (not counting records already in the file
  /// before append_to, nor staged ones).
  std::uint64_t records_written() const noexcept { return records_; }

 private:
  JournalWriter(std::string path, sys::UniqueFd fd, std::uint64_t bytes, double fsync_interval_s);
  void write_staged();
  void fsync_now();
  void close() noexcept;

  std::string path_;
  sys::UniqueFd fd_;
  std::uint64_t bytes_ = 0;
  std::uint64_t records_ = 0;
  std::uint64_t staged_records_ = 0;
  std::uint64_t kill_at_record_ = 0;  // the PARAKIT_FAULT kill drill's record (0: none)
  std::size_t kill_offset_ = 0;       // where in staged_ the drill dies (0: not armed)
  double fsync_interval_ = 1.0;
  std::chrono::steady_clock::time_point last_sync_;
  std::vector<std::byte> staged_;
  bool dirty_ = false;   // written since the last fsync
  bool broken_ = false;  // a failure left the file in an unknown state: no more writes
};

}  // namespace parakit::io
