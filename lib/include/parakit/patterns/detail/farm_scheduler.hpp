// The farm master's queue (patterns/detail/farm_master.hpp): which task ids remain, in which
// chunks they go out to which executor, and the retries.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "parakit/patterns/farm_options.hpp"

namespace parakit::detail {

/// A run of consecutive task ids handed out together, with their attempt number.
struct Segment {
  std::uint64_t begin = 0;
  std::uint64_t end = 0;
  std::uint32_t attempt = 0;
};

struct ChunkPlan {
  std::uint64_t seq = 0;
  int slot = -1;  ///< static schedule: the executor slot it belongs to; -1: any
  std::vector<Segment> segments;
  std::uint64_t size() const noexcept;
};

/// The master's queue: which ids remain, in which chunks they go out, and retries.
/// Endpoints are whatever asks for work (rank 0's own executors, each worker rank); each
/// has a number of executor slots. Not thread-safe: the master serialises calls.
class FarmScheduler {
 public:
  /// `skip[id]` marks tasks already done (from a journal); it may be empty.
  FarmScheduler(std::uint64_t tasks, std::vector<bool> skip, const FarmOptions& options,
                std::vector<int> endpoint_slots);
  /// Fills `out` with the next chunk for `endpoint`; false when it has nothing now.
  bool next(int endpoint, ChunkPlan& out);
  /// Puts a failed task back for another attempt (ahead of fresh tasks).
  void retry(std::uint64_t id, std::uint32_t attempt);
  /// Nothing left to hand out to anyone.
  bool exhausted() const noexcept;
  /// Ids not yet handed out (fresh and retries), for the progress line.
  std::uint64_t remaining() const noexcept { return remaining_; }

 private:
  struct Cursor {
    std::uint64_t next = 0;
    std::uint64_t end = 0;
  };
  std::uint64_t chunk_size(const Cursor& cursor) const noexcept;
  void take(Cursor& cursor, std::uint64_t count, ChunkPlan& out);

  std::uint64_t tasks_;
  std::vector<bool> skip_;
  FarmOptions options_;
  std::vector<int> slots_;
  std::vector<int> first_slot_;  // endpoint -> index of its first slot
  std::vector<int> turn_;        // endpoint -> next slot to serve (static)
  int total_slots_ = 0;
  std::vector<Cursor> cursors_;  // one shared cursor (dynamic) or one per slot (static)
  std::vector<std::pair<std::uint64_t, std::uint32_t>> retries_;  // LIFO is fine
  std::uint64_t remaining_ = 0;
  std::uint64_t next_seq_ = 0;
};

}  // namespace parakit::detail
