// The farm's journal: an append-only file of checksummed records, one per finished task,
// that lets a killed run resume without redoing or losing work.
//
// File format, version 2 (what this parakit writes; every integer little-endian, no padding):
//
//   header   8 bytes  magic "PKJRNL02"
//            u32      header_payload_length (20 + kind_length)
//            u64      XXH3-64 of header_payload
//            header_payload:
//              u8     record_layout (2: the records below)
//              u8     hash (2: XXH3-64 for checksums, the identity and result digests)
//              u16    kind_length (<= 256)
//              u64    identity    (of the task list, with that hash)
//              u64    task_count
//              kind bytes
//   records, back to back until the end of the file:
//            u32      payload_length (<= 64 MiB; anything larger is corruption)
//            u64      XXH3-64 of the 29 + payload_length bytes that follow
//            u64      task_id
//            u8       status (a TaskStatus)
//            u32      attempts (how many times the task ran, the last one included)
//            i64      completed_ns (when the master recorded it: ns since the Unix epoch)
//            u64      runtime_ns (how long the task ran; 0: not known)
//            payload bytes
//
// Version 1 (parakit 0.1, magic "PKJRNL01") stays readable: it is scanned, resumed and
// appended to in its own layout, never refused. Its header is u32 length, u32 CRC-32C of the
// payload {u64 identity, u64 task_count, u16 kind_length, kind}; its records are u32
// payload_length, u32 CRC-32C of the 9 + payload_length bytes that follow, u64 task_id, u8
// status, payload; its identities are FNV-1a 64 with a final avalanche. CRC-32C is Castagnoli
// (poly 0x1EDC6F41, reflected, init and xorout 0xFFFFFFFF).
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
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "parakit/core/task_status.hpp"
#include "parakit/io/hash.hpp"
#include "parakit/sys/unique_fd.hpp"

namespace parakit::io {

/// The hash a journal uses for its checksums, its identity and (in the farm) result digests.
enum class JournalHash : std::uint8_t {
  fnv1a_crc32c = 1,  ///< version 1: FNV-1a 64 identities, CRC-32C record checksums
  xxh3_64 = 2,       ///< version 2: XXH3-64 for everything
};

/// The version this parakit writes.
inline constexpr std::uint8_t kJournalVersion = 2;

struct JournalHeader {
  std::string kind;            ///< what wrote it, e.g. "farm queue" (<= 256 bytes)
  std::uint64_t identity = 0;  ///< of the task list, with `hash`; resume refuses another one
  /// Tasks in the list (a farm does not count ids it excludes, such as a commands file's
  /// comment lines; journals written before `parakit journal` existed counted them).
  std::uint64_t task_count = 0;
  std::uint8_t version = kJournalVersion;   ///< 1 or 2 (the magic)
  std::uint8_t record_layout = 2;           ///< 1: id, status, payload; 2: also attempts, times
  JournalHash hash = JournalHash::xxh3_64;  ///< set by the version
};

/// The header of a journal of `version` (1 or 2) with its layout and hash filled in.
JournalHeader journal_header(std::string kind, std::uint64_t identity, std::uint64_t task_count,
                             std::uint8_t version = kJournalVersion);

/// The identity of a task list named by `key` (bytes that say what it is made of), with the
/// journal's hash: XXH3-64 of the key, or for version 1 its FNV-1a 64 with an avalanche.
std::uint64_t journal_identity(JournalHash hash, std::string_view key) noexcept;

/// The identity of a task list from its tasks' encodings, added in id order. Version 2: XXH3-64
/// of the u64 count, then of each task its u64 length and bytes; version 1: a SplitMix chain of
/// the count and each task's FNV-1a digest.
class TaskListIdentity {
 public:
  TaskListIdentity(JournalHash hash, std::uint64_t count);
  ~TaskListIdentity();
  TaskListIdentity(const TaskListIdentity&) = delete;
  TaskListIdentity& operator=(const TaskListIdentity&) = delete;
  void add_task(std::span<const std::byte> encoded) noexcept;
  std::uint64_t value() const noexcept;

