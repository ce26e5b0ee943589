// Tests for the task-farm journal: format round trip, append after resume, torn tails,
// corruption before the end, bad headers, and write() durability across kill -9.
#include <gtest/gtest.h>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <algorithm>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "parakit/core/error.hpp"
#include "parakit/io/journal.hpp"
#include "temp_dir.hpp"

namespace {

namespace fs = std::filesystem;
using parakit::InputError;
using parakit::InternalError;
using parakit::TaskStatus;
using parakit::io::JournalHeader;
using parakit::io::JournalRecord;
using parakit::io::JournalScan;
using parakit::io::JournalWriter;
using parakit::io::scan_journal;

/// A fresh directory under TMPDIR, removed with its contents at scope exit.
class TempDir : public parakit::testing::TempDir {
 public:
  TempDir() : parakit::testing::TempDir("parakit-journal") {}
};

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void spit(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

/// What a test expects back for one record.
struct Expected {
  std::uint64_t id = 0;
  TaskStatus status = TaskStatus::ok;
  std::vector<std::byte> payload;
};

/// Deterministic payload bytes for record `id`, `size` long.
std::vector<std::byte> payload_for(std::uint64_t id, std::size_t size) {
  std::vector<std::byte> bytes(size);
  std::uint64_t x = id * 0x9E3779B97F4A7C15ull + 1;
  for (auto& b : bytes) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    b = static_cast<std::byte>(x);
  }
  return bytes;
}

/// Reads every record (copying the payloads out of the callback).
std::vector<Expected> read_all(const std::string& path, bool force, JournalScan* scan = nullptr) {
  std::vector<Expected> out;
  JournalScan result = scan_journal(path, force, [&](const JournalRecord& r) {
    out.push_back({r.task_id, r.status, {r.payload.begin(), r.payload.end()}});
  });
  if (scan != nullptr) *scan = result;
  return out;
}

void expect_same(const std::vector<Expected>& got, const std::vector<Expected>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].id, want[i].id) << "record " << i;
    EXPECT_EQ(got[i].status, want[i].status) << "record " << i;
    EXPECT_TRUE(got[i].payload == want[i].payload) << "record " << i;
  }
}

constexpr TaskStatus kStatuses[] = {TaskStatus::ok, TaskStatus::failed, TaskStatus::timed_out,
                                    TaskStatus::interrupted};

/// Where a version's header and records keep their fields (journal.hpp's format comment).
struct Layout {
  int version;
  std::size_t header_head;   // magic, length, checksum
  std::size_t header_fixed;  // the header payload before the kind
  std::size_t head;          // a record's bytes before its payload
  std::size_t id_at;         // offset of the task id in a record
  std::size_t status_at;
};
constexpr Layout kV1{1, 16, 18, 17, 8, 16};
constexpr Layout kV2{2, 20, 20, 41, 12, 20};

/// Every test of the byte layout runs on both versions: 2 is written now, 1 must stay readable.
class JournalFormat : public ::testing::TestWithParam<int> {
 protected:
  const Layout& L = GetParam() == 1 ? kV1 : kV2;
  JournalHeader header(std::string kind, std::uint64_t identity, std::uint64_t count) const {
    return parakit::io::journal_header(std::move(kind), identity, count,
                                       static_cast<std::uint8_t>(L.version));
  }
  std::size_t record_size(const Expected& e) const { return L.head + e.payload.size(); }
  /// Writes a journal of `count` small records; returns them and each record's file offset.
  std::vector<Expected> write_small(const std::string& path, std::size_t count,
                                    std::vector<std::uint64_t>* offsets = nullptr) const {
    std::vector<Expected> records;
    auto writer = JournalWriter::create(path, header("test kind", 0x1234, count), -1.0);
    for (std::size_t i = 0; i < count; ++i) {
      Expected e{i * 3 + 1, kStatuses[i % 4], payload_for(i, 20 + i % 7)};
      if (offsets != nullptr) offsets->push_back(writer.bytes());
      writer.add(e.id, e.status, e.payload);
      writer.flush();  // one record per write(), so bytes() tracks each offset
      records.push_back(std::move(e));
    }
    writer.sync();
    return records;
  }
  /// A scan result that append_to accepts: the file's header and how much of it is valid.
  JournalScan scanned(const std::string& path, std::uint64_t valid_bytes) const {
    JournalScan scan;
    scan.header = parakit::io::read_journal_header(path);
    scan.valid_bytes = valid_bytes;
    return scan;
  }
};

