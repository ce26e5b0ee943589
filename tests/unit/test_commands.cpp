// Tests for shell commands as farm tasks: the commands file, placeholders, run_command (logs,
// environment, exit statuses, timeouts and process-group cleanup, interrupts, threads) and the
// GNU parallel joblog.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <boost/archive/binary_iarchive.hpp>
#include <boost/archive/binary_oarchive.hpp>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "parakit/core/error.hpp"
#include "parakit/workloads/commands.hpp"
#include "temp_dir.hpp"

namespace {

namespace fs = std::filesystem;
using namespace parakit::workloads;
using parakit::TaskStatus;
using Clock = std::chrono::steady_clock;

/// A fresh directory under TMPDIR, removed with its contents at scope exit.
class TempDir : public parakit::testing::TempDir {
 public:
  TempDir() : parakit::testing::TempDir("parakit-commands") {}
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void spit(const fs::path& p, const std::string& content) {
  std::ofstream out(p, std::ios::binary);
  out << content;
}

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

/// The InputError message `f` throws ("" if it throws nothing or something else).
template <class F>
std::string input_error_of(F&& f) {
  try {
    f();
  } catch (const parakit::InputError& e) {
    return e.what();
  } catch (...) {
    return "<other exception>";
  }
  return "";
}

/// Gone, or a zombie nobody reaped yet (it runs nothing either way).
bool process_gone(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return true;
  std::string line;
  std::getline(stat, line);
  const auto paren = line.rfind(')');
  return paren == std::string::npos || paren + 2 >= line.size() || line[paren + 2] == 'Z' ||
         line[paren + 2] == 'X';
}

/// Waits up to `seconds` for `pid` to be gone.
bool eventually_gone(pid_t pid, double seconds = 3) {
  const auto t0 = Clock::now();
  while (!process_gone(pid)) {
    if (seconds_since(t0) > seconds) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

/// No live (non-zombie) process left in process group `pgid`.
bool group_gone(pid_t pgid) {
  if (::kill(-pgid, 0) != 0 && errno == ESRCH) return true;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(entry.path() / "stat");
    std::string line;
    if (!std::getline(stat, line)) continue;
    const auto paren = line.rfind(')');
    if (paren == std::string::npos) continue;
    std::istringstream rest(line.substr(paren + 2));
    char state = 0;
    long ppid = 0, pgrp = 0;
    rest >> state >> ppid >> pgrp;
    if (pgrp == pgid && state != 'Z' && state != 'X') return false;
  }
  return true;
}

pid_t read_pid(const std::string& path) {
  std::ifstream in(path);
  long pid = 0;
  in >> pid;
  return static_cast<pid_t>(pid);
}

CommandOptions options_in(const TempDir& dir) {
  CommandOptions options;
  options.logdir = (dir.path() / "logs").string();
  return options;
}

Placeholders where(std::uint64_t id, int rank = 0, std::string host = "hostA", int slot = 1) {
  return Placeholders{id, rank, std::move(host), slot};
}

// ---- the commands file --------------------------------------------------------------------

TEST(CommandsFile, SkipsBlanksAndCommentsButKeepsNumbering) {
  TempDir dir;
  const std::string path = dir.file("cmds.txt");
  spit(path, "echo a\n\n# a comment\n   # indented comment\n\t \necho b\r\n  echo c  \necho d");
  const CommandsFile file = read_commands_file(path);
  ASSERT_EQ(file.tasks.size(), 4u);
  EXPECT_EQ(file.lines, 8u);
  EXPECT_EQ(file.tasks[0].id, 0u);
  EXPECT_EQ(file.tasks[0].command, "echo a");
  EXPECT_EQ(file.tasks[1].id, 5u);
  EXPECT_EQ(file.tasks[1].command, "echo b");  // CRLF: '\r' stripped
  EXPECT_EQ(file.tasks[2].id, 6u);
  EXPECT_EQ(file.tasks[2].command, "  echo c  ");
  EXPECT_EQ(file.tasks[3].id, 7u);  // the last line needs no newline
  EXPECT_EQ(file.tasks[3].command, "echo d");
}

TEST(CommandsFile, CountsLinesWithTrailingNewlineAndStripsBom) {
  TempDir dir;
  const std::string path = dir.file("cmds.txt");
  spit(path,
       "\xEF\xBB\xBF"
       "echo a\r\n# c\r\n\r\n");
  const CommandsFile file = read_commands_file(path);
  ASSERT_EQ(file.tasks.size(), 1u);
  EXPECT_EQ(file.tasks[0].command, "echo a");
  EXPECT_EQ(file.lines, 3u);
}

TEST(CommandsFile, EmptyOrOnlyCommentsIsAnError) {
  TempDir dir;
  const std::string empty = dir.file("empty.txt");
  spit(empty, "");
  EXPECT_EQ(input_error_of([&] { read_commands_file(empty); }),
            "commands file " + empty + " has no commands");
  const std::string comments = dir.file("comments.txt");
  spit(comments, "# nothing\n\n   \n#echo no\n");
  EXPECT_EQ(input_error_of([&] { read_commands_file(comments); }),
            "commands file " + comments + " has no commands");
}

TEST(CommandsFile, MissingFileOrDirectoryIsAnError) {
  TempDir dir;
  const std::string missing = dir.file("missing.txt");
  const std::string msg = input_error_of([&] { read_commands_file(missing); });
  EXPECT_NE(msg.find(missing), std::string::npos) << msg;
  EXPECT_NE(msg.find("No such file"), std::string::npos) << msg;
  const std::string dmsg = input_error_of([&] { read_commands_file(dir.path().string()); });
  EXPECT_EQ(dmsg, "commands file " + dir.path().string() + " is a directory");
}

TEST(CommandsFile, LongLineIsAnErrorNamingTheLine) {
  TempDir dir;
  const std::string ok_path = dir.file("ok.txt");
  spit(ok_path, "echo a\n" + std::string(kMaxCommandBytes, 'x') + "\r\necho b\n");
  const CommandsFile ok = read_commands_file(ok_path);
  ASSERT_EQ(ok.tasks.size(), 3u);
  EXPECT_EQ(ok.tasks[1].command.size(), kMaxCommandBytes);

  const std::string path = dir.file("long.txt");
  spit(path, "echo a\n" + std::string(kMaxCommandBytes + 1, 'x') + "\necho b\n");
  std::string msg = input_error_of([&] { read_commands_file(path); });
  EXPECT_NE(msg.find("commands file " + path + ": line 2 is longer than"), std::string::npos)
      << msg;

  const std::string big = dir.file("big.txt");
  spit(big, "echo a\n" + std::string(200 * 1024, 'y') + "\n");
  msg = input_error_of([&] { read_commands_file(big); });
  EXPECT_NE(msg.find("line 2 is longer than 131071 bytes"), std::string::npos) << msg;
}

TEST(CommandsFile, HugeSingleLineFailsFast) {
  TempDir dir;
  const std::string path = dir.file("huge.txt");
  {
    std::ofstream out(path, std::ios::binary);
    const std::string block(1 << 20, 'z');
    for (int i = 0; i < 50; ++i) out << block;
  }
  ASSERT_EQ(fs::file_size(path), 50u << 20);
  const auto t0 = Clock::now();
  const std::string msg = input_error_of([&] { read_commands_file(path); });
  EXPECT_LT(seconds_since(t0), 0.5);
  EXPECT_NE(msg.find("line 1 is longer than"), std::string::npos) << msg;
}

TEST(CommandsFile, NulByteIsAnError) {
  TempDir dir;
  const std::string path = dir.file("nul.txt");
  spit(path, std::string("echo a\necho b\necho \0c\n", 22));
  const std::string msg = input_error_of([&] { read_commands_file(path); });
  EXPECT_NE(msg.find("commands file " + path + ": line 3 contains a NUL byte"), std::string::npos)
      << msg;
}

// XXH3-64 (seed 0); the values come from Python's xxhash package, an independent binding.
TEST(CommandsHash, IsXxh3_64) {
  EXPECT_EQ(command_hash(""), 0x2d06800538d394c2ull);
  EXPECT_EQ(command_hash("a"), 0xe6c632b61e964e1full);
  EXPECT_EQ(command_hash("foobar"), 0xd78fda63144c5c84ull);
  EXPECT_NE(command_hash("echo 1"), command_hash("echo 2"));
}

// ---- placeholders -------------------------------------------------------------------------

TEST(CommandsPlaceholders, ReplacesKnownAndKeepsTheRest) {
  const Placeholders p{41, 3, "node-7", 2};
  EXPECT_EQ(expand_placeholders("x{id}y {#} {rank} {host} {slot}", p), "x41y 42 3 node-7 2");
  EXPECT_EQ(expand_placeholders("{id}{id}{#}", p), "414142");
  EXPECT_EQ(expand_placeholders("{} {foo} { {#  }{ {{id}} {ID} {", p),
            "{} {foo} { {#  }{ {41} {ID} {");
  EXPECT_EQ(expand_placeholders("awk '{print $1}' f_{#}.txt", p), "awk '{print $1}' f_42.txt");
  EXPECT_EQ(expand_placeholders("", p), "");
  // Replaced text is not scanned again.
  EXPECT_EQ(expand_placeholders("{host}", Placeholders{1, 0, "{id}", 1}), "{id}");
}

// ---- run_command ----------------------------------------------------------------------------

TEST(CommandsRun, OutputGoesToShardedLogFiles) {
  TempDir dir;
  const CommandOptions options = options_in(dir);
  const CommandTask task{1234, "echo to-out; echo to-err >&2"};
  const double before =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  const CommandResult r = run_command(task, where(1234, 5, "hostB", 3), options);
  EXPECT_EQ(r.status, TaskStatus::ok);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.signal, 0);
  EXPECT_EQ(r.host, "hostB");
  EXPECT_EQ(r.rank, 5);
  EXPECT_EQ(r.slot, 3);
  EXPECT_EQ(r.command_hash, command_hash(task.command));
  EXPECT_GE(r.start_time, before - 1);
  EXPECT_LT(r.start_time, before + 60);
  EXPECT_GT(r.runtime, 0);
  EXPECT_LT(r.runtime, 10);
  EXPECT_EQ(slurp(dir.path() / "logs" / "1" / "1234.out"), "to-out\n");
  EXPECT_EQ(slurp(dir.path() / "logs" / "1" / "1234.err"), "to-err\n");
  EXPECT_EQ(command_stdout_path("L", 1234), "L/1/1234.out");
  EXPECT_EQ(command_stderr_path("L", 999), "L/0/999.err");

  // A rerun truncates the old logs.
  const CommandResult again = run_command({1234, "echo x"}, where(1234), options);
  EXPECT_EQ(again.status, TaskStatus::ok);
  EXPECT_EQ(slurp(dir.path() / "logs" / "1" / "1234.out"), "x\n");
  EXPECT_EQ(slurp(dir.path() / "logs" / "1" / "1234.err"), "");
}

TEST(CommandsRun, EnvironmentAndStdin) {
  TempDir dir;
  ::setenv("PARAKIT_TASK_ID", "inherited-value", 1);
  ::setenv("PARAKIT_TEST_INHERITED", "yes", 1);
  const CommandTask task{
      41,
      "echo $PARAKIT_TASK_ID $PARAKIT_SEQ $PARAKIT_RANK $PARAKIT_HOST $PARAKIT_SLOT; "
      "echo $PARAKIT_TEST_INHERITED; env | grep -c '^PARAKIT_TASK_ID='; cat; echo end"};
  const CommandResult r = run_command(task, where(41, 3, "nodeA", 2), options_in(dir));
  ::unsetenv("PARAKIT_TASK_ID");
  ::unsetenv("PARAKIT_TEST_INHERITED");
  EXPECT_EQ(r.status, TaskStatus::ok);
  EXPECT_EQ(slurp(dir.path() / "logs" / "0" / "41.out"), "41 42 3 nodeA 2\nyes\n1\nend\n");
}

TEST(CommandsRun, PlaceholdersInCommandAndLogdir) {
  TempDir dir;
  CommandOptions options;
  options.logdir = (dir.path() / "r{rank}" / "h{host}").string();
  const CommandResult r =
      run_command({7, "echo {id} {#} {rank} {host} {slot} {other}"}, where(7, 2, "hx", 4), options);
  EXPECT_EQ(r.status, TaskStatus::ok);
  EXPECT_EQ(slurp(dir.path() / "r2" / "hhx" / "0" / "7.out"), "7 8 2 hx 4 {other}\n");
}

TEST(CommandsRun, CommandStartingWithDashIsACommand) {
  TempDir dir;
  const CommandResult r = run_command({0, "-x 2>/dev/null; echo after"}, where(0), options_in(dir));
  EXPECT_EQ(r.status, TaskStatus::ok);
  EXPECT_EQ(slurp(dir.path() / "logs" / "0" / "0.out"), "after\n");
}

TEST(CommandsRun, NonzeroExitIsFailed) {
  TempDir dir;
  const CommandResult r = run_command({1, "echo before; exit 3"}, where(1), options_in(dir));
  EXPECT_EQ(r.status, TaskStatus::failed);
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.signal, 0);
}

TEST(CommandsRun, KilledBySignalIsFailedWithTheSignal) {
  TempDir dir;
  const CommandResult r = run_command({2, "kill -9 $$"}, where(2), options_in(dir));
  EXPECT_EQ(r.status, TaskStatus::failed);
  EXPECT_EQ(r.exit_code, -1);
  EXPECT_EQ(r.signal, 9);
}

TEST(CommandsRun, DefaultSignalDispositionsEvenIfIgnoredHere) {
  TempDir dir;
  struct sigaction ignore {
  }, old_pipe{}, old_term{};
  ignore.sa_handler = SIG_IGN;
  sigemptyset(&ignore.sa_mask);
  ::sigaction(SIGPIPE, &ignore, &old_pipe);
  ::sigaction(SIGTERM, &ignore, &old_term);
  sigset_t block, old_mask;
  sigemptyset(&block);
  sigaddset(&block, SIGTERM);
  sigaddset(&block, SIGINT);
  ::pthread_sigmask(SIG_BLOCK, &block, &old_mask);
  // What the command's processes see: nothing blocked, SIGPIPE and SIGTERM not ignored.
  const CommandResult r = run_command(
      {3, "grep -E '^(SigIgn|SigBlk)' /proc/self/status; echo done"}, where(3), options_in(dir));
  ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  ::sigaction(SIGPIPE, &old_pipe, nullptr);
  ::sigaction(SIGTERM, &old_term, nullptr);
  EXPECT_EQ(r.status, TaskStatus::ok);
  const std::string out = slurp(dir.path() / "logs" / "0" / "3.out");
  EXPECT_NE(out.find("SigBlk:\t0000000000000000"), std::string::npos) << out;
  // SIGPIPE (13) and SIGTERM (15) are not ignored: bits 12 and 14 of SigIgn are clear.
  const auto ign = out.find("SigIgn:\t");
  ASSERT_NE(ign, std::string::npos) << out;
  const unsigned long long mask = std::stoull(out.substr(ign + 8, 16), nullptr, 16);
  EXPECT_EQ(mask & (1ull << (SIGPIPE - 1)), 0u) << out;
  EXPECT_EQ(mask & (1ull << (SIGTERM - 1)), 0u) << out;
  EXPECT_NE(out.find("done\n"), std::string::npos) << out;
}

TEST(CommandsRun, TimeoutKillsTheCommand) {
  TempDir dir;
  CommandOptions options = options_in(dir);
  options.timeout_s = 0.3;
  options.kill_grace_s = 1;
  const auto t0 = Clock::now();
  const CommandResult r = run_command({4, "sleep 30"}, where(4), options);
  const double took = seconds_since(t0);
  EXPECT_EQ(r.status, TaskStatus::timed_out);
  EXPECT_EQ(r.exit_code, -1);
  EXPECT_EQ(r.signal, SIGTERM);  // sh dies of the first SIGTERM
  EXPECT_GE(took, 0.29);
  EXPECT_LT(took, 0.3 + 1 + 1.0);
  EXPECT_GE(r.runtime, 0.29);
}

TEST(CommandsRun, TimeoutLeavesNoProcessOfTheGroupBehind) {
  TempDir dir;
  CommandOptions options = options_in(dir);
  options.timeout_s = 0.3;
  options.kill_grace_s = 0.5;
  const std::string child_file = dir.file("child.pid");
  const std::string shell_file = dir.file("shell.pid");
  const CommandResult r = run_command(
      {5, "echo $$ > " + shell_file + "; sleep 300 & echo $! > " + child_file + "; sleep 300"},
      where(5), options);
  EXPECT_EQ(r.status, TaskStatus::timed_out);
  const pid_t shell = read_pid(shell_file);
  const pid_t child = read_pid(child_file);
  ASSERT_GT(shell, 1);
  ASSERT_GT(child, 1);
  EXPECT_TRUE(eventually_gone(child));
  EXPECT_TRUE(group_gone(shell));
}

TEST(CommandsRun, GroupMemberIgnoringTermIsKilledAfterTheShellExits) {
  TempDir dir;
  CommandOptions options = options_in(dir);
  options.timeout_s = 0.3;
  options.kill_grace_s = 0.6;
  const std::string child_file = dir.file("child.pid");
  const std::string shell_file = dir.file("shell.pid");
  // The shell dies of SIGTERM at once; the background subshell ignores it (and so does its
  // sleep) and must be SIGKILLed when the grace period ends.
  const auto t0 = Clock::now();
  const CommandResult r =
      run_command({6, "echo $$ > " + shell_file + "; (trap '' TERM; sleep 300) & echo $! > " +
                          child_file + "; sleep 300"},
                  where(6), options);
  const double took = seconds_since(t0);
  EXPECT_EQ(r.status, TaskStatus::timed_out);
  EXPECT_EQ(r.signal, SIGTERM);
  EXPECT_GE(took, 0.3 + 0.6 - 0.05);
  EXPECT_LT(took, 0.3 + 0.6 + 1.0);
  const pid_t child = read_pid(child_file);
  ASSERT_GT(child, 1);
  EXPECT_TRUE(eventually_gone(child));
  EXPECT_TRUE(group_gone(read_pid(shell_file)));
}

TEST(CommandsRun, CommandTrappingTermIsKilledAfterGrace) {
  TempDir dir;
  CommandOptions options = options_in(dir);
  options.timeout_s = 0.2;
  options.kill_grace_s = 0.5;
  const std::string shell_file = dir.file("shell.pid");
  const auto t0 = Clock::now();
  const CommandResult r =
      run_command({7, "echo $$ > " + shell_file + "; trap '' TERM; sleep 30"}, where(7), options);
  const double took = seconds_since(t0);
  EXPECT_EQ(r.status, TaskStatus::timed_out);
  EXPECT_EQ(r.exit_code, -1);
  EXPECT_EQ(r.signal, SIGKILL);
  EXPECT_GE(took, 0.2 + 0.5 - 0.05);
  EXPECT_LT(took, 0.2 + 0.5 + 1.0);
  EXPECT_TRUE(group_gone(read_pid(shell_file)));
}

TEST(CommandsRun, PollingWithoutPidfd) {
  TempDir dir;
  CommandOptions options = options_in(dir);
  options.use_pidfd = false;  // what kernels before 5.3 get
  const CommandResult ok = run_command({20, "echo polled"}, where(20), options);
  EXPECT_EQ(ok.status, TaskStatus::ok);
  EXPECT_LT(ok.runtime, 1.0);
  EXPECT_EQ(slurp(command_stdout_path(options.logdir, 20)), "polled\n");
  EXPECT_EQ(run_command({21, "exit 4"}, where(21), options).exit_code, 4);

  options.timeout_s = 0.2;
  options.kill_grace_s = 0.3;
  const auto t0 = Clock::now();
  const CommandResult r = run_command({22, "trap '' TERM; sleep 30"}, where(22), options);
  const double took = seconds_since(t0);
  EXPECT_EQ(r.status, TaskStatus::timed_out);
  EXPECT_EQ(r.signal, SIGKILL);
  EXPECT_GE(took, 0.2 + 0.3 - 0.05);
  EXPECT_LT(took, 0.2 + 0.3 + 1.0);
}

TEST(CommandsRun, InterruptFromAnotherThread) {
  TempDir dir;
  CommandOptions options = options_in(dir);
  options.kill_grace_s = 1;
  std::atomic<bool> stop{false};
  options.interrupt = &stop;
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    stop = true;
  });
  const auto t0 = Clock::now();
  const CommandResult r = run_command({8, "sleep 30"}, where(8), options);
  const double took = seconds_since(t0);
  stopper.join();
  EXPECT_EQ(r.status, TaskStatus::interrupted);
  EXPECT_EQ(r.exit_code, -1);
  EXPECT_GE(took, 0.19);
  EXPECT_LT(took, 2.0);

  // Already interrupted: nothing runs, no log is written.
  const CommandResult none = run_command({9, "echo ran"}, where(9), options);
  EXPECT_EQ(none.status, TaskStatus::interrupted);
  EXPECT_FALSE(fs::exists(dir.path() / "logs" / "0" / "9.out"));
}

