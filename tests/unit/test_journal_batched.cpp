// scan_journal_batched (the summary's scan: chunks verified on two threads) against
// scan_journal: the same records in the same order, the same scan results, warnings and
// errors, on journals of many chunks, torn, corrupt in the middle or at the end.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "parakit/core/error.hpp"
#include "parakit/io/journal.hpp"
#include "parakit/io/journal_summary.hpp"
#include "temp_dir.hpp"

namespace {

using parakit::InputError;
using parakit::TaskStatus;
using parakit::io::JournalRecord;
using parakit::io::JournalScan;
using parakit::io::JournalWriter;

class TempDir : public parakit::testing::TempDir {
 public:
  TempDir() : parakit::testing::TempDir("parakit-journal-batched") {}
};

/// A record as delivered, with its payload copied.
struct Got {
  std::uint64_t id = 0;
  TaskStatus status = TaskStatus::ok;
  std::uint32_t attempts = 0;
  std::int64_t completed_ns = 0;
  std::uint64_t runtime_ns = 0;
  std::vector<std::byte> payload;
  bool operator==(const Got&) const = default;
};

Got copy_of(const JournalRecord& r) {
  return {r.task_id,      r.status,     r.attempts,
          r.completed_ns, r.runtime_ns, std::vector<std::byte>(r.payload.begin(), r.payload.end())};
}

/// What a scan gave: its records, its results, or its error message.
struct Outcome {
  std::vector<Got> records;
  JournalScan scan;
  std::string error;
};

Outcome by_records(const std::string& path, bool force) {
  Outcome out;
  try {
    out.scan = parakit::io::scan_journal(
        path, force, [&](const JournalRecord& r) { out.records.push_back(copy_of(r)); });
  } catch (const InputError& e) {
    out.error = e.what();
  }
  return out;
}

Outcome by_batches(const std::string& path, bool force) {
  Outcome out;
  try {
    out.scan =
        parakit::io::scan_journal_batched(path, force, [&](std::span<const JournalRecord> batch) {
          EXPECT_FALSE(batch.empty());
          EXPECT_LE(batch.size(), 256u);
          for (const JournalRecord& r : batch) out.records.push_back(copy_of(r));
        });
  } catch (const InputError& e) {
    out.error = e.what();
  }
  return out;
}

/// Both scans agree, with and without force; returns the batched one (force = false).
Outcome expect_agree(const std::string& path) {
  Outcome batched;
  for (const bool force : {false, true}) {
    const Outcome a = by_records(path, force);
    Outcome b = by_batches(path, force);
    EXPECT_EQ(a.error, b.error) << "force " << force;
    EXPECT_EQ(a.scan.records, b.scan.records) << "force " << force;
    EXPECT_EQ(a.scan.valid_bytes, b.scan.valid_bytes) << "force " << force;
    EXPECT_EQ(a.scan.dropped_bytes, b.scan.dropped_bytes) << "force " << force;
    EXPECT_EQ(a.scan.warning, b.scan.warning) << "force " << force;
    EXPECT_EQ(a.scan.header.task_count, b.scan.header.task_count);
    EXPECT_EQ(a.records.size(), b.records.size()) << "force " << force;
    EXPECT_TRUE(a.records == b.records) << "force " << force;
    if (!force) batched = std::move(b);
  }
  return batched;
}

/// Writes `count` records (task i % tasks, statuses cycling, payloads of 0 to 40 bytes,
/// one of `big` bytes at record count / 2 when big > 0); returns each record's offset.
std::vector<std::uint64_t> write_journal(const std::string& path, std::uint64_t count,
                                         std::uint64_t tasks, std::uint8_t version = 2,
                                         std::size_t big = 0) {
  JournalWriter writer =
      JournalWriter::create(path, parakit::io::journal_header("test", 7, tasks, version), -1);
  std::vector<std::uint64_t> offsets;
  constexpr TaskStatus kStatuses[] = {TaskStatus::ok, TaskStatus::failed, TaskStatus::interrupted,
                                      TaskStatus::timed_out, TaskStatus::ok};
  std::vector<std::byte> payload;
  std::uint64_t offset = writer.bytes();
  const std::uint64_t head = version == 1 ? 17 : 41;
  for (std::uint64_t i = 0; i < count; ++i) {
    payload.assign(big > 0 && i == count / 2 ? big : i % 41, static_cast<std::byte>(i));
    if (i % 1000 == 0) writer.flush();
    offsets.push_back(offset);
    offset += head + payload.size();
    writer.add(i % tasks, kStatuses[i % 5], payload,
               {static_cast<std::uint32_t>(i % 3 + 1), i * 10});
  }
  writer.sync();
  return offsets;
}

void flip_byte(const std::string& path, std::uint64_t offset) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.get(c);
  f.seekp(static_cast<std::streamoff>(offset));
  f.put(static_cast<char>(c ^ 0x5A));
}

