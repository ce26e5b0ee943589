// The farm on every backend: one body, run under mpiexec at 1-4 ranks and on threads at
// 1, 2, 3 and 8. Expected values are closed forms or recomputed serially on every rank.
#include <gtest/gtest.h>
#include <unistd.h>
#include <chrono>
#include <thread>

#include <cstdint>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/serialization/string.hpp>
#include <boost/serialization/vector.hpp>

#include "parakit/io/codec.hpp"
#include "parakit/patterns/farm.hpp"
#include "parakit/workloads/farm_demos.hpp"
#include "parakit_test.hpp"

namespace parakit {
namespace {

using testing::shared_temp_path;
using testing::team;

/// A task type that needs Boost.Serialization (not plain bytes).
struct Words {
  std::string text;
  std::vector<int> weights;
  template <class Archive>
  void serialize(Archive& ar, unsigned /*version*/) {
    ar& text& weights;
  }
};

std::vector<Words> make_words(std::uint64_t n) {
  std::vector<Words> tasks(n);
  for (std::uint64_t i = 0; i < n; ++i) {
    tasks[i].text = "task-" + std::to_string(i);
    for (std::uint64_t k = 0; k <= i % 5; ++k) tasks[i].weights.push_back(static_cast<int>(i + k));
  }
  return tasks;
}

std::string expected_result(const Words& w) {
  long total = 0;
  for (int x : w.weights) total += x;
  return w.text + ":" + std::to_string(total);
}

struct Collected {
  std::vector<std::uint64_t> order;
  std::map<std::uint64_t, std::string> values;
  std::map<std::uint64_t, std::string> errors;
};

FarmReport run_words(const std::vector<Words>& tasks, const FarmOptions& options, Collected& out,
                     std::uint64_t fail_every = 0, int fail_attempts = -1) {
  return farm(
      team(), tasks,
      [&](const Words& w, const TaskContext& context) {
        const std::uint64_t id = std::stoull(w.text.substr(5));
        if (fail_every != 0 && id % fail_every == 0 &&
            (fail_attempts < 0 || context.attempt < static_cast<std::uint32_t>(fail_attempts))) {
          throw std::runtime_error("boom " + std::to_string(id));
        }
        return expected_result(w);
      },
      [&](const FarmItem<std::string>& item) {
        out.order.push_back(item.id);
        if (item.result != nullptr) {
          out.values[item.id] = *item.result;
        } else {
          out.errors[item.id] = std::string(item.error);
        }
      },
      options);
}

// The seeds' queue: 0..N-1 through the farm sums to N(N-1)/2 for every chunking.
TEST(Farm, QueueDemoSumsEveryItemOnce) {
  for (const Chunking chunk :
       {Chunking::fixed(1), Chunking::fixed(7), Chunking::guided(), Chunking::fixed(100000)}) {
    for (std::uint64_t n : {0ULL, 1ULL, 2ULL, 10000ULL}) {
      FarmOptions options;
      options.chunk = chunk;
      const auto result = workloads::run_queue_demo(team(), n, options);
      EXPECT_EQ(result.sum, n * (n - (n > 0 ? 1 : 0)) / 2) << "n=" << n;
      EXPECT_EQ(result.report.ok, n);
      EXPECT_EQ(result.report.tasks, n);
      EXPECT_EQ(result.report.failed, 0u);
      EXPECT_EQ(result.report.not_run, 0u);
      std::uint64_t ran = 0;
      for (const auto& w : result.report.workers) ran += w.tasks;
      EXPECT_EQ(ran, n);
    }
  }
}

// More workers than tasks, master computing or not, in-flight depths.
TEST(Farm, FewTasksManyWorkers) {
  for (bool master_computes : {false, true}) {
    for (int in_flight : {1, 3}) {
      FarmOptions options;
      options.chunk = Chunking::fixed(1);
      options.master_computes = master_computes;
      options.in_flight = in_flight;
      const auto result = workloads::run_queue_demo(team(), 3, options);
      EXPECT_EQ(result.sum, 3u);
      EXPECT_EQ(result.report.ok, 3u);
    }
  }
}

// The master's own account (FarmReport::master): a request per result batch, never more than
// the tasks, CPU time that covers its idle part, the same report on every rank.
TEST(Farm, MasterStatsCountRequests) {
  for (bool master_computes : {false, true}) {
    FarmOptions options;
    options.chunk = Chunking::fixed(1);
    options.master_computes = master_computes;
    const auto result = workloads::run_queue_demo(team(), 2000, options);
    const MasterStats& m = result.report.master;
    EXPECT_GE(m.requests, 1U);
    EXPECT_LE(m.requests, 2000U);
    EXPECT_GT(m.cpu_seconds, 0.0);
    EXPECT_GE(m.cpu_seconds, m.idle_cpu_seconds);
    EXPECT_GE(m.cpu_per_request(), 0.0);
    EXPECT_LE(m.cpu_per_request() * static_cast<double>(m.requests), m.cpu_seconds * 1.000001);
    const auto all = team().comm().all_gather(m.requests);
    for (auto r : all) EXPECT_EQ(r, m.requests);
  }
}

// The plain call: a vector of tasks, a function, a sink, default options.
TEST(Farm, DefaultOptions) {
  std::vector<std::uint64_t> tasks(1000);
  for (std::uint64_t i = 0; i < tasks.size(); ++i) tasks[i] = i;
  std::uint64_t sum = 0, count = 0;
  const auto report = farm(
      team(), tasks, [](std::uint64_t x) { return x * x; },
      [&](const FarmItem<std::uint64_t>& item) {
        sum += *item.result;
        ++count;
      });
  EXPECT_EQ(report.ok, 1000U);
  if (team().rank() == 0) {
    EXPECT_EQ(count, 1000U);
    EXPECT_EQ(sum, 999ULL * 1000 * 1999 / 6);
  }
}

// Serialized task and result types; every result arrives exactly once, with the checksum
// independent of the scheduling.
TEST(Farm, SerializedTypesAndChecksumIndependentOfScheduling) {
  const auto tasks = make_words(997);
  std::uint64_t checksum = 0;
  bool first = true;
  for (const Chunking chunk : {Chunking::fixed(1), Chunking::fixed(13), Chunking::guided(4)}) {
    for (const Schedule schedule : {Schedule::dynamic, Schedule::static_blocks}) {
      Collected got;
      FarmOptions options;
      options.chunk = chunk;
      options.schedule = schedule;
      const FarmReport report = run_words(tasks, options, got);
      EXPECT_EQ(report.ok, tasks.size());
      if (team().rank() == 0) {
        ASSERT_EQ(got.values.size(), tasks.size());
        ASSERT_EQ(got.order.size(), tasks.size());
        for (std::uint64_t i = 0; i < tasks.size(); ++i) {
          EXPECT_EQ(got.values[i], expected_result(tasks[i]));
        }
      }
      if (first) checksum = report.checksum;
      EXPECT_EQ(report.checksum, checksum);
      first = false;
    }
  }
  // The checksum sees the results: change one and it changes.
  auto other = tasks;
  other[500].text = "task-500x";
  Collected got;
  EXPECT_NE(run_words(other, FarmOptions{}, got).checksum, checksum);
}

TEST(Farm, OrderedDeliveryIsInTaskOrder) {
  const auto tasks = make_words(500);
  for (const Chunking chunk : {Chunking::fixed(1), Chunking::fixed(9), Chunking::guided()}) {
    Collected got;
    FarmOptions options;
    options.chunk = chunk;
    options.ordered = true;
    run_words(tasks, options, got);
    if (team().rank() == 0) {
      ASSERT_EQ(got.order.size(), tasks.size());
      for (std::uint64_t i = 0; i < got.order.size(); ++i) EXPECT_EQ(got.order[i], i);
    }
  }
}

// Tasks that throw: retried, then recorded as failed with their message; the run goes on.
TEST(Farm, FailuresAreRetriedThenRecorded) {
  const auto tasks = make_words(200);
  {  // always failing: 0, 10, ..., 190 fail for good after 1 + 2 attempts
    Collected got;
    FarmOptions options;
    options.retries = 2;
    options.chunk = Chunking::fixed(3);
    const FarmReport report = run_words(tasks, options, got, 10);
    EXPECT_EQ(report.failed, 20u);
    EXPECT_EQ(report.ok, 180u);
    EXPECT_EQ(report.retried, 40u);
    ASSERT_FALSE(report.failures.empty());
    EXPECT_EQ(report.failures.front().id, 0u);
    EXPECT_EQ(report.failures.front().message, "boom 0");
    if (team().rank() == 0) {
      EXPECT_EQ(got.errors.size(), 20u);
      EXPECT_EQ(got.errors[30], "boom 30");
      EXPECT_EQ(got.values.size(), 180u);
    }
  }
  {  // failing on the first attempt only: the retry succeeds
    Collected got;
    FarmOptions options;
    options.retries = 1;
    const FarmReport report = run_words(tasks, options, got, 10, 1);
    EXPECT_EQ(report.failed, 0u);
    EXPECT_EQ(report.ok, 200u);
    EXPECT_EQ(report.retried, 20u);
  }
  {  // no retries
    Collected got;
    const FarmReport report = run_words(tasks, FarmOptions{}, got, 10, 1);
    EXPECT_EQ(report.failed, 20u);
    EXPECT_EQ(report.retried, 0u);
  }
}

// Journal: a run cut short, resumed, gives the uninterrupted run's results and checksum.
TEST(Farm, JournalResumeMatchesCleanRun) {
  const auto tasks = make_words(300);
  Collected clean;
  const FarmReport reference = run_words(tasks, FarmOptions{}, clean);

  const std::string path = shared_temp_path("resume.journal");
  if (team().rank() == 0) ::unlink(path.c_str());
  team().comm().barrier();
  FarmOptions options;
  options.chunk = Chunking::fixed(4);
  options.journal.path = path;
  options.journal.identity_key = "42";
  // Stop after about a third of the results arrived on rank 0. The tasks take 0.3 ms, so
  // the stop comes while most are still to run (fast tasks could all finish before the
  // master notices it).
  std::uint64_t seen = 0;
  options.stop_requested = [&] { return team().rank() == 0 && seen >= 100; };
  FarmReport first = farm(
      team(), tasks,
      [](const Words& w) {
        std::this_thread::sleep_for(std::chrono::microseconds(300));
        return expected_result(w);
      },
      [&](const FarmItem<std::string>&) { ++seen; }, options);
  EXPECT_TRUE(first.stopped);
  EXPECT_GE(first.ok, 100u);
  EXPECT_LT(first.ok, 300u);

  // Without --resume an existing journal is refused (nothing is overwritten).
  FarmOptions again;
  again.journal.path = path;
  again.journal.identity_key = "42";
  Collected ignored;
  EXPECT_THROW(run_words(tasks, again, ignored), Error);
  // Another task list is refused.
  again.journal.resume = true;
  again.journal.identity_key = "43";
  EXPECT_THROW(run_words(tasks, again, ignored), Error);

  again.journal.identity_key = "42";
  Collected second;
  const FarmReport resumed = run_words(tasks, again, second);
  EXPECT_FALSE(resumed.stopped);
  EXPECT_EQ(resumed.ok, 300u);
  EXPECT_EQ(resumed.resumed, first.ok);
  EXPECT_EQ(resumed.checksum, reference.checksum);
  if (team().rank() == 0) {
    EXPECT_EQ(second.values, clean.values);
    ::unlink(path.c_str());
  }
}

}  // namespace
}  // namespace parakit