TEST(CommandsRun, ManyThreadsAtOnce) {
  TempDir dir;
  const CommandOptions options = options_in(dir);
  constexpr int kThreads = 4;
  constexpr int kPerThread = 25;
  std::vector<std::vector<CommandResult>> results(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const std::uint64_t id = static_cast<std::uint64_t>(t) * 1000 + i;
        results[t].push_back(run_command(
            {id, "echo $PARAKIT_TASK_ID $PARAKIT_SLOT; sleep 0.00$((PARAKIT_TASK_ID % 3))"},
            where(id, 0, "h", t + 1), options));
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_EQ(results[t].size(), static_cast<std::size_t>(kPerThread));
    for (int i = 0; i < kPerThread; ++i) {
      const std::uint64_t id = static_cast<std::uint64_t>(t) * 1000 + i;
      EXPECT_EQ(results[t][i].status, TaskStatus::ok) << id;
      EXPECT_EQ(slurp(command_stdout_path(options.logdir, id)),
                std::to_string(id) + " " + std::to_string(t + 1) + "\n");
    }
  }
}

TEST(CommandsRun, ShortCommandsAreNotSlowedDown) {
  TempDir dir;
  const CommandOptions options = options_in(dir);
  const auto t0 = Clock::now();
  constexpr int kRuns = 20;
  for (int i = 0; i < kRuns; ++i) {
    ASSERT_EQ(run_command({static_cast<std::uint64_t>(i), "true"}, where(i), options).status,
              TaskStatus::ok);
  }
  EXPECT_LT(seconds_since(t0) / kRuns, 0.05);
}

