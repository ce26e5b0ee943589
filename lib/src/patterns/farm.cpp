#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <thread>

#include "parakit/core/error.hpp"
#include "parakit/core/parse.hpp"
#include "parakit/core/partition.hpp"
#include "parakit/patterns/detail/backoff.hpp"
#include "parakit/patterns/detail/farm_scheduler.hpp"
#include "parakit/patterns/farm_options.hpp"
#include "parakit/patterns/farm_report.hpp"

namespace parakit {

Chunking parse_chunking(std::string_view text) {
  if (text == "guided") return Chunking::guided();
  if (text.starts_with("guided:")) {
    const std::uint64_t min = parse_count(text.substr(7), "FarmOptions::chunk guided:MIN");
    if (min == 0) throw UsageError("FarmOptions::chunk guided:MIN needs MIN >= 1");
    return Chunking::guided(min);
  }
  if (text.empty() || text.find_first_not_of("0123456789_") == 0) {
    throw UsageError("FarmOptions::chunk must be a positive count or guided[:MIN], not '" +
                     std::string(text) + "'");
  }
  const std::uint64_t size = parse_count(text, "FarmOptions::chunk");
  if (size == 0) throw UsageError("FarmOptions::chunk must be at least 1");
  return Chunking::fixed(size);
}

std::string to_string(const Chunking& chunking) {
  if (chunking.kind == Chunking::Kind::fixed) return std::to_string(chunking.size);
  return chunking.size == 1 ? "guided" : "guided:" + std::to_string(chunking.size);
}

Schedule parse_schedule(std::string_view text) {
  if (text == "dynamic") return Schedule::dynamic;
  if (text == "static") return Schedule::static_blocks;
  throw UsageError("FarmOptions::schedule must be dynamic or static, not '" + std::string(text) +
                   "'");
}

std::string_view to_string(Schedule schedule) noexcept {
  return schedule == Schedule::dynamic ? "dynamic" : "static";
}

double FarmReport::imbalance() const noexcept {
  double max = 0;
  double sum = 0;
  int count = 0;
  for (const auto& w : workers) {
    max = std::max(max, w.busy_seconds);
    sum += w.busy_seconds;
    ++count;
  }
  return count == 0 || sum <= 0 ? 1.0 : max / (sum / count);
}

double FarmReport::utilisation() const noexcept {
  double sum = 0;
  int count = 0;
  for (const auto& w : workers) {
    if (w.wall_seconds > 0) sum += w.busy_seconds / w.wall_seconds;
    ++count;
  }
  return count == 0 ? 0.0 : sum / count;
}

namespace detail {

std::uint64_t ChunkPlan::size() const noexcept {
  std::uint64_t n = 0;
  for (const auto& s : segments) n += s.end - s.begin;
  return n;
}

FarmScheduler::FarmScheduler(std::uint64_t tasks, std::vector<bool> skip,
                             const FarmOptions& options, std::vector<int> endpoint_slots)
    : tasks_(tasks), skip_(std::move(skip)), options_(options), slots_(std::move(endpoint_slots)) {
  for (int s : slots_) total_slots_ += s;
  if (total_slots_ <= 0) throw InternalError("farm scheduler without executors");
  if (options_.max_chunk == 0) options_.max_chunk = 1;
  remaining_ = tasks_;
  if (!skip_.empty()) {
    remaining_ = tasks_ - static_cast<std::uint64_t>(std::count(skip_.begin(), skip_.end(), true));
  }
  int first = 0;
  for (int s : slots_) {
    first_slot_.push_back(first);
    turn_.push_back(0);
    first += s;
  }
  if (options_.schedule == Schedule::dynamic) {
    cursors_.push_back({0, tasks_});
  } else {
    // Every executor slot owns one contiguous block of ids, as in a static split.
    const auto parts = static_cast<std::uint64_t>(total_slots_);
    for (std::uint64_t slot = 0; slot < parts; ++slot) {
      const IndexRange block = block_range(tasks_, parts, slot);
      cursors_.push_back({block.begin, block.end});
    }
  }
}

std::uint64_t FarmScheduler::chunk_size(const Cursor& cursor) const noexcept {
  std::uint64_t size = options_.chunk.size;
  if (options_.schedule == Schedule::static_blocks) {
    size = cursor.end - cursor.next;
  } else if (options_.chunk.kind == Chunking::Kind::guided) {
    const std::uint64_t left = cursor.end - cursor.next;
    const std::uint64_t share = (left + 2 * static_cast<std::uint64_t>(total_slots_) - 1) /
                                (2 * static_cast<std::uint64_t>(total_slots_));
    size = std::max(size, share);
  }
  return std::clamp<std::uint64_t>(size, 1, options_.max_chunk);
}

void FarmScheduler::take(Cursor& cursor, std::uint64_t count, ChunkPlan& out) {
  while (count > 0 && cursor.next < cursor.end) {
    if (!skip_.empty() && skip_[cursor.next]) {
      ++cursor.next;
      continue;
    }
    const std::uint64_t begin = cursor.next;
    std::uint64_t end = begin;
    while (end < cursor.end && count > 0 && (skip_.empty() || !skip_[end])) {
      ++end;
      --count;
    }
    out.segments.push_back({begin, end, 0});
    remaining_ -= end - begin;
    cursor.next = end;
  }
}

bool FarmScheduler::next(int endpoint, ChunkPlan& out) {
  out.segments.clear();
  out.slot = -1;
  if (slots_.at(static_cast<std::size_t>(endpoint)) == 0) return false;
  // Retries first, one task per chunk: they are rare and may be slow.
  if (!retries_.empty()) {
    const auto [id, attempt] = retries_.back();
    retries_.pop_back();
    out.segments.push_back({id, id + 1, attempt});
    --remaining_;
  } else if (cursors_.size() == 1) {
    take(cursors_.front(), chunk_size(cursors_.front()), out);
  } else {
    // Static: serve this endpoint's slots in turn, each from its own block.
    const int slots = slots_[static_cast<std::size_t>(endpoint)];
    for (int k = 0; k < slots && out.segments.empty(); ++k) {
      int& turn = turn_[static_cast<std::size_t>(endpoint)];
      const int slot = turn;
      turn = (turn + 1) % slots;
      Cursor& cursor =
          cursors_[static_cast<std::size_t>(first_slot_[static_cast<std::size_t>(endpoint)]) +
                   static_cast<std::size_t>(slot)];
      take(cursor, chunk_size(cursor), out);
      if (!out.segments.empty()) out.slot = slot;
    }
  }
  if (out.segments.empty()) return false;
  out.seq = next_seq_++;
  return true;
}

void FarmScheduler::retry(std::uint64_t id, std::uint32_t attempt) {
  retries_.emplace_back(id, attempt);
  ++remaining_;
}

bool FarmScheduler::exhausted() const noexcept {
  return remaining_ == 0;
}

std::chrono::microseconds Backoff::idle() {
  using std::chrono::microseconds;
  const auto now = std::chrono::steady_clock::now();
  if (idle_++ == 0) since_ = now;
  const auto waited = std::chrono::duration_cast<microseconds>(now - since_);
  if (waited < policy_.spin) return microseconds(0);
  if (waited < policy_.yield) {
    std::this_thread::yield();
    return microseconds(0);
  }
  return std::min(policy_.max_nap, policy_.first_nap + waited / std::max(1, policy_.growth));
}

}  // namespace detail
}  // namespace parakit
