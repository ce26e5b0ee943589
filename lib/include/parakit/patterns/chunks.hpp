// The chunk-map pattern: [0, n) is cut into chunks of a fixed size that does not depend on
// the team, each chunk is mapped to a vector by one worker, and the vectors come back in chunk
// order. Because the chunking is the same for every backend and worker count, anything the
// caller folds from the chunk vectors in chunk order (sums of doubles included) is bitwise the
// same on 1 thread, 3 threads or 4 ranks.
//
// Chunks are dealt round-robin to ranks (chunk c goes to rank c mod P), so costs that vary
// smoothly along the range (grid rows, sorted samples) spread evenly; the threads of a rank
// take that rank's chunks one at a time from a shared counter.
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <mutex>
#include <utility>
#include <vector>

#include "parakit/backend/collective.hpp"
#include "parakit/backend/team.hpp"
#include "parakit/core/partition.hpp"

namespace parakit {

/// The chunks of [0, n): chunk c is [c * chunk, min(n, (c + 1) * chunk)).
inline std::uint64_t chunk_count(std::uint64_t n, std::uint64_t chunk) noexcept {
  return chunk == 0 ? 0 : (n + chunk - 1) / chunk;
}
inline IndexRange chunk_range(std::uint64_t n, std::uint64_t chunk, std::uint64_t c) noexcept {
  const std::uint64_t begin = c * chunk;
  return {begin, begin + chunk < n ? begin + chunk : n};
}

/// Calls f(IndexRange) -> std::vector<T> on every chunk of [0, n) across the team. Returns all
/// chunk vectors in chunk order on rank `root` (every rank when root < 0); other ranks get an
/// empty vector. Collective. An exception from f on any worker becomes every rank's
/// AgreedError (see collectively()), so no rank is left waiting in the gather.
template <class T, class F>
std::vector<std::vector<T>> map_chunks(Team& team, std::uint64_t n, std::uint64_t chunk, F&& f,
                                       int root = 0) {
  const std::uint64_t chunks = chunk_count(n, chunk);
  const auto ranks = static_cast<std::uint64_t>(team.ranks());
  const auto rank = static_cast<std::uint64_t>(team.rank());
  const std::uint64_t mine = chunks > rank ? (chunks - rank + ranks - 1) / ranks : 0;

  std::vector<std::vector<T>> local(mine);
  collectively(team.comm(), [&] {
    std::atomic<std::uint64_t> next{0};
    std::exception_ptr error;
    std::mutex error_mutex;
    team.for_each_worker([&](Worker) {
      for (;;) {
        const std::uint64_t k = next.fetch_add(1, std::memory_order_relaxed);
        if (k >= mine) return;
        try {
          local[k] = f(chunk_range(n, chunk, rank + k * ranks));
        } catch (...) {
          const std::lock_guard lock(error_mutex);
          if (!error) error = std::current_exception();
          next.store(mine, std::memory_order_relaxed);  // the others stop taking chunks
        }
      }
    });
    if (error) std::rethrow_exception(error);
  });

  if (ranks == 1) return local;
  std::vector<std::vector<std::vector<T>>> per_rank =
      root < 0 ? team.comm().all_gather(local) : team.comm().gather(local, root);
  if (per_rank.empty()) return {};
  std::vector<std::vector<T>> out(chunks);
  for (std::uint64_t c = 0; c < chunks; ++c) {
    out[c] = std::move(per_rank[c % ranks][c / ranks]);
  }
  return out;
}

}  // namespace parakit
