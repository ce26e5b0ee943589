// What the functions given to farm() (patterns/farm.hpp) receive: the task function's
// TaskContext, and the FarmItem the sink on rank 0 is called with for each result.
#pragma once

#include <atomic>
#include <cstdint>
#include <string_view>

#include "parakit/core/task_status.hpp"

namespace parakit {

/// What the task function may look at (take it as a second parameter).
struct TaskContext {
  int rank = 0;
  int slot = 1;  ///< 1-based executor index on this rank
  std::uint32_t attempt = 0;
  /// Becomes true once the farm is stopping (a signal, or the master draining).
  const std::atomic<bool>* stopping_flag = nullptr;
  /// A long task may poll this and give up early.
  bool stopping() const noexcept {
    return stopping_flag != nullptr && stopping_flag->load(std::memory_order_relaxed);
  }
};

/// One result as the sink on rank 0 sees it.
template <class Result>
struct FarmItem {
  std::uint64_t id = 0;
  TaskStatus status = TaskStatus::ok;
  /// The task's value; nullptr when it threw (then `error` holds the message).
  const Result* result = nullptr;
  std::string_view error;
  std::uint32_t attempts = 1;
  bool resumed = false;  ///< read back from the journal, not run now
};

}  // namespace parakit