/// "v2", "v1": the format a test ran in.
std::string version_name(const ::testing::TestParamInfo<int>& param_info) {
  return "v" + std::to_string(param_info.param);
}

INSTANTIATE_TEST_SUITE_P(Versions, JournalFormat, ::testing::Values(2, 1), version_name);

/// Journals of many megabytes (payloads over the 4 MiB read chunk, the checking thread, the
/// read-ahead): format 2 only. Those paths do not depend on the layout, which the small tests
/// cover in both formats (and the big tests cost most under the sanitizers).
class BigJournal : public JournalFormat {};
INSTANTIATE_TEST_SUITE_P(Version2, BigJournal, ::testing::Values(2), version_name);

std::string scan_error(const std::string& path, bool force = false) {
  try {
    scan_journal(path, force, nullptr);
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(JournalCrc, MatchesTheStandardCheckValueAndContinues) {
  using parakit::io::detail::crc32c;
  const std::string check = "123456789";
  EXPECT_EQ(crc32c(std::as_bytes(std::span(check))), 0xE3069283u);
  EXPECT_EQ(crc32c({}), 0u);
  for (std::size_t size : {0u, 1u, 7u, 8u, 9u, 63u, 64u, 65u, 1000u, 4097u, 100003u}) {
    const auto data = payload_for(size, size);
    const std::uint32_t whole = crc32c(data);
    for (std::size_t cut : {std::size_t{0}, size / 3, size}) {
      const std::span<const std::byte> all(data);
      EXPECT_EQ(crc32c(all.subspan(cut), crc32c(all.first(cut))), whole) << size;
    }
  }
}

TEST(JournalIdentity, VersionTwoIsXxh3OfTheLengthsAndTasks) {
  using parakit::io::hash_bytes;
  using parakit::io::JournalHash;
  const std::string key = "queue 200";
  EXPECT_EQ(parakit::io::journal_identity(JournalHash::xxh3_64, key), hash_bytes(key));
  // {u64 count} then {u64 length, bytes} per task, as one XXH3-64.
  const std::vector<std::vector<std::byte>> tasks = {payload_for(1, 8), {}, payload_for(2, 300)};
  std::vector<std::byte> flat;
  const auto put = [&](std::uint64_t v) {
    for (int i = 0; i < 8; ++i) flat.push_back(static_cast<std::byte>(v >> (8 * i)));
  };
  put(tasks.size());
  parakit::io::TaskListIdentity identity(JournalHash::xxh3_64, tasks.size());
  for (const auto& task : tasks) {
    put(task.size());
    flat.insert(flat.end(), task.begin(), task.end());
    identity.add_task(task);
  }
  EXPECT_EQ(identity.value(), hash_bytes(flat));
  parakit::io::TaskListIdentity legacy(JournalHash::fnv1a_crc32c, tasks.size());
  for (const auto& task : tasks) legacy.add_task(task);
  EXPECT_NE(legacy.value(), identity.value());
}

// Version 2 keeps how many attempts a task took, when the master recorded it and how long it
// ran; version 1 has no room for them and reads back zeros.
TEST(JournalVersion2, AttemptsAndTimesComeBack) {
  TempDir dir;
  for (const std::uint8_t version : {std::uint8_t{2}, std::uint8_t{1}}) {
    const std::string path = dir.file("times" + std::to_string(version));
    const auto before = std::chrono::system_clock::now();
    {
      auto writer =
          JournalWriter::create(path, parakit::io::journal_header("k", 1, 3, version), -1.0);
      writer.add(0, TaskStatus::ok, payload_for(0, 5), {1, 1500});
      writer.add(1, TaskStatus::failed, {}, {3, 0});
      writer.flush();
      writer.add(2, TaskStatus::timed_out, payload_for(2, 70), {2, 86'400'000'000'000});
    }
    const auto after = std::chrono::system_clock::now();
    const auto ns = [](auto t) {
      return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
    };
    std::vector<JournalRecord> got;
    std::vector<std::vector<std::byte>> payloads;
    scan_journal(path, false, [&](const JournalRecord& r) {
      got.push_back(r);
      payloads.emplace_back(r.payload.begin(), r.payload.end());
    });
    ASSERT_EQ(got.size(), 3u);
    EXPECT_TRUE(payloads[2] == payload_for(2, 70));
    if (version == 1) {
      for (const auto& r : got) {
        EXPECT_EQ(std::tie(r.attempts, r.completed_ns, r.runtime_ns),
                  std::make_tuple(0u, std::int64_t{0}, std::uint64_t{0}));
      }
      continue;
    }
    EXPECT_EQ(got[0].attempts, 1u);
    EXPECT_EQ(got[1].attempts, 3u);
    EXPECT_EQ(got[2].attempts, 2u);
    EXPECT_EQ(got[0].runtime_ns, 1500u);
    EXPECT_EQ(got[1].runtime_ns, 0u);
    EXPECT_EQ(got[2].runtime_ns, 86'400'000'000'000u);
    for (const auto& r : got) {
      EXPECT_GE(r.completed_ns, ns(before));
      EXPECT_LE(r.completed_ns, ns(after));
    }
    EXPECT_EQ(got[0].completed_ns, got[1].completed_ns) << "one flush, one stamp";
    EXPECT_LE(got[1].completed_ns, got[2].completed_ns);
  }
}

// A journal written by parakit 0.1 (committed in tests/fixtures/journal-v1): the queue demo
// with 200 tasks, killed half-way through its 121st record.
TEST(JournalVersion1, AFileWrittenByTheFirstFormatStaysReadable) {
  const std::string path = std::string(PARAKIT_FIXTURES_DIR) + "/journal-v1/queue-v1.journal";
  const JournalHeader header = parakit::io::read_journal_header(path);
  EXPECT_EQ(header.version, 1);
  EXPECT_EQ(header.record_layout, 1);
  EXPECT_EQ(header.hash, parakit::io::JournalHash::fnv1a_crc32c);
  EXPECT_EQ(header.kind, "farm queue");
  EXPECT_EQ(header.task_count, 200u);
  // parakit 0.1's identity of the queue demo: FNV-1a 64 (avalanched) of "queue 200".
  EXPECT_EQ(header.identity,
            parakit::io::journal_identity(parakit::io::JournalHash::fnv1a_crc32c, "queue 200"));
  std::uint64_t next = 0;
  bool as_written = true;
  const JournalScan scan = scan_journal(path, false, [&](const JournalRecord& r) {
    // chunk 1 on one thread: task i finished i-th; its payload is {kind 0, u64 i}.
    std::uint64_t value = 0;
    std::memcpy(&value, r.payload.data() + 1, 8);
    as_written = as_written && r.task_id == next && r.status == TaskStatus::ok &&
                 r.payload.size() == 9 && r.payload[0] == std::byte{0} && value == next &&
                 r.attempts == 0 && r.completed_ns == 0 && r.runtime_ns == 0;
    ++next;
  });
  EXPECT_TRUE(as_written);
  EXPECT_EQ(scan.records, 120u);
  EXPECT_NE(scan.warning.find("torn last record"), std::string::npos) << scan.warning;
}

TEST(TaskStatusNames, AreStable) {
  EXPECT_EQ(to_string(TaskStatus::ok), "ok");
  EXPECT_EQ(to_string(TaskStatus::failed), "failed");
  EXPECT_EQ(to_string(TaskStatus::timed_out), "timed_out");
  EXPECT_EQ(to_string(TaskStatus::interrupted), "interrupted");
}

// Header and many records, including empty payloads, payloads larger than the reader's
// 4 MiB buffer, and every status, written in batches of varying size.
TEST_P(BigJournal, RoundTripHeaderAndRecordsComeBackInOrder) {
  TempDir dir;
  const std::string path = dir.file("run.journal");
  const JournalHeader header = this->header("farm queue", 0xDEADBEEFCAFEF00Dull, 123456789);
  std::vector<Expected> want;
  {
    auto writer = JournalWriter::create(path, header, 0.0);
    EXPECT_EQ(writer.path(), path);
    const std::uint64_t header_bytes = writer.bytes();
    EXPECT_EQ(header_bytes, L.header_head + L.header_fixed + header.kind.size());
    EXPECT_EQ(fs::file_size(path), header_bytes);
    std::uint64_t expect_bytes = header_bytes;
    for (std::size_t i = 0; i < 5000; ++i) {
      std::size_t size = i % 11 == 0 ? 0 : (i * 37) % 300;
      if (i == 1000) size = (std::size_t{5} << 20) + 3;  // over one read buffer
      if (i == 1001) size = (std::size_t{64} << 20);     // the largest allowed
      Expected e{i ^ 0xABCDull, kStatuses[i % 4], payload_for(i, size)};
      writer.add(e.id, e.status, e.payload);
      expect_bytes += record_size(e);
      want.push_back(std::move(e));
      if (i % 97 == 0) {
        writer.flush();
        EXPECT_EQ(writer.bytes(), expect_bytes);
        EXPECT_EQ(writer.records_written(), i + 1);
        EXPECT_EQ(fs::file_size(path), expect_bytes);
      }
    }
    EXPECT_LT(writer.bytes(), expect_bytes);  // the tail is still staged
  }                                           // the destructor flushes and syncs
  JournalScan scan;
  const auto got = read_all(path, false, &scan);
  expect_same(got, want);
  EXPECT_EQ(scan.header.kind, header.kind);
  EXPECT_EQ(scan.header.identity, header.identity);
  EXPECT_EQ(scan.header.task_count, header.task_count);
  EXPECT_EQ(scan.records, want.size());
  EXPECT_EQ(scan.valid_bytes, fs::file_size(path));
  EXPECT_EQ(scan.dropped_bytes, 0u);
  EXPECT_TRUE(scan.warning.empty()) << scan.warning;

  const JournalHeader again = parakit::io::read_journal_header(path);
  EXPECT_EQ(again.kind, header.kind);
  EXPECT_EQ(again.identity, header.identity);
  EXPECT_EQ(again.task_count, header.task_count);
}

TEST_P(BigJournal, RoundTripABigJournalScansWhileItIsReadAheadAndStopsEarlyOnAThrow) {
  // 40 MiB of small records: the scan's read-ahead helper runs (files over two read chunks).
  TempDir dir;
  const std::string path = dir.file("big.journal");
  constexpr std::uint64_t kRecords = 1'000'000;
  {
    auto writer = JournalWriter::create(path, header("farm queue", 7, kRecords), -1.0);
    for (std::uint64_t i = 0; i < kRecords; ++i) {
      const auto payload = payload_for(i, 25);
      writer.add(i, TaskStatus::ok, payload);
      if (i % 65536 == 0) writer.flush();
    }
  }
  std::uint64_t next = 0;
  bool in_order = true;
  const JournalScan scan = scan_journal(path, false, [&](const JournalRecord& r) {
    in_order = in_order && r.task_id == next && r.payload.size() == 25 &&
               std::equal(r.payload.begin(), r.payload.end(), payload_for(next, 25).begin());
    ++next;
  });
  EXPECT_TRUE(in_order);
  EXPECT_EQ(scan.records, kRecords);
  EXPECT_EQ(scan.valid_bytes, fs::file_size(path));
  // A callback that throws part-way: the exception propagates, the helper is stopped.
  std::uint64_t seen = 0;
  EXPECT_THROW(scan_journal(path, false,
                            [&](const JournalRecord&) {
                              if (++seen == 300'000) throw std::runtime_error("stop here");
                            }),
               std::runtime_error);
  EXPECT_EQ(seen, 300'000u);
}

TEST_P(BigJournal, RoundTripFaultsInABigJournalAreJudgedAsInASmallOne) {
  // Over one read chunk the records are checked on a second thread: the same verdicts.
  TempDir dir;
  const std::string path = dir.file("big.journal");
  constexpr std::uint64_t kRecords = 400'000;  // 17 or 41 + 25 bytes each: 16.8 or 26 MB
  {
    auto writer = JournalWriter::create(path, header("farm queue", 7, kRecords), -1.0);
    for (std::uint64_t i = 0; i < kRecords; ++i) writer.add(i, TaskStatus::ok, payload_for(i, 25));
  }
  const std::string clean = slurp(path);
  const std::size_t size = L.head + 25;
  const std::size_t header_bytes = clean.size() - kRecords * size;
  const auto offset_of = [&](std::uint64_t record) { return header_bytes + record * size; };
  // A flipped payload byte in record 300000: an error naming its offset; forced, 300000
  // records and a warning.
  std::string bytes = clean;
  const std::size_t in_payload = offset_of(300'000) + L.head + 3;
  bytes[in_payload] = static_cast<char>(bytes[in_payload] ^ 0x5A);
  spit(path, bytes);
  const std::string error = scan_error(path);
  EXPECT_NE(error.find("corrupt record at offset " + std::to_string(offset_of(300'000))),
            std::string::npos)
      << error;
  JournalScan scan;
  const auto got = read_all(path, true, &scan);
  ASSERT_EQ(got.size(), 300'000u);
  EXPECT_EQ(got.back().id, 299'999u);
  EXPECT_EQ(scan.records, 300'000u);
  EXPECT_EQ(scan.valid_bytes, offset_of(300'000));
  EXPECT_NE(scan.warning.find("scan_journal(force = true)"), std::string::npos) << scan.warning;
  // A torn last record: dropped with a warning, no error.
  spit(path, clean.substr(0, offset_of(kRecords - 1) + size - 12));
  const auto torn = read_all(path, false, &scan);
  EXPECT_EQ(torn.size(), kRecords - 1);
  EXPECT_NE(scan.warning.find("torn last record"), std::string::npos) << scan.warning;
  // Cut 3 bytes into the head of record 200000: a torn tail, not an error.
  spit(path, clean.substr(0, offset_of(200'000) + 3));
  EXPECT_EQ(read_all(path, false, &scan).size(), 200'000u);
}

TEST_P(JournalFormat, RoundTripEmptyJournalAndLongestKind) {
  TempDir dir;
  const std::string path = dir.file("empty.journal");
  const JournalHeader header = this->header(std::string(256, 'k'), 7, 0);
  JournalWriter::create(path, header, 1.0);
  JournalScan scan;
  EXPECT_TRUE(read_all(path, false, &scan).empty());
  EXPECT_EQ(scan.header.kind, header.kind);
  EXPECT_EQ(scan.records, 0u);
  EXPECT_EQ(scan.valid_bytes, fs::file_size(path));
  EXPECT_TRUE(scan.warning.empty());
  EXPECT_THROW(
      JournalWriter::create(dir.file("long"), this->header(std::string(257, 'k'), 7, 0), 1.0),
      InternalError);
}

TEST_P(JournalFormat, WriterTestRejectsBadRecordsAndMovedFromUse) {
  TempDir dir;
  const std::string path = dir.file("j");
  auto writer = JournalWriter::create(path, header("k", 1, 1), -1.0);
  EXPECT_THROW(writer.add(1, static_cast<TaskStatus>(4), {}), InternalError);
  const std::vector<std::byte> huge((std::size_t{64} << 20) + 1);
  EXPECT_THROW(writer.add(1, TaskStatus::ok, huge), InputError);
  writer.add(5, TaskStatus::failed, {});
  JournalWriter moved = std::move(writer);
  EXPECT_THROW(writer.add(1, TaskStatus::ok, {}),
               InternalError);  // NOLINT(bugprone-use-after-move)
  EXPECT_THROW(writer.flush(), InternalError);
  moved.sync();
  EXPECT_EQ(moved.records_written(), 1u);
  const auto got = read_all(path, false);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].id, 5u);
  EXPECT_EQ(got[0].status, TaskStatus::failed);
}

// Reopening after a scan continues the same file; the result reads as one journal.
TEST_P(JournalFormat, AppendContinuesAfterReopen) {
  TempDir dir;
  const std::string path = dir.file("run.journal");
  auto want = write_small(path, 50);
  for (int round = 0; round < 3; ++round) {
    JournalScan scan;
    expect_same(read_all(path, false, &scan), want);
    EXPECT_TRUE(scan.warning.empty());
    auto writer = JournalWriter::append_to(path, scan, 0.5);
    EXPECT_EQ(writer.bytes(), scan.valid_bytes);
    for (int i = 0; i < 10; ++i) {
      Expected e{1000u + static_cast<unsigned>(round * 10 + i), kStatuses[i % 4],
                 payload_for(static_cast<std::uint64_t>(round * 100 + i),
                             static_cast<std::size_t>(i * 13))};
      writer.add(e.id, e.status, e.payload);
      want.push_back(std::move(e));
    }
    writer.sync();
    EXPECT_EQ(writer.bytes(), fs::file_size(path));
    EXPECT_EQ(writer.records_written(), 10u);
  }
  JournalScan scan;
  expect_same(read_all(path, false, &scan), want);
  EXPECT_EQ(scan.records, 80u);
}

TEST_P(JournalFormat, AppendRefusesAFileShorterThanScanned) {
  TempDir dir;
  const std::string path = dir.file("run.journal");
  write_small(path, 3);
  const auto size = fs::file_size(path);
  EXPECT_THROW(JournalWriter::append_to(path, scanned(path, size + 1), 1.0), InputError);
  EXPECT_THROW(JournalWriter::append_to(dir.file("missing"), scanned(path, size), 1.0), InputError);
  EXPECT_EQ(fs::file_size(path), size);
}

// A kill during a write() of the last record leaves any prefix of it: every cut point is
// detected, dropped with a warning, and append_to repairs the file.
TEST_P(JournalFormat, TornTailEveryCutOfTheLastRecord) {
  TempDir dir;
  const std::string path = dir.file("run.journal");
  std::vector<std::uint64_t> offsets;
  const auto want = write_small(path, 20, &offsets);
  const std::string full = slurp(path);
  const std::uint64_t last = offsets.back();
  ASSERT_EQ(full.size(), last + record_size(want.back()));
  const std::vector<Expected> before(want.begin(), want.end() - 1);
  const std::string cut_path = dir.file("cut.journal");
  for (std::uint64_t cut = 1; cut < record_size(want.back()); ++cut) {
    SCOPED_TRACE("cut after " + std::to_string(cut) + " bytes");
    spit(cut_path, full.substr(0, last + cut));
    JournalScan scan;
    expect_same(read_all(cut_path, false, &scan), before);
    EXPECT_EQ(scan.records, before.size());
    EXPECT_EQ(scan.valid_bytes, last);
    EXPECT_EQ(scan.dropped_bytes, cut);
    EXPECT_NE(scan.warning.find("torn last record"), std::string::npos) << scan.warning;
    EXPECT_NE(scan.warning.find(cut_path), std::string::npos) << scan.warning;
    EXPECT_NE(scan.warning.find("offset " + std::to_string(last)), std::string::npos);
    {
      auto writer = JournalWriter::append_to(cut_path, scan, 0.0);
      writer.add(want.back().id, want.back().status, want.back().payload);
    }
    JournalScan again;
    expect_same(read_all(cut_path, false, &again), want);
    EXPECT_TRUE(again.warning.empty()) << again.warning;
    EXPECT_EQ(again.dropped_bytes, 0u);
    // The same bytes, but for version 2's completion time (and so the checksum) of the
    // record written again.
    const std::string repaired = slurp(cut_path);
    EXPECT_EQ(repaired.size(), full.size());
    EXPECT_EQ(repaired.substr(0, last), full.substr(0, last));
    if (L.version == 1) {
      EXPECT_EQ(repaired, full);
    }
  }
}

// Bytes of the last record changed (its payload, checksum, status, or a length reaching past
// the end): never trusted, dropped with a warning.
TEST_P(JournalFormat, TornTailCorruptLastRecordIsIgnored) {
  TempDir dir;
  const std::string path = dir.file("run.journal");
  std::vector<std::uint64_t> offsets;
  const auto want = write_small(path, 10, &offsets);
  const std::string full = slurp(path);
  const std::vector<Expected> before(want.begin(), want.end() - 1);
  const std::size_t last = offsets.back();
  const auto length = static_cast<std::uint32_t>(want.back().payload.size());
  const auto flip = [&](std::size_t at, int mask) {
    std::string bad = full;
    bad[at] = static_cast<char>(bad[at] ^ mask);
    return bad;
  };
  const auto with_length = [&](std::uint32_t value) {
    std::string bad = full;
    std::memcpy(bad.data() + last, &value, 4);
    return bad;
  };
  const std::pair<std::string, std::string> cases[] = {
      {"payload byte", flip(last + L.head + 3, 0x01)},
      {"final byte", flip(full.size() - 1, 0x80)},
      {"checksum", flip(last + 4, 0x10)},
      {"task id", flip(last + L.id_at, 0x01)},
      {"unknown status", flip(last + L.status_at, 0x40)},
      {"length + 1", with_length(length + 1)},
      {"length 1 MiB", with_length(1u << 20)},
  };
  for (const auto& [what, bad] : cases) {
    SCOPED_TRACE(what);
    spit(path, bad);
    JournalScan scan;
    expect_same(read_all(path, false, &scan), before);
    EXPECT_EQ(scan.valid_bytes, last);
    EXPECT_EQ(scan.dropped_bytes, full.size() - last);
    EXPECT_NE(scan.warning.find("torn last record"), std::string::npos) << scan.warning;
  }
}

// A crash can leave zero-filled blocks past the last whole record: a torn tail, too.
TEST_P(JournalFormat, TornTailZeroFilledTailIsIgnored) {
  TempDir dir;
  const std::string path = dir.file("run.journal");
  const auto want = write_small(path, 5);
  const std::string full = slurp(path);
  for (std::size_t zeros : {1u, 16u, 17u, 18u, 4096u, 5000000u}) {
    spit(path, full + std::string(zeros, '\0'));
    JournalScan scan;
    expect_same(read_all(path, false, &scan), want);
    EXPECT_EQ(scan.valid_bytes, full.size());
    EXPECT_EQ(scan.dropped_bytes, zeros);
    EXPECT_NE(scan.warning.find("torn last record"), std::string::npos) << scan.warning;
  }
}

// Corruption with data after it is an error; force stops there instead.
TEST_P(JournalFormat, CorruptionMiddleRecordIsAnErrorUnlessForced) {
  TempDir dir;
  const std::string path = dir.file("run.journal");
  std::vector<std::uint64_t> offsets;
  const auto want = write_small(path, 30, &offsets);
  const std::string full = slurp(path);
  const std::size_t bad_index = 12;
  const std::uint64_t at = offsets[bad_index];
  const std::vector<Expected> before(want.begin(), want.begin() + bad_index);
  const auto length = static_cast<std::uint32_t>(want[bad_index].payload.size());
  const auto flip = [&](std::size_t byte, int mask) {
    std::string bad = full;
    bad[at + byte] = static_cast<char>(bad[at + byte] ^ mask);
    return bad;
  };
  const auto with_length = [&](std::uint32_t value) {
    std::string bad = full;
    std::memcpy(bad.data() + at, &value, 4);
    return bad;
  };
  const std::pair<std::string, std::string> cases[] = {
      {"payload byte", flip(L.head + 3, 0x04)}, {"checksum", flip(5, 0x04)},
      {"task id", flip(L.id_at + 1, 0x04)},     {"unknown status", flip(L.status_at, 0x08)},
      {"length + 4", with_length(length + 4)},  {"length - 4", with_length(length - 4)},
  };
  for (const auto& [what, bad] : cases) {
    SCOPED_TRACE(what);
    spit(path, bad);
    const std::string error = scan_error(path);
    EXPECT_NE(error.find("corrupt record at offset " + std::to_string(at)), std::string::npos)
        << error;
    EXPECT_NE(error.find("before the end"), std::string::npos) << error;
    EXPECT_NE(error.find("scan_journal(force = true)"), std::string::npos) << error;
    EXPECT_NE(error.find(path), std::string::npos) << error;

    JournalScan scan;
    expect_same(read_all(path, true, &scan), before);
    EXPECT_EQ(scan.records, bad_index);
    EXPECT_EQ(scan.valid_bytes, at);
    EXPECT_EQ(scan.dropped_bytes, full.size() - at);
    EXPECT_GT(scan.dropped_bytes, 0u);
    EXPECT_NE(scan.warning.find("scan_journal(force = true)"), std::string::npos) << scan.warning;

    // Resuming from the forced scan leaves a clean journal of the records before it.
    JournalWriter::append_to(path, scan, 0.0);
    JournalScan clean;
    expect_same(read_all(path, false, &clean), before);
    EXPECT_TRUE(clean.warning.empty());
  }
}

// An absurd length (over the 64 MiB cap) is corruption, not an allocation request.
TEST_P(JournalFormat, CorruptionHugeLengthIsAnErrorNotACrash) {
  TempDir dir;
  const std::string path = dir.file("run.journal");
  std::vector<std::uint64_t> offsets;
  const auto want = write_small(path, 30, &offsets);
  const std::string full = slurp(path);
  for (std::uint32_t length : {0xFFFFFFFFu, (64u << 20) + 1}) {
    for (std::size_t index : {std::size_t{0}, std::size_t{15}, want.size() - 1}) {
      SCOPED_TRACE("length " + std::to_string(length) + " in record " + std::to_string(index));
      std::string bad = full;
      std::memcpy(bad.data() + offsets[index], &length, 4);
      spit(path, bad);
      const std::string error = scan_error(path);
      EXPECT_NE(error.find("corrupt record at offset " + std::to_string(offsets[index])),
                std::string::npos)
          << error;
      EXPECT_NE(error.find("64 MiB"), std::string::npos) << error;
      JournalScan scan;
      EXPECT_EQ(read_all(path, true, &scan).size(), index);
      EXPECT_EQ(scan.valid_bytes, offsets[index]);
    }
  }
}

TEST_P(JournalFormat, HeaderErrorsAreInputErrorsNamingThePath) {
  TempDir dir;
  const std::string path = dir.file("run.journal");
  write_small(path, 3);
  const std::string full = slurp(path);
  const auto expect_input_error = [&](const std::string& bytes, const std::string& why) {
    SCOPED_TRACE(why);
    spit(path, bytes);
    const std::string error = scan_error(path);
    EXPECT_NE(error.find(path), std::string::npos) << error;
    EXPECT_NE(error.find(why), std::string::npos) << error;
    EXPECT_THROW(parakit::io::read_journal_header(path), InputError);
  };
  expect_input_error("", "too short");
  expect_input_error("PKJRNL01", "too short");
  expect_input_error(full.substr(0, 30), "too short");
  expect_input_error(full.substr(0, 40), "bad header length");  // kind cut off
  std::string bad_magic = full;
  bad_magic[0] = 'Q';
  expect_input_error(bad_magic, "bad magic");
  std::string newer = full;
  newer[7] = '9';
  expect_input_error(newer, "written by a newer parakit (format 09)");
  std::string bad_kind = full;
  const std::size_t kind_at = L.header_head + L.header_fixed;  // the first byte of the kind
  bad_kind[kind_at] = static_cast<char>(bad_kind[kind_at] ^ 0x20);
  expect_input_error(bad_kind, "header checksum");
  std::string bad_crc = full;
  bad_crc[12] = static_cast<char>(bad_crc[12] ^ 0x01);
  expect_input_error(bad_crc, "header checksum");
  std::string bad_length = full;
  bad_length[8] = static_cast<char>(0xFF);
  expect_input_error(bad_length, "bad header length");

  const std::string missing = dir.file("missing.journal");
  try {
    scan_journal(missing, true, nullptr);
    ADD_FAILURE() << "no error for a missing journal";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(missing), std::string::npos) << e.what();
  }
  EXPECT_THROW(scan_journal(dir.file(""), false, nullptr), InputError);  // a directory
}

// write() hands records to the kernel: a writer killed with SIGKILL right after flush()
// (no fsync, no destructor) loses nothing flushed; what was only staged is lost whole.
TEST_P(JournalFormat, DurabilityFlushedRecordsSurviveSigkill) {
  TempDir dir;
  const std::string path = dir.file("run.journal");
  constexpr int kFlushed = 2000;
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    try {
      auto writer = JournalWriter::create(path, header("kill test", 99, kFlushed), -1.0);
      for (int i = 0; i < kFlushed; ++i) {
        const auto payload =
            payload_for(static_cast<std::uint64_t>(i), static_cast<std::size_t>(i % 50));
        writer.add(static_cast<std::uint64_t>(i), TaskStatus::ok, payload);
        if (i % 100 == 99) writer.flush();
      }
      writer.add(kFlushed, TaskStatus::ok, payload_for(0, 10));  // staged only
      ::kill(::getpid(), SIGKILL);
    } catch (...) {
    }
    ::_exit(3);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status)) << "child status " << status;
  EXPECT_EQ(WTERMSIG(status), SIGKILL);
  JournalScan scan;
  const auto got = read_all(path, false, &scan);
  EXPECT_TRUE(scan.warning.empty()) << scan.warning;
  EXPECT_EQ(scan.header.identity, 99u);
  ASSERT_EQ(got.size(), static_cast<std::size_t>(kFlushed));
  for (int i = 0; i < kFlushed; ++i) {
    EXPECT_EQ(got[static_cast<std::size_t>(i)].id, static_cast<std::uint64_t>(i));
    EXPECT_TRUE(got[static_cast<std::size_t>(i)].payload ==
                payload_for(static_cast<std::uint64_t>(i), static_cast<std::size_t>(i % 50)));
  }
}

// A failed write() (EFBIG from RLIMIT_FSIZE, standing in for ENOSPC) throws InputError and
// cuts the partial batch off again; once there is room, the staged batch goes out whole.
TEST_P(JournalFormat, WriterTestWriteFailureLeavesWholeRecordsAndRetries) {
  TempDir dir;
  const std::string path = dir.file("run.journal");
  auto writer = JournalWriter::create(path, header("k", 1, 100), -1.0);
  std::vector<Expected> want;
  for (std::uint64_t i = 0; i < 10; ++i) {
    want.push_back({i, TaskStatus::ok, payload_for(i, 100)});
    writer.add(i, TaskStatus::ok, want.back().payload);
  }
  writer.flush();
  const std::uint64_t good = writer.bytes();
  for (std::uint64_t i = 10; i < 100; ++i) {
    want.push_back({i, TaskStatus::failed, payload_for(i, 100)});
    writer.add(i, TaskStatus::failed, want.back().payload);
  }
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
  auto* old_handler = std::signal(SIGXFSZ, SIG_IGN);
  rlimit small = saved;
  small.rlim_cur = good + 1000;  // room for part of the batch only
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  std::string error;
  try {
    writer.flush();
  } catch (const InputError& e) {
    error = e.what();
  }
  ::setrlimit(RLIMIT_FSIZE, &saved);
  std::signal(SIGXFSZ, old_handler);
  EXPECT_NE(error.find(path), std::string::npos) << error;
  EXPECT_EQ(writer.bytes(), good);
  EXPECT_EQ(fs::file_size(path), good);
  writer.sync();
  EXPECT_EQ(writer.records_written(), 100u);
  JournalScan scan;
  expect_same(read_all(path, false, &scan), want);
  EXPECT_TRUE(scan.warning.empty());
}

}  // namespace
