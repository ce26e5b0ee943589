// How the farm's polling loops wait while they find nothing to do: first spinning, then
// yielding, then napping for growing times, so an idle rank costs little CPU and a busy one
// answers at once.
#pragma once

#include <chrono>
#include <cstdint>

namespace parakit::detail {

/// Spin, then yield, then nap for growing times while a polling loop finds nothing.
class Backoff {
 public:
  void reset() noexcept { idle_ = 0; }
  /// Spins or yields, and returns how long the caller should nap now (0: poll again).
  std::chrono::microseconds idle();

 private:
  std::uint32_t idle_ = 0;
  std::chrono::steady_clock::time_point since_;
};

}  // namespace parakit::detail
