#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "parakit/core/error.hpp"
#include "parakit/core/fault.hpp"
#include "parakit/core/parse.hpp"
#include "parakit/core/partition.hpp"
#include "parakit/core/system.hpp"
#include "parakit/core/timer.hpp"
#include "parakit/patterns/detail/backoff.hpp"
#include "parakit/runtime/environment.hpp"

namespace parakit {
namespace {

TEST(ParseCount, AcceptsTheFormsUsersType) {
  EXPECT_EQ(parse_count("0", "--n"), 0u);
  EXPECT_EQ(parse_count("1000", "--n"), 1000u);
  EXPECT_EQ(parse_count("1e9", "--n"), 1000000000u);
  EXPECT_EQ(parse_count("2.5e6", "--n"), 2500000u);
  EXPECT_EQ(parse_count("2^26", "--n"), 67108864u);
  EXPECT_EQ(parse_count("2^0", "--n"), 1u);
  EXPECT_EQ(parse_count("1_000_000", "--n"), 1000000u);
  EXPECT_EQ(parse_count("+5", "--n"), 5u);
  EXPECT_EQ(parse_count("9223372036854775808", "--n"), 9223372036854775808ULL);
}

TEST(ParseCount, RejectsWithTheOptionName) {
  for (const char* bad :
       {"", "-1", "-0", "abc", "1.5", "1e", "1e400", "nan", "inf", "2^64", "3^50", "12x", "0x10",
        "1e19", "9223372036854775809", "18446744073709551616", "2^", "^3"}) {
    try {
      parse_count(bad, "--n");
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find("--n"), std::string::npos) << e.what();
      EXPECT_EQ(e.exit_code(), kExitUsage);
    }
  }
}

TEST(BlockRange, BalancedAndContiguous) {
  for (std::uint64_t n : {0ULL, 1ULL, 10ULL, 1001ULL}) {
    for (std::uint64_t parts = 1; parts <= 9; ++parts) {
      std::uint64_t next = 0;
      for (std::uint64_t p = 0; p < parts; ++p) {
        const IndexRange r = block_range(n, parts, p);
        EXPECT_EQ(r.begin, next);
        EXPECT_TRUE(r.size() == n / parts || r.size() == n / parts + 1);
        next = r.end;
      }
      EXPECT_EQ(next, n);
    }
  }
}

TEST(FormatBytes, HumanUnits) {
  EXPECT_EQ(format_bytes(512), "512 B");
  EXPECT_EQ(format_bytes(1536), "1.5 KiB");
  EXPECT_EQ(format_bytes(8.0 * (1ULL << 30)), "8.0 GiB");
}

TEST(System, FactsAreSane) {
  EXPECT_GE(affinity_cpu_count(), 1);
  const auto mem = available_memory_bytes();
  ASSERT_TRUE(mem.has_value());
  EXPECT_GT(*mem, 0u);
  EXPECT_FALSE(host_name().empty());
}

TEST(Backend, ResolveAndDefaults) {
  EXPECT_EQ(resolve_backend("threads"), BackendKind::threads);
  EXPECT_EQ(resolve_backend("serial"), BackendKind::serial);
  EXPECT_EQ(resolve_backend("mpi"), BackendKind::mpi);
  EXPECT_THROW(resolve_backend("gpu"), UsageError);
  EXPECT_EQ(default_threads(BackendKind::serial), 1);
  EXPECT_EQ(default_threads(BackendKind::threads), affinity_cpu_count());
  setenv("SLURM_CPUS_PER_TASK", "6", 1);
  EXPECT_EQ(default_threads(BackendKind::mpi), 6);
  unsetenv("SLURM_CPUS_PER_TASK");
  EXPECT_EQ(default_threads(BackendKind::mpi), 1);
}

TEST(Backend, AutoFollowsLauncherVariablesNotSlurmJobId) {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK"}) unsetenv(name);
  setenv("SLURM_JOB_ID", "42", 1);
  EXPECT_FALSE(launched_as_mpi_rank());
  EXPECT_EQ(resolve_backend("auto"), BackendKind::threads);
  unsetenv("SLURM_JOB_ID");
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK"}) {
    setenv(name, "3", 1);
    setenv("OMPI_COMM_WORLD_RANK", "3", 1);
    EXPECT_TRUE(launched_as_mpi_rank()) << name;
    EXPECT_EQ(resolve_backend("auto"), BackendKind::mpi) << name;
    EXPECT_EQ(launcher_rank(), 3) << name;
    unsetenv(name);
    unsetenv("OMPI_COMM_WORLD_RANK");
  }
  EXPECT_EQ(launcher_rank(), 0);
}

TEST(Fault, PlansParseSiteHitKindAndRank) {
  unsetenv("PARAKIT_FAULT");
  EXPECT_FALSE(planned_fault("load", 0));
  EXPECT_NO_THROW(inject_fault("load", 0));
  setenv("PARAKIT_FAULT", "journal-record#120:kill@0", 1);
  const auto plan = planned_fault("journal-record", 0);
  ASSERT_TRUE(plan);
  EXPECT_EQ(plan->kind, "kill");
  EXPECT_EQ(plan->hit, 120u);
  EXPECT_FALSE(planned_fault("journal-record", 1));    // another rank
  EXPECT_FALSE(planned_fault("journal", 0));           // another site
  EXPECT_NO_THROW(inject_fault("journal-record", 0));  // kill is the site's own business
  setenv("PARAKIT_FAULT", "load:error@2", 1);
  EXPECT_EQ(planned_fault("load", 2)->hit, 1u);
  EXPECT_THROW(inject_fault("load", 2), InputError);
  setenv("PARAKIT_FAULT", "load:crash@2", 1);
  EXPECT_THROW(inject_fault("load", 2), std::runtime_error);
  for (const char* bad :
       {"load#0:error@2", "load#x:error@2", "load#3x:error@2", "load@2:error", "load:error"}) {
    setenv("PARAKIT_FAULT", bad, 1);
    EXPECT_FALSE(planned_fault("load", 2)) << bad;
  }
  unsetenv("PARAKIT_FAULT");
}

// The thread CPU clock counts work, not sleep.
TEST(Timer, ThreadCpuSecondsCountsWorkNotSleep) {
  const double start = thread_cpu_seconds();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const double slept = thread_cpu_seconds() - start;
  EXPECT_LT(slept, 0.02);
  volatile double x = 0;
  const Stopwatch wall;
  while (wall.seconds() < 0.05) x = x + 1;
  EXPECT_GT(thread_cpu_seconds() - start - slept, 0.01);
}

// Spin, then nap for growing times up to the policy's cap; a reset spins again.
TEST(Backoff, SpinsThenNapsWithinThePolicy) {
  using std::chrono::microseconds;
  const auto policy = detail::Backoff::worker();
  detail::Backoff backoff(policy);
  EXPECT_EQ(backoff.idle(), microseconds(0));  // the first poll spins
  const Stopwatch wall;
  microseconds nap(0);
  while (wall.seconds() < 0.02) nap = backoff.idle();
  EXPECT_GE(nap, policy.first_nap);
  EXPECT_LE(nap, policy.max_nap);
  backoff.reset();
  EXPECT_EQ(backoff.idle(), microseconds(0));
  EXPECT_EQ(policy.max_nap, microseconds(1000));
}

}  // namespace
}  // namespace parakit