TEST(JournalBatched, ManyChunksAndOneTasksRecordsFarApart) {
  TempDir dir;
  const std::string path = dir.path().string() + "/j";
  // 400,000 records of 41 to 81 bytes: about 24 MB, 90 chunks; task t's records are 50,000
  // records (about 3 MB) apart, and its later ones in chunks after the first.
  write_journal(path, 400000, 50000);
  const Outcome out = expect_agree(path);
  EXPECT_EQ(out.records.size(), 400000u);
  EXPECT_TRUE(out.error.empty());
  EXPECT_TRUE(out.scan.warning.empty());
  // A callback that throws stops the scan (and its helper thread) with its exception.
  int calls = 0;
  EXPECT_THROW(parakit::io::scan_journal_batched(path, false,
                                                 [&](std::span<const JournalRecord>) {
                                                   if (++calls == 3)
                                                     throw std::runtime_error("stop");
                                                 }),
               std::runtime_error);
  EXPECT_EQ(calls, 3);

  // 2 tasks, records alternating, so every chunk holds both.
  const std::string two = dir.path().string() + "/two";
  write_journal(two, 300000, 2);
  EXPECT_EQ(expect_agree(two).records.size(), 300000u);
  // 12 MB apart (over 4 MiB): task 0's records at 0 and 200,000.
  const std::string apart = dir.path().string() + "/apart";
  write_journal(apart, 200001, 200000);
  EXPECT_EQ(expect_agree(apart).records.size(), 200001u);
}

TEST(JournalBatched, SmallEmptyJustOverOneChunkAndARecordLargerThanAChunk) {
  TempDir dir;
  for (const std::uint64_t count : {0u, 1u, 10u, 4300u, 4400u, 5000u}) {
    const std::string path = dir.path().string() + "/j" + std::to_string(count);
    write_journal(path, count, 1000);
    EXPECT_EQ(expect_agree(path).records.size(), count) << count;
  }
  const std::string big = dir.path().string() + "/big";
  write_journal(big, 20000, 1000, 2, std::size_t{3} << 20);
  EXPECT_EQ(expect_agree(big).records.size(), 20000u);
  const std::string v1 = dir.path().string() + "/v1";
  write_journal(v1, 100000, 30000, 1);
  EXPECT_EQ(expect_agree(v1).records.size(), 100000u);
}

TEST(JournalBatched, TornTailsAndCorruptRecordsAsScanJournal) {
  TempDir dir;
  const std::string base = dir.path().string() + "/base";
  const std::vector<std::uint64_t> offsets = write_journal(base, 200000, 10000);
  const auto size = std::filesystem::file_size(base);
  const auto variant = [&](const std::string& name) {
    const std::string path = dir.path().string() + "/" + name;
    std::filesystem::copy_file(base, path);
    return path;
  };
  // A torn tail: cut inside the last record, and inside its head.
  for (const std::uint64_t cut : {size - 3, offsets.back() + 5}) {
    const std::string path = variant("torn" + std::to_string(cut));
    std::filesystem::resize_file(path, cut);
    const Outcome out = expect_agree(path);
    EXPECT_EQ(out.records.size(), 199999u);
    EXPECT_FALSE(out.scan.warning.empty());
  }
  // A corrupt record in the middle (its payload, then its length): an error.
  const std::string middle = variant("middle");
  flip_byte(middle, offsets[123457] + 45);
  EXPECT_NE(expect_agree(middle).error.find("corrupt record at offset " +
                                            std::to_string(offsets[123457])),
            std::string::npos);
  const std::string length = variant("length");
  flip_byte(length, offsets[99999] + 3);
  EXPECT_FALSE(expect_agree(length).error.empty());
  // The corrupt record is the last one, or only zeros follow it: a torn tail.
  const std::string last = variant("last");
  flip_byte(last, offsets.back() + 30);
  EXPECT_EQ(expect_agree(last).records.size(), 199999u);
  const std::string zeros = variant("zeros");
  flip_byte(zeros, offsets.back() + 30);
  std::filesystem::resize_file(zeros, size + 5000000);
  EXPECT_EQ(expect_agree(zeros).records.size(), 199999u);
  // The first record, right after the header.
  const std::string first = variant("first");
  flip_byte(first, offsets[0] + 20);
  EXPECT_FALSE(expect_agree(first).error.empty());
}

TEST(JournalBatched, TheSummaryCountsWhatTheRecordsSay) {
  TempDir dir;
  const std::string path = dir.path().string() + "/j";
  // Statuses cycle ok, failed, interrupted, timed_out, ok over 5 records; 7 tasks: each task
  // sees every status (5 and 7 are coprime), so an ok record decides each.
  write_journal(path, 350000, 7);
  const parakit::io::JournalSummary summary = parakit::io::summarize_journal(path);
  EXPECT_EQ(summary.records, 350000u);
  EXPECT_EQ(summary.done, 7u);
  EXPECT_EQ(summary.failed, 0u);
  EXPECT_EQ(summary.not_run, 0u);
  EXPECT_TRUE(summary.first_failures.empty());
  // 11 tasks over 8 records: tasks 8, 9, 10 never run; task 1's only record failed, 2's was
  // interrupted, 3's timed out.
  const std::string few = dir.path().string() + "/few";
  write_journal(few, 8, 11);
  const parakit::io::JournalSummary small = parakit::io::summarize_journal(few);
  EXPECT_EQ(small.done, 3u);    // 0, 4, 5 (5 is ok: index 5 % 5 == 0)
  EXPECT_EQ(small.failed, 3u);  // 1, 3 (timed out), 6
  EXPECT_EQ(small.timed_out, 1u);
  EXPECT_EQ(small.interrupted, 2u);  // 2, 7
  EXPECT_EQ(small.not_run, 5u);
  ASSERT_EQ(small.first_failures.size(), 3u);
  EXPECT_EQ(small.first_failures[0].task_id, 1u);
}

}  // namespace
