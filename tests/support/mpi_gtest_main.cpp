// Rank-aware GoogleTest main. Usage: <test> [--backend mpi|threads|serial] [--threads N] [gtest
// flags] Every rank runs every test; rank 0 prints the usual report, other ranks print only their
// failures, tagged with the rank. The exit status is the OR over all ranks, so mpiexec's
// status is the truth (77 when every test skipped on every rank, under the skip policy).
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "parakit_test.hpp"
#include "skip_policy.hpp"

namespace parakit::testing {
namespace {

std::unique_ptr<Environment> g_environment;
std::unique_ptr<Team> g_team;

class RankFailurePrinter : public ::testing::EmptyTestEventListener {
 public:
  explicit RankFailurePrinter(int rank) : rank_(rank) {}
  void OnTestPartResult(const ::testing::TestPartResult& result) override {
    if (result.failed()) {
      std::fprintf(stderr, "[rank %d] %s:%d: Failure\n%s\n", rank_,
                   result.file_name() ? result.file_name() : "?", result.line_number(),
                   result.summary());
    }
  }

 private:
  int rank_;
};

}  // namespace

Team& team() {
  return *g_team;
}
const Environment& environment() {
  return *g_environment;
}
std::string shared_temp_path(const std::string& stem) {
  std::string path = "/tmp/parakit-test-" + std::to_string(getpid()) + "-" + stem;
  return team().comm().broadcast(path, 0);
}

}  // namespace parakit::testing

int main(int argc, char** argv) {
  namespace pt = parakit::testing;
  using parakit::Comm;
  parakit::RuntimeOptions options;
  std::vector<char*> rest{argv[0]};
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--backend") == 0 && i + 1 < argc) {
      options.backend = argv[++i];
    } else if (std::strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
      options.threads = std::stoi(argv[++i]);
    } else {
      rest.push_back(argv[i]);
    }
  }
  int rest_argc = static_cast<int>(rest.size());
  ::testing::InitGoogleTest(&rest_argc, rest.data());

  pt::g_environment = std::make_unique<parakit::Environment>(options);
  pt::g_team = std::make_unique<parakit::Team>(pt::g_environment->make_team());
  const Comm& comm = pt::g_team->comm();
  std::printf("[parakit] backend %s, %d ranks x %d threads\n",
              std::string(parakit::to_string(pt::g_team->kind())).c_str(), comm.size(),
              pt::g_team->threads());

  auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
  if (comm.rank() != 0) {
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new pt::RankFailurePrinter(comm.rank()));
  }
  pt::install_skip_policy();
  const int local = pt::apply_skip_policy(RUN_ALL_TESTS());
  // Any rank's failure fails the job; "all skipped" only when it is so on every rank.
  const bool failed_here = local != 0 && local != pt::kSkippedAll;
  const int failed = comm.all_reduce(failed_here ? 1 : 0, parakit::ops::max{});
  const int all_skipped = comm.all_reduce(local == pt::kSkippedAll ? 1 : 0, parakit::ops::min{});
  const int global = failed != 0 ? 1 : (all_skipped != 0 ? pt::kSkippedAll : 0);
  pt::g_team.reset();
  pt::g_environment.reset();
  return global;
}
