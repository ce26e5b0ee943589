// How a farm task ended: the one status the farm reports, the journal records and the command
// runner returns.
#pragma once

#include <cstdint>
#include <string_view>

namespace parakit {

/// The values are the journal's encoding: never renumber them.
enum class TaskStatus : std::uint8_t {
  ok = 0,           ///< finished and succeeded
  failed = 1,       ///< threw, or its result says so (a command's nonzero exit or signal)
  timed_out = 2,    ///< ran past its time limit and was killed
  interrupted = 3,  ///< stopped by a stop request before it finished; rerun on resume
};

/// The largest value a TaskStatus may hold.
inline constexpr std::uint8_t kMaxTaskStatus = static_cast<std::uint8_t>(TaskStatus::interrupted);

/// "ok", "failed", "timed_out" or "interrupted" ("unknown" for any other value).
std::string_view to_string(TaskStatus status) noexcept;

}  // namespace parakit
