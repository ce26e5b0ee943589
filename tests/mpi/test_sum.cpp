// The sum workload on every backend: one body, run under mpiexec at 1-4 ranks and on threads
// at 1, 2, 3 and 8. Expected values are recomputed serially on every rank.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "parakit/backend/collective.hpp"
#include "parakit/data/generate.hpp"
#include "parakit/io/array_file.hpp"
#include "parakit/numeric/exact_sum.hpp"
#include "parakit/workloads/sum.hpp"
#include "parakit_test.hpp"

namespace parakit {
namespace {

using testing::shared_temp_path;
using testing::team;
using workloads::SumMode;
using workloads::SumOptions;

double serial_exact(data::Dist dist, std::uint64_t seed, std::uint64_t n) {
  std::vector<double> all(n);
  data::generate(dist, seed, 0, all);
  return numeric::exact_sum(std::span<const double>(all));
}

TEST(SumWorkload, OnesGiveN) {
  for (std::uint64_t n : {0ULL, 1ULL, 3ULL, 100003ULL}) {
    for (SumMode mode : {SumMode::fast, SumMode::exact}) {
      SumOptions options;
      options.mode = mode;
      options.n = n;
      options.dist = data::Dist::ones;
      const auto result = workloads::run_sum(team(), options);
      EXPECT_EQ(result.sum, static_cast<double>(n));
      EXPECT_EQ(result.n, n);
      EXPECT_GE(result.seconds, 0.0);
    }
  }
}

TEST(SumWorkload, ExactMatchesSerialReferenceBitwise) {
  for (auto dist : {data::Dist::uniform, data::Dist::normal, data::Dist::cancel}) {
    for (std::uint64_t n : {1ULL, 4097ULL, 250001ULL}) {
      SumOptions options;
      options.mode = SumMode::exact;
      options.n = n;
      options.dist = dist;
      options.seed = 42;
      const double got = workloads::run_sum(team(), options).sum;
      const double want = serial_exact(dist, 42, n);
      EXPECT_EQ(std::bit_cast<std::uint64_t>(got), std::bit_cast<std::uint64_t>(want))
          << data::to_string(dist) << " n=" << n << " got " << got << " want " << want;
    }
  }
}

TEST(SumWorkload, FastWithinRoundingBound) {
  const std::uint64_t n = 300007;
  for (auto dist : {data::Dist::uniform, data::Dist::normal}) {
    SumOptions options;
    options.n = n;
    options.dist = dist;
    const double fast = workloads::run_sum(team(), options).sum;
    std::vector<double> all(n);
    data::generate(dist, options.seed, 0, all);
    double abs_sum = 0;
    for (double x : all) abs_sum += std::fabs(x);
    const double exact = numeric::exact_sum(std::span<const double>(all));
    EXPECT_LE(std::fabs(fast - exact), static_cast<double>(n) * 0x1p-53 * abs_sum);
  }
}

TEST(SumWorkload, ReadsFilesInRanges) {
  const std::string path = shared_temp_path("values.npy");
  std::vector<double> values(123457);
  data::generate(data::Dist::cancel, 3, 0, values);
  if (team().rank() == 0) io::write_npy(path, values, {values.size()});
  team().comm().barrier();
  SumOptions options;
  options.mode = SumMode::exact;
  options.input = path;
  const auto result = workloads::run_sum(team(), options);
  EXPECT_TRUE(result.from_file);
  EXPECT_EQ(result.n, values.size());
  EXPECT_EQ(result.sum, numeric::exact_sum(std::span<const double>(values)));
  team().comm().barrier();
  if (team().rank() == 0) std::remove(path.c_str());
}

TEST(SumWorkload, BadFileIsAnErrorOnEveryRank) {
  const std::string path = shared_temp_path("truncated.npy");
  if (team().rank() == 0) {
    std::vector<double> values(1000, 1.0);
    io::write_npy(path, values, {values.size()});
    truncate(path.c_str(), 200);
  }
  team().comm().barrier();
  SumOptions options;
  options.input = path;
  try {
    workloads::run_sum(team(), options);
    ADD_FAILURE() << "expected an error";
  } catch (const AgreedError& e) {
    EXPECT_EQ(e.exit_code(), kExitUsage);
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  options.input = path + ".missing";
  EXPECT_THROW(workloads::run_sum(team(), options), AgreedError);
  team().comm().barrier();
  if (team().rank() == 0) std::remove(path.c_str());
}

TEST(SumWorkload, TooLargeIsRefusedBeforeAllocating) {
  SumOptions options;
  options.n = std::uint64_t{1} << 50;  // 8 PiB
  EXPECT_THROW(workloads::run_sum(team(), options), AgreedError);
}

}  // namespace
}  // namespace parakit
