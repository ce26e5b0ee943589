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
  struct Policy {
    std::chrono::microseconds spin;       ///< poll without pause this long
    std::chrono::microseconds yield;      ///< then poll with sched_yield until this long
    std::chrono::microseconds first_nap;  ///< then nap first_nap + idle time / growth ...
    int growth;                           ///< (at least 1)
    std::chrono::microseconds max_nap;    ///< ... up to max_nap
  };
  /// The farm's loops: a reply is usually microseconds away; a long wait naps up to 1 ms.
  static constexpr Policy worker() noexcept {
    using std::chrono::microseconds;
    return {microseconds(50), microseconds(300), microseconds(20), 8, microseconds(1000)};
  }
  Backoff() noexcept : policy_(worker()) {}
  explicit Backoff(const Policy& policy) noexcept : policy_(policy) {}
  void reset() noexcept { idle_ = 0; }
  /// Spins or yields, and returns how long the caller should nap now (0: poll again).
  std::chrono::microseconds idle();

 private:
  Policy policy_;
  std::uint32_t idle_ = 0;
  std::chrono::steady_clock::time_point since_;
};

}  // namespace parakit::detail
