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

#include <algorithm>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "parakit/backend/collective.hpp"
#include "parakit/backend/team.hpp"
#include "parakit/core/partition.hpp"
#include "parakit/patterns/reduce.hpp"

namespace parakit {

/// The message tag of map_chunks' result transfers.
inline constexpr int kChunkTag = 7401;

/// The chunks of [0, n): chunk c is [c * chunk, min(n, (c + 1) * chunk)).
inline std::uint64_t chunk_count(std::uint64_t n, std::uint64_t chunk) noexcept {
  return chunk == 0 ? 0 : (n + chunk - 1) / chunk;
}
inline IndexRange chunk_range(std::uint64_t n, std::uint64_t chunk, std::uint64_t c) noexcept {
  const std::uint64_t begin = c * chunk;
  return {begin, begin + chunk < n ? begin + chunk : n};
}

/// What map_chunks returns: every chunk's values, concatenated in chunk order.
template <class T>
struct ChunkResults {
  std::vector<T> values;
  std::vector<std::size_t> offsets;  ///< chunk c is values[offsets[c], offsets[c + 1])

  std::size_t chunks() const noexcept { return offsets.empty() ? 0 : offsets.size() - 1; }
  std::span<const T> chunk(std::size_t c) const noexcept {
    return std::span<const T>(values).subspan(offsets[c], offsets[c + 1] - offsets[c]);
  }
};

/// Calls f(IndexRange) -> std::vector<T> (T arithmetic) on every chunk of [0, n) across the
/// team. Returns all chunk values in chunk order on rank `root` (every rank when root < 0);
/// other ranks get an empty result. Collective. Each rank sends one flat message (MPI_Gatherv),
/// so the cost of moving results is one copy of them. An exception from f on any worker
/// becomes every rank's AgreedError (see collectively()), so no rank waits in the gather.
template <class T, class F>
ChunkResults<T> map_chunks(Team& team, std::uint64_t n, std::uint64_t chunk, F&& f, int root = 0) {
  static_assert(detail::MpiScalar<T>, "map_chunks moves arithmetic values");
  const std::uint64_t chunks = chunk_count(n, chunk);
  const auto ranks = static_cast<std::uint64_t>(team.ranks());
  const auto rank = static_cast<std::uint64_t>(team.rank());
  const auto chunks_of = [&](std::uint64_t r) {
    return chunks > r ? (chunks - r + ranks - 1) / ranks : 0;
  };
  const std::uint64_t mine = chunks_of(rank);

  std::vector<std::vector<T>> local(mine);
  collectively(team.comm(), [&] {
    for_each_item(team, mine, [&](std::uint64_t k, Worker) {
      local[k] = f(chunk_range(n, chunk, rank + k * ranks));
    });
  });

  ChunkResults<T> out;
  if (ranks == 1) {
    out.offsets.push_back(0);
    for (const auto& values : local) {
      out.values.insert(out.values.end(), values.begin(), values.end());
      out.offsets.push_back(out.values.size());
    }
    return out;
  }
  // Rank r holds chunks r, r + P, ...: the root learns every chunk's size, places its own
  // chunks, and receives each other rank's chunks straight into their final places (one
  // message per rank, described by a datatype of addresses: no packing on either side).
  const Comm& comm = team.comm();
  const int target = root < 0 ? 0 : root;
  std::vector<std::uint64_t> sizes;
  sizes.reserve(local.size());
  for (const auto& values : local) sizes.push_back(values.size());
  const auto all_sizes = comm.gather_concat(std::span<const std::uint64_t>(sizes), target);
  if (team.rank() != target) {
    if (mine > 0) {
      std::vector<std::span<const T>> pieces(local.begin(), local.end());
      comm.send_pieces(std::span<const std::span<const T>>(pieces), target, kChunkTag);
    }
  } else {
    // all_sizes is rank-major: rank r's chunks in its order.
    out.offsets.assign(chunks + 1, 0);
    std::vector<std::uint64_t> chunk_size(chunks);
    for (std::uint64_t r = 0, k = 0; r < ranks; ++r) {
      for (std::uint64_t i = 0; i < chunks_of(r); ++i, ++k)
        chunk_size[r + i * ranks] = all_sizes[k];
    }
    for (std::uint64_t c = 0; c < chunks; ++c) out.offsets[c + 1] = out.offsets[c] + chunk_size[c];
    out.values.resize(out.offsets.back());
    for (std::uint64_t i = 0; i < mine; ++i) {
      const std::uint64_t c = rank + i * ranks;
      std::copy(local[i].begin(), local[i].end(),
                out.values.begin() + static_cast<std::ptrdiff_t>(out.offsets[c]));
    }
    for (std::uint64_t r = 0; r < ranks; ++r) {
      if (r == rank || chunks_of(r) == 0) continue;
      std::vector<std::size_t> offsets, lengths;
      for (std::uint64_t c = r; c < chunks; c += ranks) {
        offsets.push_back(out.offsets[c]);
        lengths.push_back(chunk_size[c]);
      }
      comm.receive_pieces(out.values.data(), offsets, lengths, static_cast<int>(r), kChunkTag);
    }
  }
  if (root < 0) {
    out.offsets = comm.broadcast(std::move(out.offsets), target);
    out.values = comm.broadcast(std::move(out.values), target);
  }
  return out;
}

}  // namespace parakit