 private:
  JournalHash hash_;
  std::uint64_t legacy_ = 0;
  std::unique_ptr<StreamHash> stream_;
};

/// One record as read back; `payload` points into the reader's buffer and is valid only
/// during the callback.
struct JournalRecord {
  std::uint64_t task_id = 0;
  TaskStatus status = TaskStatus::ok;
  std::uint32_t attempts = 0;     ///< times the task ran; 0: not recorded (layout 1)
  std::int64_t completed_ns = 0;  ///< when recorded, ns since the Unix epoch; 0: not recorded
  std::uint64_t runtime_ns = 0;   ///< how long the task ran; 0: not known
  std::span<const std::byte> payload;
};

/// What a writer records about a task besides its id, status and payload (layout 2).
struct RecordTimes {
  std::uint32_t attempts = 1;
  std::uint64_t runtime_ns = 0;  ///< 0: not known
};

struct JournalScan {
  JournalHeader header;
  std::uint64_t records = 0;        ///< valid records delivered
  std::uint64_t valid_bytes = 0;    ///< file offset just past the last valid record
  std::uint64_t dropped_bytes = 0;  ///< bytes after valid_bytes that were not trusted
  std::string warning;              ///< empty, or one line to print (torn tail, forced skip)
};

/// FNV-1a 64 of `data`: format 1's hash (the command hashes in its records; with a final
/// avalanche, its identities). Kept to read and continue format-1 journals.
std::uint64_t legacy_fnv1a64(std::span<const std::byte> data) noexcept;

namespace detail {
/// CRC-32C (Boost.CRC) of `data`, continuing from a previous result `crc` (0 to start), so
/// that crc32c(b, crc32c(a)) == crc32c(a + b): version 1's checksum. Exposed for tests.
std::uint32_t crc32c(std::span<const std::byte> data, std::uint32_t crc = 0) noexcept;
}  // namespace detail

/// Reads only the header of the journal at `path`. Throws InputError naming the path when
/// the file is missing, unreadable, too short for a header, or has a bad magic, length or
/// header checksum, or says it was written by a newer parakit (a layout or hash it does not
/// know).
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
///   before the end; use scan_journal(force = true) ..."), unless `force`, which stops there
///   instead and sets `warning`.
/// In both dropped cases valid_bytes is the bad record's offset and dropped_bytes the rest of
/// the file. Exceptions thrown by on_record propagate unchanged.
JournalScan scan_journal(const std::string& path, bool force,
                         const std::function<void(const JournalRecord&)>& on_record);

/// scan_journal with the same checks, results, errors and warnings, for a reader that only
/// tallies records: on_batch (if not empty) gets the valid records in file order, in arrays
/// of up to 256 (each record's payload valid only during the call), on the caller's thread.
/// The records are not queued: the file is read in 256 KiB chunks of whole records into 4
/// buffers allocated once, and a journal over 256 KiB has its checksums verified on a second
/// thread as well as the caller's, chunk by chunk; a chunk's records are delivered once
/// every chunk before it and it are verified, up to the first bad record. Exceptions thrown
/// by on_batch propagate unchanged.
JournalScan scan_journal_batched(
    const std::string& path, bool force,
    const std::function<void(std::span<const JournalRecord>)>& on_batch);

/// Appends records. Not thread-safe (the farm master owns it).
class JournalWriter {
 public:
  /// Creates `path` (truncating any existing file: the caller has already decided), writes
  /// the header in its version's format (journal_header: version 1 only to test readers of
  /// old journals) with write(), and fsyncs the file and (best effort) its directory.
  /// Throws InputError when the file cannot be created or written; InternalError when
  /// header.kind is longer than 256 bytes or the header's format is unknown.
  static JournalWriter create(const std::string& path, const JournalHeader& header,
                              double fsync_interval_s);
  /// Continues an existing journal after scan_journal: truncates it to `scan.valid_bytes`
  /// (dropping a torn tail, durably) and appends after that, in the file's own format
  /// (scan.header). Throws InputError when the file cannot be opened or is now shorter than
  /// `scan.valid_bytes`.
  static JournalWriter append_to(const std::string& path, const JournalScan& scan,
                                 double fsync_interval_s);
  JournalWriter(JournalWriter&& other) noexcept;
  JournalWriter& operator=(JournalWriter&& other) noexcept;
  JournalWriter(const JournalWriter&) = delete;
  JournalWriter& operator=(const JournalWriter&) = delete;
  /// sync() (best effort, never throws), then close.
  ~JournalWriter();

  /// Stages one record in memory (no syscall; the staging buffer is reused across flushes).
  /// Layout 1 keeps no times. Throws InputError when the payload is over 64 MiB,
  /// InternalError on an unknown status or a moved-from writer.
  void add(std::uint64_t task_id, TaskStatus status, std::span<const std::byte> payload,
           const RecordTimes& times = {});
  /// Stamps the staged records with the time now (their completed_ns) and checksums them,
  /// hands them all to the kernel with write() (looping on partial writes and EINTR), then
  /// fsyncs if at least fsync_interval seconds passed since the last fsync
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
  JournalWriter(std::string path, sys::UniqueFd fd, std::uint8_t record_layout, std::uint64_t bytes,
                double fsync_interval_s);
  void seal_staged() noexcept;
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
  std::uint8_t layout_ = 2;
  double fsync_interval_ = 1.0;
  std::chrono::steady_clock::time_point last_sync_;
  std::vector<std::byte> staged_;
  bool dirty_ = false;   // written since the last fsync
  bool broken_ = false;  // a failure left the file in an unknown state: no more writes
};

}  // namespace parakit::io
