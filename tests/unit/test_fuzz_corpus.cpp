// Every input of the fuzzers' seed corpus and every saved crash (fuzz/regressions/<target>/)
// through the fuzz targets' own bodies, in the normal build (and under ASan/UBSan in
// ./run.sh sanitize): a crash found once by scripts/fuzz stays a test.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "targets.hpp"

namespace {

namespace fs = std::filesystem;

std::vector<fs::path> inputs(const std::string& target) {
  std::vector<fs::path> files;
  for (const char* kind : {"corpus", "regressions"}) {
    const fs::path dir = fs::path(PARAKIT_FUZZ_DIR) / kind / target;
    if (!fs::is_directory(dir)) continue;
    for (const auto& entry : fs::directory_iterator(dir)) {
      if (entry.is_regular_file()) files.push_back(entry.path());
    }
  }
  return files;
}

template <class F>
std::size_t replay(const std::string& target, F&& body) {
  std::size_t count = 0;
  for (const auto& path : inputs(target)) {
    std::ifstream in(path, std::ios::binary);
    const std::vector<char> bytes{std::istreambuf_iterator<char>(in), {}};
    SCOPED_TRACE(path.string());
    body(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    ++count;
  }
  parakit::fuzz::remove_scratch_files();
  return count;
}

TEST(FuzzCorpus, EveryTargetReplaysItsInputs) {
  EXPECT_GE(replay("csv", parakit::fuzz::fuzz_csv), 3u);
  EXPECT_GE(replay("npy", parakit::fuzz::fuzz_npy), 3u);
  EXPECT_GE(replay("csv_shards", parakit::fuzz::fuzz_csv_shards), 3u);
  EXPECT_GE(replay("journal", parakit::fuzz::fuzz_journal), 1u);
  EXPECT_GE(replay("commands", parakit::fuzz::fuzz_commands), 1u);
  EXPECT_GE(replay("specs", parakit::fuzz::fuzz_specs), 10u);
}

}  // namespace
