// The kde workload on every backend: one body, run under mpiexec at 1-4 ranks and on threads
// at 1, 2, 3 and 8. Each result must equal, bit for bit, the same run on a serial team in
// this process (counts, densities, CV curves and chosen widths, for every kernel).
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "parakit/backend/collective.hpp"
#include "parakit/workloads/kde.hpp"
#include "parakit_test.hpp"

namespace parakit {
namespace {

using testing::team;
using workloads::KdeOptions;
using workloads::KdeResult;

KdeResult serial_run(const KdeOptions& options) {
  Team serial(BackendKind::serial, Comm::self(), 1);
  return workloads::run_kde(serial, options);
}

/// Bitwise equality of doubles (so -0.0 != 0.0 and NaN == NaN with the same payload).
void expect_same_bits(const std::vector<double>& a, const std::vector<double>& b) {
  ASSERT_EQ(a.size(), b.size());
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(double)), 0);
}

void expect_same(const KdeOptions& options) {
  const KdeResult got = workloads::run_kde(team(), options);
  const KdeResult want = serial_run(options);
  expect_same_bits(got.widths, want.widths);
  if (got.cv || want.cv) {
    ASSERT_TRUE(got.cv && want.cv);
    expect_same_bits(got.cv->score, want.cv->score);
    EXPECT_EQ(got.cv->best, want.cv->best);
    EXPECT_EQ(got.cv->lonely, want.cv->lonely);
  }
  if (team().rank() != 0) return;  // densities and counts are gathered on rank 0
  EXPECT_EQ(got.point_count, want.point_count);
  EXPECT_EQ(got.counts, want.counts);
  expect_same_bits(got.density, want.density);
}

TEST(KdeWorkload, SeedDefaultCountsEverywhere) {
  const KdeOptions options;  // 10000 2-D numpy(123) samples, origin, 1.0:1.2:100
  const KdeResult result = workloads::run_kde(team(), options);
  if (team().rank() == 0) {
    ASSERT_EQ(result.counts.size(), 100u);
    EXPECT_EQ(result.counts.front(), 1445u);
    EXPECT_EQ(result.counts.back(), 2022u);
  }
  expect_same(options);
}

TEST(KdeWorkload, HypercubeGridAndNaive) {
  KdeOptions options;
  options.samples = 3000;
  options.grid = workloads::parse_grid("23x17");
  options.widths = {0.1, 0.35, 0.6, 1.5};
  expect_same(options);
  options.algo = workloads::KdeAlgo::naive;
  expect_same(options);
}

TEST(KdeWorkload, SmoothKernelsAreBitwiseToo) {
  for (const auto kernel : {kde::Kernel::gaussian, kde::Kernel::epanechnikov}) {
    KdeOptions options;
    options.kernel = kernel;
    options.samples = 9000;  // several row chunks for the single point
    options.widths = {0.2, 0.7};
    expect_same(options);
    options.samples = 500;
    options.grid = workloads::parse_grid("9x11");
    expect_same(options);
  }
}

TEST(KdeWorkload, CrossValidationCurvesAndChoices) {
  KdeOptions options;
  options.samples = 1200;
  options.rng = workloads::SampleRng::philox;
  options.widths = workloads::parse_widths("0.02:1.0:15");
  for (const auto method : {kde::CvMethod::loglik, kde::CvMethod::lsq}) {
    options.cv = method;
    expect_same(options);
  }
  options.kernel = kde::Kernel::gaussian;
  options.samples = 300;
  options.dim = 3;
  for (const auto method : {kde::CvMethod::loglik, kde::CvMethod::lsq}) {
    options.cv = method;
    expect_same(options);
  }
}

TEST(KdeWorkload, CrossValidationNeverChoosesMinusInfinity) {
  KdeOptions options;
  options.samples = 200;
  options.widths = {1e-6, 2.0, 4.0};  // n = 200: 2.0 and 4.0 leave no sample alone
  options.cv = kde::CvMethod::loglik;
  const KdeResult result = workloads::run_kde(team(), options);
  ASSERT_TRUE(result.cv);
  EXPECT_EQ(result.cv->score[0], -std::numeric_limits<double>::infinity());
  ASSERT_TRUE(result.cv->best);
  EXPECT_NE(*result.cv->best, 0u);
}

TEST(KdeWorkload, BadInputFailsOnEveryRankTogether) {
  KdeOptions options;
  options.points = {0.0, 0.0, 0.0};
  options.point_dim = 3;
  options.points_source = "--point";
  try {
    workloads::run_kde(team(), options);
    FAIL() << "expected an error";
  } catch (const AgreedError& error) {
    EXPECT_NE(std::string(error.what()).find("--point has 3 coordinates"), std::string::npos)
        << error.what();
    EXPECT_EQ(error.exit_code(), kExitUsage);
  }
  KdeOptions zero;
  zero.samples = 100;
  zero.input = "/nonexistent/samples.csv";
  EXPECT_THROW(workloads::run_kde(team(), zero), AgreedError);
}

}  // namespace
}  // namespace parakit
