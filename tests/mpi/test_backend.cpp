// Backend and reduce-pattern tests. Each body runs under mpiexec at 1-4 ranks and on the
// thread backend at 1, 2, 3 and 8 threads; expected values are recomputed on every rank.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <numeric>
#include <set>
#include <vector>

#include "parakit/backend/collective.hpp"
#include "parakit/core/error.hpp"
#include "parakit/patterns/reduce.hpp"
#include "parakit/runtime/environment.hpp"
#include "parakit_test.hpp"

namespace parakit {
namespace {

using testing::team;

TEST(Team, WorkersAreRanksTimesThreads) {
  Team& t = team();
  EXPECT_EQ(t.workers(), t.comm().all_reduce(t.threads(), ops::plus{}));
  const auto firsts = t.comm().all_gather(t.first_worker());
  for (int r = 0; r < t.ranks(); ++r)
    EXPECT_EQ(firsts[static_cast<std::size_t>(r)], r * t.threads());
}

TEST(Team, EveryWorkerRunsExactlyOnce) {
  Team& t = team();
  std::vector<std::atomic<int>> hits(static_cast<std::size_t>(t.threads()));
  for (int round = 0; round < 50; ++round) {
    t.for_each_worker([&](Worker w) { hits[static_cast<std::size_t>(w.tid)]++; });
  }
  for (auto& h : hits) EXPECT_EQ(h.load(), 50);
}

TEST(Team, BlocksTileTheRange) {
  Team& t = team();
  for (std::uint64_t n : {0ULL, 1ULL, 7ULL, 1000ULL, 1000003ULL}) {
    std::uint64_t covered = 0;
    std::uint64_t expected_begin = 0;
    for (int w = 0; w < t.workers(); ++w) {
      const IndexRange b = t.worker_block(n, w);
      EXPECT_EQ(b.begin, expected_begin);
      expected_begin = b.end;
      covered += b.size();
      EXPECT_LE(b.size(), n / static_cast<std::uint64_t>(t.workers()) + 1);
    }
    EXPECT_EQ(covered, n);
    const IndexRange mine = t.rank_block(n);
    EXPECT_EQ(t.comm().all_reduce(mine.size(), ops::plus{}), n);
  }
}

TEST(ThreadPool, ExceptionsReachTheCaller) {
  Team& t = team();
  const int thrower = t.threads() - 1;
  EXPECT_THROW(t.for_each_worker([&](Worker w) {
    if (w.tid == thrower) throw InputError("boom");
  }),
               InputError);
  // The pool stays usable afterwards.
  std::atomic<int> count{0};
  t.for_each_worker([&](Worker) { count++; });
  EXPECT_EQ(count.load(), t.threads());
}

TEST(Comm, BuiltinReductionsOnScalarsAndArrays) {
  const Comm& c = team().comm();
  const int p = c.size();
  EXPECT_EQ(c.all_reduce(c.rank() + 1, ops::plus{}), p * (p + 1) / 2);
  EXPECT_EQ(c.all_reduce(c.rank(), ops::min{}), 0);
  EXPECT_EQ(c.all_reduce(c.rank(), ops::max{}), p - 1);
  std::array<std::int64_t, 3> v{c.rank(), 1, -2 * c.rank()};
  const auto s = c.all_reduce(v, ops::plus{});
  EXPECT_EQ(s[0], std::int64_t{p} * (p - 1) / 2);
  EXPECT_EQ(s[1], p);
  EXPECT_EQ(s[2], -std::int64_t{p} * (p - 1));
  std::vector<double> buf{1.0, static_cast<double>(c.rank())};
  c.all_reduce_in_place(std::span<double>(buf), ops::plus{});
  EXPECT_EQ(buf[0], p);
  EXPECT_EQ(buf[1], p * (p - 1) / 2.0);
}

TEST(Comm, UserReductionWithStatedCommutativity) {
  const Comm& c = team().comm();
  // String concatenation in rank order is associative but not commutative.
  const std::string mine(1, static_cast<char>('a' + c.rank()));
  const std::string all = c.all_reduce(
      mine, [](const std::string& a, const std::string& b) { return a + b; },
      Commutativity::non_commutative);
  std::string expected;
  for (int r = 0; r < c.size(); ++r) expected += static_cast<char>('a' + r);
  EXPECT_EQ(all, expected);
  const int product = c.all_reduce(
      c.rank() + 1, [](int a, int b) { return a * b; }, Commutativity::commutative);
  int expected_product = 1;
  for (int r = 1; r <= c.size(); ++r) expected_product *= r;
  EXPECT_EQ(product, expected_product);
}

TEST(Comm, BroadcastFromEveryRoot) {
  const Comm& c = team().comm();
  for (int root = 0; root < c.size(); ++root) {
    const std::vector<int> value = c.broadcast(std::vector<int>(3, c.rank() * 10), root);
    EXPECT_EQ(value, std::vector<int>(3, root * 10));
  }
}

TEST(Comm, SplitCommunicatorsWork) {
  // Library code must work on any communicator, not only the world.
  const Comm& c = team().comm();
  auto half = c.split(c.rank() % 2, c.rank());
  ASSERT_TRUE(half.has_value());
  const int expected = (c.size() + (c.rank() % 2 == 0 ? 1 : 0)) / 2;
  EXPECT_EQ(half->size(), expected);
  Team sub(*half, team().threads());
  const std::uint64_t n = 12345;
  const auto total = reduce_blocks<std::uint64_t>(
      sub, n, 0,
      [](Worker, IndexRange b) {
        std::uint64_t s = 0;
        for (std::uint64_t i = b.begin; i < b.end; ++i) s += i;
        return s;
      },
      [](std::uint64_t a, std::uint64_t b) { return a + b; }, ops::plus{});
  EXPECT_EQ(total, n * (n - 1) / 2);
  auto none = c.split(-1, 0);
  EXPECT_FALSE(none.has_value());
}

TEST(Reduce, SumOfIndicesMatchesClosedForm) {
  for (std::uint64_t n : {0ULL, 1ULL, 5ULL, 999983ULL, 10000000ULL}) {
    const auto total = reduce_blocks<std::uint64_t>(
        team(), n, 0,
        [](Worker, IndexRange b) {
          std::uint64_t s = 0;
          for (std::uint64_t i = b.begin; i < b.end; ++i) s += i;
          return s;
        },
        [](std::uint64_t a, std::uint64_t b) { return a + b; }, ops::plus{});
    EXPECT_EQ(total, n * (n - 1) / 2) << "n=" << n;
  }
}

TEST(Team, TheBackendFollowsFromTheCommunicator) {
  const Team mpi(team().comm(), 2);
  EXPECT_EQ(mpi.kind(), team().comm().is_mpi() ? BackendKind::mpi : BackendKind::threads);
  EXPECT_EQ(mpi.workers(), 2 * team().ranks());
  const Team local(Comm::self(), 3);
  EXPECT_EQ(local.kind(), BackendKind::threads);
  EXPECT_EQ(local.workers(), 3);
}

TEST(Team, SerialIsOneThreadOnSelf) {
  const Team serial = Team::serial();
  EXPECT_EQ(serial.kind(), BackendKind::serial);
  EXPECT_FALSE(serial.comm().is_mpi());
  EXPECT_EQ(serial.workers(), 1);
  EXPECT_EQ(Environment(RuntimeOptions{"serial", {}}).make_team().kind(), BackendKind::serial);
}

TEST(Reduce, OneOperationFoldsThreadsAndRanks) {
  const std::uint64_t n = 100003;
  auto block_sum = [](Worker, IndexRange b) {
    std::uint64_t s = 0;
    for (std::uint64_t i = b.begin; i < b.end; ++i) s += i;
    return s;
  };
  EXPECT_EQ(reduce(team(), n, std::uint64_t{0}, block_sum, ops::plus{}), n * (n - 1) / 2);
  // the largest and smallest block starts: the last worker's, and 0
  auto start = [](Worker, IndexRange b) { return b.size() > 0 ? b.begin : UINT64_MAX; };
  EXPECT_EQ(reduce(team(), n, std::uint64_t{UINT64_MAX}, start, ops::min{}), 0U);
  EXPECT_EQ(reduce(team(), n, std::uint64_t{0}, start, ops::max{}),
            team().worker_block(n, team().workers() - 1).begin);
}

TEST(Reduce, CombinesInWorkerOrder) {
  // A non-commutative fold inside the rank must see partials in worker order.
  const auto order = reduce_blocks<std::int64_t>(
      team(), 1000, -1, [](Worker w, IndexRange) { return std::int64_t{w.id}; },
      [](std::int64_t acc, std::int64_t next) {
        if (acc == -1) return next;                 // identity
        return next == acc + 1 ? next : INT64_MIN;  // must be consecutive
      },
      ops::max{});
  EXPECT_EQ(order, team().workers() - 1);
}

TEST(Collectively, OneRankErrorReachesEveryRank) {
  const Comm& c = team().comm();
  const int bad = c.size() - 1;
  try {
    collectively(c, [&] {
      if (c.rank() == bad) throw InputError("rank-local failure on " + std::to_string(bad));
    });
    FAIL() << "expected AgreedError";
  } catch (const AgreedError& e) {
    EXPECT_EQ(std::string(e.what()), "rank-local failure on " + std::to_string(bad));
    EXPECT_EQ(e.exit_code(), kExitUsage);
    EXPECT_EQ(e.origin_rank(), bad);
  }
  EXPECT_NO_THROW(collectively(c, [] {}));
}

TEST(Collectively, LowestFailingRankWins) {
  const Comm& c = team().comm();
  try {
    collectively(c, [&] { throw InternalError("from " + std::to_string(c.rank())); });
    FAIL();
  } catch (const AgreedError& e) {
    EXPECT_EQ(std::string(e.what()), "from 0");
    EXPECT_EQ(e.exit_code(), kExitInternal);
  }
}

}  // namespace
}  // namespace parakit
