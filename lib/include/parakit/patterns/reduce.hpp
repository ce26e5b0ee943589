// The reduce pattern: every worker of a Team owns one contiguous block of [0, n), computes a
// partial result for it, and the partials are combined, first across the threads of a rank in
// worker order, then across ranks with an all-reduce. Written once for every backend.
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <mutex>
#include <utility>
#include <vector>

#include "parakit/backend/team.hpp"

namespace parakit {

/// Calls f(worker, block) on every worker of the team for its block of [0, n). Blocks follow
/// Team::worker_block, so a rank's blocks tile Team::rank_block(n).
template <class F>
void for_each_block(Team& team, std::uint64_t n, F&& f) {
  team.for_each_worker([&](Worker worker) { f(worker, team.worker_block(n, worker.id)); });
}

/// Calls f(item, worker) for every item of [0, count) on this rank's threads, which take the
/// next item from a shared counter (dynamic scheduling). Local to the rank. The first exception
/// stops the others taking items and is rethrown here once every thread has returned.
template <class F>
void for_each_item(Team& team, std::uint64_t count, F&& f) {
  if (count == 1) {  // on this thread (the pool's first): waking the others costs a round trip
    f(std::uint64_t{0}, Worker{team.first_worker(), 0});
    return;
  }
  std::atomic<std::uint64_t> next{0};
  std::exception_ptr error;
  std::mutex error_mutex;
  team.for_each_worker([&](Worker worker) {
    for (;;) {
      const std::uint64_t item = next.fetch_add(1, std::memory_order_relaxed);
      if (item >= count) return;
      try {
        f(item, worker);
      } catch (...) {
        const std::lock_guard lock(error_mutex);
        if (!error) error = std::current_exception();
        next.store(count, std::memory_order_relaxed);
      }
    }
  });
  if (error) std::rethrow_exception(error);
}

/// Reduction over the blocks of [0, n): `local(worker, block)` returns a T; partials are
/// folded with `combine(T, T)` in worker order within the rank, then reduced across ranks
/// with `op` (a built-in op from parakit::ops, which maps onto MPI's own). Returns the result
/// on every rank. `combine` and `op` must compute the same function.
template <class T, class Local, class Combine, class Op>
T reduce_blocks(Team& team, std::uint64_t n, T identity, Local&& local, Combine&& combine, Op op) {
  std::vector<T> partials(static_cast<std::size_t>(team.threads()), identity);
  for_each_block(team, n, [&](Worker worker, IndexRange block) {
    partials[static_cast<std::size_t>(worker.tid)] = local(worker, block);
  });
  T rank_value = std::move(identity);
  for (auto& partial : partials) rank_value = combine(std::move(rank_value), std::move(partial));
  return team.comm().all_reduce(rank_value, op);
}

/// Reduction over the blocks of [0, n) with one operation, for an arithmetic T (the identity's
/// type: write 0.0, not 0, for doubles): `local(worker, block)` returns a T, and `op`
/// (ops::plus, ops::min or ops::max) folds the partials within the rank, in worker order, and
/// across ranks (as MPI's own op, elementwise). Returns the result on every rank.
template <class T, class Local, class Op>
requires(detail::kIsBuiltinOp<Op>&& detail::MpiScalar<T>) T
    reduce(Team& team, std::uint64_t n, T identity, Local&& local, Op op) {
  return reduce_blocks(team, n, std::move(identity), std::forward<Local>(local), op, op);
}

}  // namespace parakit