TEST(CommandsRun, UnwritableLogdirIsAnInputError) {
  TempDir dir;
  spit(dir.path() / "afile", "x");
  CommandOptions options;
  options.logdir = (dir.path() / "afile" / "logs").string();
  const std::string msg = input_error_of([&] { run_command({1, "true"}, where(1), options); });
  EXPECT_NE(msg.find("cannot create log directory"), std::string::npos) << msg;
}

TEST(CommandsRun, SpawnFailureIsFailed127) {
  TempDir dir;
  // Longer than one exec argument may be: posix_spawn fails with E2BIG.
  const std::string command = "echo " + std::string(200 * 1024, 'q');
  const CommandResult r = run_command({11, command}, where(11), options_in(dir));
  EXPECT_EQ(r.status, TaskStatus::failed);
  EXPECT_EQ(r.exit_code, 127);
  const std::string err = slurp(dir.path() / "logs" / "0" / "11.err");
  EXPECT_NE(err.find("cannot run /bin/sh"), std::string::npos) << err;
}

// ---- joblog ---------------------------------------------------------------------------------

std::vector<std::string> split_tabs(const std::string& line) {
  std::vector<std::string> fields;
  std::size_t start = 0;
  for (;;) {
    const auto tab = line.find('\t', start);
    fields.push_back(line.substr(start, tab - start));
    if (tab == std::string::npos) return fields;
    start = tab + 1;
  }
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

CommandResult sample_result() {
  CommandResult r;
  r.status = TaskStatus::ok;
  r.exit_code = 0;
  r.start_time = 1700000000.12345;
  r.runtime = 1.23456;
  r.host = "node1";
  r.rank = 2;
  r.slot = 3;
  r.command_hash = 42;
  return r;
}

TEST(CommandsJobLog, LineFormatMatchesGnuParallel) {
  const CommandTask task{9, "echo {#} {host}\tx"};
  CommandResult r = sample_result();
  EXPECT_EQ(joblog_line(task, r),
            "10\tnode1\t1700000000.123\t     1.234\t0\t0\t0\t0\techo 10 node1\tx\n");
  r.status = TaskStatus::failed;
  r.exit_code = 3;
  EXPECT_EQ(split_tabs(joblog_line(task, r))[6], "3");
  r.exit_code = -1;
  r.signal = 9;
  EXPECT_EQ(split_tabs(joblog_line(task, r))[6], "137");
  EXPECT_EQ(split_tabs(joblog_line(task, r))[7], "9");
  r.status = TaskStatus::timed_out;
  r.signal = 15;
  EXPECT_EQ(split_tabs(joblog_line(task, r))[6], "-1");
  EXPECT_EQ(split_tabs(joblog_line(task, r))[7], "15");
  r.runtime = 12345.6789;
  EXPECT_EQ(split_tabs(joblog_line(task, r))[3], " 12345.678");
  r.runtime = 0.0029999999;
  EXPECT_EQ(split_tabs(joblog_line(task, r))[3], "     0.003");
}

TEST(CommandsJobLog, WritesHeaderAndParsableLinesAndAppends) {
  TempDir dir;
  const std::string path = dir.file("joblog.tsv");
  {
    JobLog log(path, false);
    EXPECT_EQ(log.path(), path);
    log.add({0, "echo a"}, sample_result());
    CommandResult failed = sample_result();
    failed.status = TaskStatus::failed;
    failed.exit_code = 2;
    log.add({4, "exit 2"}, failed);
  }
  std::vector<std::string> lines = lines_of(slurp(path));
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0], std::string(kJobLogHeader));
  EXPECT_EQ(split_tabs(lines[0]).size(), 9u);
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const auto fields = split_tabs(lines[i]);
    ASSERT_EQ(fields.size(), 9u) << lines[i];
    EXPECT_GT(std::stoull(fields[0]), 0u);
    EXPECT_EQ(fields[1], "node1");
    EXPECT_NEAR(std::stod(fields[2]), 1700000000.123, 1e-3);
    EXPECT_EQ(fields[3].size(), 10u);
    EXPECT_NEAR(std::stod(fields[3]), 1.234, 1e-9);
    EXPECT_EQ(fields[4], "0");
    EXPECT_EQ(fields[5], "0");
  }
  EXPECT_EQ(split_tabs(lines[1])[0], "1");
  EXPECT_EQ(split_tabs(lines[1])[8], "echo a");
  EXPECT_EQ(split_tabs(lines[2])[0], "5");
  EXPECT_EQ(split_tabs(lines[2])[6], "2");

  {
    JobLog log(path, true);  // --resume: no second header
    log.add({7, "echo c"}, sample_result());
  }
  lines = lines_of(slurp(path));
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(split_tabs(lines[3])[0], "8");
  int headers = 0;
  for (const auto& l : lines) headers += l == std::string(kJobLogHeader);
  EXPECT_EQ(headers, 1);

  {
    JobLog log(path, false);  // not appending: truncated, fresh header
  }
  EXPECT_EQ(slurp(path), std::string(kJobLogHeader) + "\n");
}

