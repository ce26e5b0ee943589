// The systems layer: owned descriptors, whole-buffer I/O, directory fsync, errno text, and a
// subprocess in its own group with a deadline, a stop flag and a kill grace.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "parakit/sys/error_text.hpp"
#include "parakit/sys/file_io.hpp"
#include "parakit/sys/subprocess.hpp"
#include "parakit/sys/unique_fd.hpp"

namespace {

namespace fs = std::filesystem;
using namespace parakit::sys;
using Clock = std::chrono::steady_clock;

class SysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = (fs::temp_directory_path() / "parakit-sys-XXXXXX").string();
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    dir_ = templ;
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  fs::path dir_;
};

bool is_open(int fd) {
  return ::fcntl(fd, F_GETFD) != -1;
}

TEST_F(SysTest, UniqueFdClosesOnScopeExitAndMoves) {
  int raw = -1;
  {
    UniqueFd a = open_fd(path("f"), O_WRONLY | O_CREAT, 0600);
    ASSERT_TRUE(a);
    raw = a.get();
    EXPECT_TRUE(::fcntl(raw, F_GETFD) & FD_CLOEXEC) << "open_fd adds O_CLOEXEC";
    UniqueFd b(std::move(a));
    EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move): the moved-from state is specified
    EXPECT_EQ(b.get(), raw);
    UniqueFd c;
    c = std::move(b);
    EXPECT_TRUE(is_open(raw));
  }
  EXPECT_FALSE(is_open(raw));
}

TEST_F(SysTest, UniqueFdReleaseAndClose) {
  UniqueFd a = open_fd(path("f"), O_WRONLY | O_CREAT, 0600);
  const int raw = a.release();
  EXPECT_FALSE(a);
  EXPECT_TRUE(is_open(raw));
  a.reset(raw);
  EXPECT_EQ(a.close(), 0);
  EXPECT_FALSE(a);
  EXPECT_FALSE(is_open(raw));
  EXPECT_EQ(a.close(), 0) << "closing nothing is fine";
}

TEST_F(SysTest, OpenFdFailureSetsErrno) {
  errno = 0;
  const UniqueFd fd = open_fd(path("missing/x"), O_RDONLY);
  EXPECT_FALSE(fd);
  EXPECT_EQ(errno, ENOENT);
  EXPECT_EQ(errno_text(ENOENT), "No such file or directory");
}

TEST_F(SysTest, OpenAboveStdioNeverReturnsZeroToTwo) {
  // Close stdin in a child so the next open would take descriptor 0.
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(0);
    const UniqueFd fd = open_fd_above_stdio("/dev/null", O_RDONLY);
    ::_exit(fd && fd.get() > 2 && (::fcntl(fd.get(), F_GETFD) & FD_CLOEXEC) ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST_F(SysTest, WriteAllAndPreadAllRoundTrip) {
  std::vector<std::byte> data(3 * 65536 + 17);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::byte>(i * 7);
  {
    const UniqueFd out = open_fd(path("data"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ASSERT_EQ(write_all(out.get(), data), 0);
    ASSERT_EQ(write_all(out.get(), std::string_view("tail")), 0);
  }
  const UniqueFd in = open_fd(path("data"), O_RDONLY);
  std::vector<std::byte> back(data.size());
  const ReadResult whole = pread_all(in.get(), back, 0);
  EXPECT_EQ(whole.error, 0);
  EXPECT_EQ(whole.bytes, data.size());
  EXPECT_EQ(back, data);
  std::vector<std::byte> past(100);
  const ReadResult end = pread_all(in.get(), past, data.size());
  EXPECT_EQ(end.bytes, 4u) << "stops at the end of the file";
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(past.data()), 4), "tail");
}

TEST_F(SysTest, WriteAllThroughAPipeInPieces) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  UniqueFd read_end(fds[0]);
  UniqueFd write_end(fds[1]);
  const std::string text(1 << 20, 'x');  // more than a pipe holds: write() goes in pieces
  std::string got;
  std::thread reader([&] {
    char buf[4096];
    ssize_t n;
    while ((n = ::read(read_end.get(), buf, sizeof buf)) > 0) got.append(buf, n);
  });
  EXPECT_EQ(write_all(write_end.get(), text), 0);
  write_end.reset();
  reader.join();
  EXPECT_EQ(got, text);
}

TEST_F(SysTest, WriteAllReportsTheErrno) {
  const UniqueFd ro = open_fd(path("ro"), O_RDONLY | O_CREAT, 0600);
  EXPECT_EQ(write_all(ro.get(), std::string_view("x")), EBADF);
  std::vector<std::byte> buf(8);
  const UniqueFd dir = open_fd(dir_.string(), O_RDONLY | O_DIRECTORY);
  EXPECT_EQ(pread_all(dir.get(), buf, 0).error, EISDIR);
}

TEST_F(SysTest, ParentDirectoryAndFsyncParent) {
  EXPECT_EQ(parent_directory("file"), ".");
  EXPECT_EQ(parent_directory("/file"), "/");
  EXPECT_EQ(parent_directory("a/b/c"), "a/b");
  EXPECT_EQ(parent_directory("/a/b"), "/a");
  EXPECT_EQ(fsync_parent(path("anything")), 0);
  EXPECT_EQ(fsync_parent(path("missing/x")), ENOENT);
}

// ---- Subprocess ------------------------------------------------------------------------------

struct Stdio {
  UniqueFd in = open_fd_above_stdio("/dev/null", O_RDONLY);
  UniqueFd out;
  UniqueFd err;
  Stdio(const std::string& out_path, const std::string& err_path)
      : out(open_fd_above_stdio(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600)),
        err(open_fd_above_stdio(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) {}
};

SpawnOptions shell(const std::string& command, const Stdio& stdio) {
  SpawnOptions options;
  options.argv = {"/bin/sh", "-c", command};
  options.environment = {"PATH=/usr/bin:/bin", "GREETING=hello"};
  options.stdin_fd = stdio.in.get();
  options.stdout_fd = stdio.out.get();
  options.stderr_fd = stdio.err.get();
  return options;
}

std::string slurp(const std::string& p) {
  std::string text;
  const UniqueFd fd = open_fd(p, O_RDONLY);
  if (!fd) return text;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd.get(), buf, sizeof buf)) > 0) text.append(buf, n);
  return text;
}

