// Tests for reading journals back: the summary (deciding records, counts, kept failures,
// throughput, the writer probe), the deciding-record visit, the typed farm reader and the rows
// of parakit's own farms, on journals written here and on parakit 0.1's fixtures.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "parakit/core/error.hpp"
#include "parakit/io/codec.hpp"
#include "parakit/io/journal.hpp"
#include "parakit/io/journal_summary.hpp"
#include "parakit/patterns/farm_journal.hpp"
#include "parakit/sys/unique_fd.hpp"
#include "parakit/workloads/commands.hpp"
#include "parakit/workloads/journal_rows.hpp"
#include "temp_dir.hpp"

namespace {

namespace fs = std::filesystem;
using parakit::FarmJournalEntry;
using parakit::FarmPayloadKind;
using parakit::InputError;
using parakit::TaskStatus;
using parakit::io::JournalRecord;
using parakit::io::JournalSummary;
using parakit::io::JournalWriter;

/// A fresh directory under TMPDIR, removed with its contents at scope exit.
class TempDir : public parakit::testing::TempDir {
 public:
  TempDir() : parakit::testing::TempDir("parakit-summary") {}
};

/// A farm payload: the value's encoding, or an error message.
template <class T>
std::vector<std::byte> value_payload(const T& value) {
  std::vector<std::byte> out{std::byte{0}};
  parakit::io::Encoder(out).put(value);
  return out;
}

std::vector<std::byte> error_payload(const std::string& message) {
  std::vector<std::byte> out{std::byte{1}};
  parakit::io::Encoder(out).bytes(message.data(), message.size());
  return out;
}

/// A "farm queue" journal of `tasks` tasks holding the given records, in this order.
struct Rec {
  std::uint64_t id;
  TaskStatus status;
};
void write_queue_journal(const std::string& path, std::uint64_t tasks,
                         const std::vector<Rec>& records) {
  auto writer =
      JournalWriter::create(path, parakit::io::journal_header("farm queue", 1234, tasks), -1);
  for (const Rec& r : records) {
    const auto payload = r.status == TaskStatus::ok ? value_payload<std::uint64_t>(r.id * 10)
                                                    : error_payload("boom " + std::to_string(r.id));
    writer.add(r.id, r.status, payload, {2, 5000});
  }
  writer.sync();
}

TEST(JournalSummary, CountsEachTaskByTheRecordAResumeKeeps) {
  TempDir dir;
  const std::string path = dir.file("j");
  write_queue_journal(path, 10,
                      {{0, TaskStatus::ok},
                       {1, TaskStatus::failed},
                       {2, TaskStatus::timed_out},
                       {3, TaskStatus::interrupted},
                       {1, TaskStatus::ok},  // a rerun of a failure succeeded
                       {4, TaskStatus::failed},
                       {4, TaskStatus::interrupted},  // its rerun was interrupted: still failed
                       {5, TaskStatus::interrupted},
                       {5, TaskStatus::failed}});
  const JournalSummary s = parakit::io::summarize_journal(path);
  EXPECT_EQ(s.tasks, 10u);
  EXPECT_EQ(s.records, 9u);
  EXPECT_EQ(s.done, 2u);
  EXPECT_EQ(s.failed, 3u);  // 2, 4, 5 (timed out counts as failed, as in FarmReport)
  EXPECT_EQ(s.timed_out, 1u);
  EXPECT_EQ(s.interrupted, 1u);
  EXPECT_EQ(s.not_run, 5u);  // 3 (interrupted) and 6..9
  EXPECT_EQ(s.running, false);
  EXPECT_FALSE(s.tail_being_written);
  EXPECT_FALSE(s.eta_seconds) << "not running: no estimate";
  ASSERT_EQ(s.first_failures.size(), 3u);
  EXPECT_EQ(s.first_failures[0].task_id, 2u);
  EXPECT_EQ(s.first_failures[0].status, TaskStatus::timed_out);
  EXPECT_EQ(s.first_failures[1].task_id, 4u);
  EXPECT_EQ(s.first_failures[1].attempts, 2u);
  EXPECT_EQ(s.first_failures[1].runtime_ns, 5000u);
  EXPECT_EQ(s.first_failures[2].task_id, 5u);
  EXPECT_TRUE(s.first_completed_ns && s.last_completed_ns);
}

TEST(JournalSummary, MemoryFollowsTheRecordsNotTheHeadersCount) {
  TempDir dir;
  const std::string path = dir.file("j");
  // A header may announce any number of tasks; a table of 2^50 bytes would not fit.
  write_queue_journal(path, std::uint64_t{1} << 50, {{5, TaskStatus::ok}, {1, TaskStatus::failed}});
  const JournalSummary s = parakit::io::summarize_journal(path);
  EXPECT_EQ(s.tasks, std::uint64_t{1} << 50);
  EXPECT_EQ(s.done, 1u);
  EXPECT_EQ(s.failed, 1u);
  EXPECT_EQ(s.not_run, (std::uint64_t{1} << 50) - 2);
  std::vector<std::uint64_t> ids;
  parakit::io::visit_deciding_records(path,
                                      [&](const JournalRecord& r) { ids.push_back(r.task_id); });
  EXPECT_EQ(ids, (std::vector<std::uint64_t>{5, 1}));
}

TEST(JournalSummary, KeepsTheLowestFailedIdsEvenWhenALaterSuccessDropsOne) {
  TempDir dir;
  const std::string path = dir.file("j");
  // Failures of 9, 8, ..., 0, then 0 and 1 succeed: the kept two (0, 1) are both dropped, so
  // the summary reads the failures again to find 2 and 3.
  std::vector<Rec> records;
  for (std::uint64_t id = 10; id-- > 0;) records.push_back({id, TaskStatus::failed});
  records.push_back({0, TaskStatus::ok});
  records.push_back({1, TaskStatus::ok});
  write_queue_journal(path, 10, records);
  parakit::io::JournalSummaryOptions options;
  options.failures = 2;
  const JournalSummary s = parakit::io::summarize_journal(path, options);
  EXPECT_EQ(s.failed, 8u);
  ASSERT_EQ(s.first_failures.size(), 2u);
  EXPECT_EQ(s.first_failures[0].task_id, 2u);
  EXPECT_EQ(s.first_failures[1].task_id, 3u);
}

TEST(JournalSummary, VisitsEveryTasksDecidingRecordOnce) {
  TempDir dir;
  const std::string path = dir.file("j");
  write_queue_journal(path, 4,
                      {{0, TaskStatus::failed},
                       {1, TaskStatus::interrupted},
                       {0, TaskStatus::ok},
                       {1, TaskStatus::interrupted},
                       {2, TaskStatus::failed},
                       {2, TaskStatus::interrupted}});
  std::map<std::uint64_t, TaskStatus> seen;
  std::vector<std::uint64_t> order;
  parakit::io::visit_deciding_records(path, [&](const JournalRecord& r) {
    EXPECT_TRUE(seen.emplace(r.task_id, r.status).second) << "task " << r.task_id << " twice";
    order.push_back(r.task_id);
  });
  EXPECT_EQ(seen, (std::map<std::uint64_t, TaskStatus>{
                      {0, TaskStatus::ok}, {1, TaskStatus::interrupted}, {2, TaskStatus::failed}}));
  EXPECT_EQ(order, (std::vector<std::uint64_t>{0, 1, 2})) << "file order of the deciding ones";
}

TEST(JournalSummary, RateFromCompletionTimesAndEtaWhileTheWriterRuns) {
  TempDir dir;
  const std::string path = dir.file("j");
  auto writer = JournalWriter::create(path, parakit::io::journal_header("farm queue", 1, 100), -1);
  for (std::uint64_t id = 0; id < 30; ++id) {
    writer.add(id, TaskStatus::ok, value_payload<std::uint64_t>(id));
    writer.flush();  // one time stamp per record
    ::usleep(2000);
  }
  // The writer still holds its lock: the journal is being written.
  const JournalSummary s = parakit::io::summarize_journal(path);
  EXPECT_EQ(s.running, true);
  ASSERT_TRUE(s.rate);
  // 29 records after the first stamp, over at least 29 x 2 ms: at most ~500 tasks/s.
  EXPECT_GT(*s.rate, 10.0);
  EXPECT_LT(*s.rate, 520.0);
  ASSERT_TRUE(s.eta_seconds);
  EXPECT_NEAR(*s.eta_seconds, 70.0 / *s.rate, 1e-9);
}

TEST(JournalSummary, TheProbeNeverStopsAWriterFromStarting) {
  TempDir dir;
  const std::string path = dir.file("j");
  write_queue_journal(path, 3, {{0, TaskStatus::ok}});
  // Hold a shared lock as the probe does, for 50 ms: a writer starting meanwhile waits for it.
  parakit::sys::UniqueFd held = parakit::sys::open_fd(path, O_RDONLY);
  ASSERT_EQ(::flock(held.get(), LOCK_SH | LOCK_NB), 0);
  std::thread release([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    held.reset();
  });
  const auto scan = parakit::io::scan_journal(path, false, {});
  EXPECT_NO_THROW(JournalWriter::append_to(path, scan, -1));
  release.join();
  EXPECT_EQ(parakit::io::journal_writer_running(path), false);
}

TEST(JournalSummary, TornTailOfARunningWriterIsBeingWrittenNotDamage) {
  TempDir dir;
  const std::string path = dir.file("j");
  write_queue_journal(path, 5, {{0, TaskStatus::ok}, {1, TaskStatus::ok}});
  const auto scan = parakit::io::scan_journal(path, false, {});
  auto writer = JournalWriter::append_to(path, scan, -1);  // holds the lock
  {
    std::FILE* f = std::fopen(path.c_str(), "ab");
    std::fwrite("\x09\x00\x00\x00\x01\x02", 1, 6, f);  // half a record head
    std::fclose(f);
  }
  const JournalSummary s = parakit::io::summarize_journal(path);
  EXPECT_EQ(s.done, 2u);
  EXPECT_TRUE(s.tail_being_written);
  EXPECT_EQ(s.scan.dropped_bytes, 6u);
}

TEST(JournalSummary, NotAJournalOrAFifoIsAnInputError) {
  TempDir dir;
  const std::string text = dir.file("text");
  {
    std::FILE* f = std::fopen(text.c_str(), "wb");
    std::fputs("this is not a journal at all\n", f);
    std::fclose(f);
  }
  EXPECT_THROW(parakit::io::summarize_journal(text), InputError);
  EXPECT_THROW(parakit::io::summarize_journal(dir.file("missing")), InputError);
  const std::string fifo = dir.file("fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_THROW(parakit::io::summarize_journal(fifo), InputError);  // and does not hang
}

TEST(FarmJournalReader, DecodesResultsAndErrorsAsTheFarmEncodedThem) {
  TempDir dir;
  const std::string path = dir.file("j");
  write_queue_journal(path, 3, {{0, TaskStatus::failed}, {1, TaskStatus::ok}, {0, TaskStatus::ok}});
  std::vector<FarmJournalEntry<std::uint64_t>> all;
  parakit::read_farm_journal<std::uint64_t>(
      path, [&](const FarmJournalEntry<std::uint64_t>& e) { all.push_back(e); });
  ASSERT_EQ(all.size(), 3u);
  EXPECT_FALSE(all[0].result);
  EXPECT_EQ(all[0].error, "boom 0");
  EXPECT_EQ(all[1].result, 10u);
  EXPECT_EQ(all[1].attempts, 2u);
  const auto last = parakit::read_farm_journal<std::uint64_t>(path);
  ASSERT_EQ(last.size(), 2u);
  EXPECT_EQ(last[0].id, 0u);
  EXPECT_EQ(last[0].result, 0u);
  EXPECT_EQ(last[1].id, 1u);
  // A result of another type does not decode: an InputError naming the task.
  EXPECT_THROW(parakit::read_farm_journal<std::string>(path), InputError);
}

TEST(JournalRows, CommandResultsOfBothVersionsAndUnknownKindsAsHex) {
  // parakit 0.1's command farm (class version 0 of CommandResult): no command line, no logs.
  const std::string v1 = std::string(PARAKIT_FIXTURES_DIR) + "/journal-v1/commands-v1.journal";
  std::vector<parakit::workloads::JournalRow> rows;
  const auto s = parakit::workloads::read_journal_rows(
      v1, [&](const parakit::workloads::JournalRow& r) { rows.push_back(r); });
  ASSERT_FALSE(rows.empty());
  EXPECT_EQ(s.header.version, 1);
  EXPECT_FALSE(s.rate);
  for (const auto& r : rows) {
    ASSERT_TRUE(r.command);
    EXPECT_TRUE(r.command->command.empty());
    EXPECT_EQ(r.completed_ns, 0);
  }
  // Version 1 of CommandResult round-trips its command line and log paths.
  TempDir dir;
  const std::string path = dir.file("c");
  parakit::workloads::CommandResult result;
  result.status = TaskStatus::failed;
  result.exit_code = 3;
  result.command = "exit 3";
  result.stdout_path = "/logs/0/7.out";
  result.stderr_path = "/logs/0/7.err";
  {
    auto writer =
        JournalWriter::create(path, parakit::io::journal_header("farm commands", 1, 8), -1);
    writer.add(7, TaskStatus::failed, value_payload(result));
  }
  const auto c = parakit::workloads::read_journal_rows(path, [](const auto&) {});
  ASSERT_EQ(c.first_failures.size(), 1u);
  const auto row = parakit::workloads::journal_row(c.header, path, c.first_failures[0]);
  ASSERT_TRUE(row.command);
  EXPECT_EQ(row.command->exit_code, 3);
  EXPECT_EQ(row.command->command, "exit 3");
  EXPECT_EQ(row.command->stderr_path, "/logs/0/7.err");
  // A farm of a type parakit does not know: the result's encoding in hex.
  const std::string other = dir.file("o");
  {
    auto writer = JournalWriter::create(other, parakit::io::journal_header("my farm", 1, 1), -1);
    writer.add(0, TaskStatus::ok, value_payload<std::uint32_t>(0xA1B2C3D4));
  }
  std::string hex;
  parakit::workloads::read_journal_rows(
      other, [&](const parakit::workloads::JournalRow& r) { hex = r.result; });
  EXPECT_EQ(hex, "d4c3b2a1");
}

}  // namespace