TEST(CommandsJobLog, AppendToNewOrTornFile) {
  TempDir dir;
  const std::string fresh = dir.file("fresh.tsv");
  { JobLog log(fresh, true); }
  EXPECT_EQ(slurp(fresh), std::string(kJobLogHeader) + "\n");

  const std::string torn = dir.file("torn.tsv");
  spit(torn, std::string(kJobLogHeader) + "\n1\tnode1\t17000");
  {
    JobLog log(torn, true);
    log.add({1, "echo b"}, sample_result());
  }
  const auto lines = lines_of(slurp(torn));
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[1], "1\tnode1\t17000");
  EXPECT_EQ(split_tabs(lines[2]).size(), 9u);

  const std::string msg =
      input_error_of([&] { JobLog log((dir.path() / "no" / "such" / "dir.tsv").string(), false); });
  EXPECT_NE(msg.find("cannot open joblog"), std::string::npos) << msg;
}

// ---- serialization --------------------------------------------------------------------------

TEST(CommandsSerialization, TaskAndResultRoundTrip) {
  CommandTask task{123456789012ull, "echo 'hi there' | tr a-z A-Z"};
  CommandResult result = sample_result();
  result.status = TaskStatus::timed_out;
  result.exit_code = -1;
  result.signal = 15;
  std::stringstream buffer;
  {
    boost::archive::binary_oarchive out(buffer);
    out << task << result;
  }
  CommandTask task2;
  CommandResult result2;
  {
    boost::archive::binary_iarchive in(buffer);
    in >> task2 >> result2;
  }
  EXPECT_EQ(task2.id, task.id);
  EXPECT_EQ(task2.command, task.command);
  EXPECT_EQ(result2.status, result.status);
  EXPECT_EQ(result2.exit_code, result.exit_code);
  EXPECT_EQ(result2.signal, result.signal);
  EXPECT_EQ(result2.start_time, result.start_time);
  EXPECT_EQ(result2.runtime, result.runtime);
  EXPECT_EQ(result2.host, result.host);
  EXPECT_EQ(result2.rank, result.rank);
  EXPECT_EQ(result2.slot, result.slot);
  EXPECT_EQ(result2.command_hash, result.command_hash);
  EXPECT_EQ(to_string(result2.status), "timed_out");
}

}  // namespace