bool alive(pid_t pid) {
  return ::kill(pid, 0) == 0;
}

/// Alive and not a zombie (an orphan's zombie waits for init, which may be slow to reap it).
bool running(pid_t pid) {
  const std::string stat = slurp("/proc/" + std::to_string(pid) + "/stat");
  const auto paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] != 'Z';
}

TEST_F(SysTest, SubprocessRunsWithItsEnvironmentStdioAndGroup) {
  const Stdio stdio(path("out"), path("err"));
  Subprocess child(shell("echo $GREETING; echo oops >&2; ps -o pgid= -p $$; exit 3", stdio));
  const ExitInfo info = child.wait({});
  EXPECT_EQ(info.ending, ExitInfo::Ending::exited);
  EXPECT_TRUE(info.exited_normally());
  EXPECT_EQ(info.exit_code(), 3);
  EXPECT_EQ(info.signal(), 0);
  EXPECT_GE(info.seconds, 0.0);
  const std::string out = slurp(path("out"));
  EXPECT_EQ(out.substr(0, 6), "hello\n");
  EXPECT_EQ(std::stol(out.substr(6)), child.pid()) << "the child leads its own process group";
  EXPECT_EQ(slurp(path("err")), "oops\n");
}

TEST_F(SysTest, SubprocessThatCannotStartThrowsSystemError) {
  const Stdio stdio(path("out"), path("err"));
  SpawnOptions options = shell("true", stdio);
  options.argv = {path("no-such-program")};
  try {
    Subprocess child(options);
    FAIL() << "spawned a missing program";
  } catch (const std::system_error& error) {
    EXPECT_EQ(error.code().value(), ENOENT);
  }
}

TEST_F(SysTest, SubprocessDeadlineKillsTheWholeGroup) {
  for (const bool pidfd : {true, false}) {
    const Stdio stdio(path("out"), path("err"));
    // The shell ignores TERM and leaves a grandchild behind: both must be gone afterwards.
    Subprocess child(shell("trap '' TERM; sleep 30 & echo $!; wait", stdio));
    WaitLimits limits;
    limits.deadline = Clock::now() + std::chrono::milliseconds(300);
    limits.kill_grace_s = 0.2;
    limits.use_pidfd = pidfd;
    const auto start = Clock::now();
    const ExitInfo info = child.wait(limits);
    const double took = std::chrono::duration<double>(Clock::now() - start).count();
    EXPECT_EQ(info.ending, ExitInfo::Ending::timed_out) << "pidfd " << pidfd;
    EXPECT_EQ(info.signal(), SIGKILL) << "TERM was ignored, so KILL ended it";
    EXPECT_LT(took, 10.0) << "deadline 0.3 s + grace 0.2 s took " << took << " s";
    const pid_t grandchild = static_cast<pid_t>(std::stol(slurp(path("out"))));
    EXPECT_FALSE(running(grandchild)) << "the grandchild outlived the group kill";
  }
}

TEST_F(SysTest, SubprocessStopFlagEndsItWithTerm) {
  const Stdio stdio(path("out"), path("err"));
  std::atomic<bool> stop{false};
  Subprocess child(shell("sleep 30", stdio));
  WaitLimits limits;
  limits.stop = &stop;
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    stop = true;
  });
  const ExitInfo info = child.wait(limits);
  stopper.join();
  EXPECT_EQ(info.ending, ExitInfo::Ending::stopped);
  EXPECT_EQ(info.signal(), SIGTERM);
  EXPECT_LT(info.seconds, 10.0) << "the stop took " << info.seconds << " s";
}

TEST_F(SysTest, SubprocessNotWaitedForIsKilledAndReaped) {
  pid_t pid = -1;
  {
    const Stdio stdio(path("out"), path("err"));
    Subprocess child(shell("sleep 30", stdio));
    pid = child.pid();
    EXPECT_TRUE(alive(pid));
  }
  errno = 0;
  EXPECT_FALSE(alive(pid));
  EXPECT_EQ(errno, ESRCH) << "killed and reaped, not a zombie";
}

}  // namespace
