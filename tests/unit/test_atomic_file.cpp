// Tests for AtomicFile: all-or-nothing output files.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "as_another_user.hpp"
#include "parakit/core/error.hpp"
#include "parakit/io/atomic_file.hpp"

namespace {

namespace fs = std::filesystem;
using parakit::io::AtomicFile;

/// A fresh directory under TMPDIR, removed with its contents at scope exit.
class TempDir {
 public:
  TempDir() {
    std::string templ = (fs::temp_directory_path() / "parakit-atomic-XXXXXX").string();
    if (::mkdtemp(templ.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = templ;
  }
  ~TempDir() {
    std::error_code ec;
    fs::permissions(path_, fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }
  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(path_)) names.push_back(e.path().filename());
    return names;
  }

 private:
  fs::path path_;
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(AtomicFile, CommitCreatesFileWithContent) {
  TempDir dir;
  const std::string target = (dir.path() / "out.txt").string();
  {
    AtomicFile f(target);
    EXPECT_EQ(f.path(), target);
    EXPECT_EQ(f.temp_path().rfind(target + ".tmp.", 0), 0u) << f.temp_path();
    EXPECT_TRUE(fs::exists(f.temp_path()));
    EXPECT_FALSE(fs::exists(target));
    f.write("hello ");
    f.write(std::string_view("world\n"));
    EXPECT_EQ(f.size(), 12u);
    f.commit();
    EXPECT_THROW(f.write("more"), parakit::InternalError);
    EXPECT_THROW(f.commit(), parakit::InternalError);
  }
  EXPECT_EQ(slurp(target), "hello world\n");
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"out.txt"});
}

TEST(AtomicFile, CommitReplacesExistingFile) {
  TempDir dir;
  const std::string target = (dir.path() / "out.txt").string();
  parakit::io::write_file_atomic(target, "old contents, longer than the new ones");
  {
    AtomicFile f(target);
    f.write("new");
    EXPECT_EQ(slurp(target), "old contents, longer than the new ones");  // untouched until commit
    f.commit();
  }
  EXPECT_EQ(slurp(target), "new");
  EXPECT_EQ(dir.entries().size(), 1u);
}

TEST(AtomicFile, NoCommitLeavesNoFileAndNoTemp) {
  TempDir dir;
  const std::string target = (dir.path() / "out.bin").string();
  {
    AtomicFile f(target);
    f.write("partial");
  }
  EXPECT_FALSE(fs::exists(target));
  EXPECT_TRUE(dir.entries().empty());

  // An existing target survives an abandoned rewrite.
  parakit::io::write_file_atomic(target, "keep");
  {
    AtomicFile f(target);
    f.write("discard");
  }
  EXPECT_EQ(slurp(target), "keep");
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"out.bin"});
}

TEST(AtomicFile, WriteFileAtomicEmptyContent) {
  TempDir dir;
  const std::string target = (dir.path() / "empty").string();
  parakit::io::write_file_atomic(target, "");
  EXPECT_TRUE(fs::exists(target));
  EXPECT_EQ(fs::file_size(target), 0u);
}

TEST(AtomicFile, MissingDirectoryThrowsInputError) {
  TempDir dir;
  const std::string target = (dir.path() / "no-such-dir" / "out.txt").string();
  try {
    AtomicFile f(target);
    ADD_FAILURE() << "created a file in a missing directory";
  } catch (const parakit::InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(target), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
  EXPECT_THROW(parakit::io::write_file_atomic(target, "x"), parakit::InputError);
}

/// Tries write_file_atomic(target) and returns 0 if it threw an InputError naming
/// target, 1 if it succeeded, 2 for any other outcome.
int try_write_expecting_input_error(const std::string& target) {
  try {
    parakit::io::write_file_atomic(target, "x");
    return 1;
  } catch (const parakit::InputError& e) {
    return std::string(e.what()).find(target) != std::string::npos ? 0 : 2;
  } catch (...) {
    return 2;
  }
}

TEST(AtomicFile, UnwritableDirectoryThrowsInputError) {
  TempDir dir;
  const fs::path ro = dir.path() / "readonly";
  fs::create_directory(ro);
  fs::permissions(ro,
                  fs::perms::owner_read | fs::perms::owner_exec | fs::perms::group_read |
                      fs::perms::group_exec | fs::perms::others_read | fs::perms::others_exec,
                  fs::perm_options::replace);
  fs::permissions(dir.path(), fs::perms::others_exec | fs::perms::group_exec,
                  fs::perm_options::add);
  const std::string target = (ro / "out.txt").string();
  // Root ignores directory permissions: as root this runs in a child that drops to "nobody".
  const int status =
      parakit::testing::run_unprivileged([&] { return try_write_expecting_input_error(target); });
  ASSERT_NE(status, parakit::testing::kCannotDropPrivileges) << "could not drop to nobody";
  EXPECT_EQ(status, 0) << "1: the write succeeded; 2: another outcome than an InputError";
  fs::permissions(ro, fs::perms::owner_all);
  EXPECT_TRUE(fs::is_empty(ro));
}

TEST(AtomicFile, TargetIsDirectoryThrowsOnCommit) {
  TempDir dir;
  const fs::path sub = dir.path() / "sub";
  fs::create_directory(sub);
  fs::create_directory(sub / "occupied");  // rename over a non-empty directory fails
  {
    AtomicFile f(sub.string());
    f.write("x");
    try {
      f.commit();
      ADD_FAILURE() << "replaced a directory";
    } catch (const parakit::InputError& e) {
      EXPECT_NE(std::string(e.what()).find(sub.string()), std::string::npos) << e.what();
    }
  }
  EXPECT_TRUE(fs::is_directory(sub));
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"sub"});  // temp removed
}

// A write error (here EFBIG from RLIMIT_FSIZE, standing in for ENOSPC) throws
// InputError naming the target, and the temp file is cleaned up.
TEST(AtomicFile, WriteFailureThrowsInputError) {
  TempDir dir;
  const std::string target = (dir.path() / "big.bin").string();
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
  auto* old_handler = std::signal(SIGXFSZ, SIG_IGN);
  rlimit small = saved;
  small.rlim_cur = 4096;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  std::string error;
  try {
    AtomicFile f(target);
    f.write(std::string(100000, 'x'));
    f.commit();
  } catch (const parakit::InputError& e) {
    error = e.what();
  }
  ::setrlimit(RLIMIT_FSIZE, &saved);
  std::signal(SIGXFSZ, old_handler);
  EXPECT_NE(error.find(target), std::string::npos) << error;
  EXPECT_NE(error.find("write failed"), std::string::npos) << error;
  EXPECT_TRUE(dir.entries().empty());
}

}  // namespace
