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
  /// A worker rank: a reply is usually microseconds away, and while it waits its own core has
  /// nothing else to do; a long wait naps up to 1 ms.
  static constexpr Policy worker() noexcept {
    using std::chrono::microseconds;
    return {microseconds(50), microseconds(300), microseconds(20), 8, microseconds(1000)};
  }
  /// The MPI master: its rank's executors (or another rank) need the core it polls on, and
  /// every worker holds queued work that hides its reaction time. So it spins briefly, never
  /// yields in a loop, and naps from 50 us up to 500 us (a quarter of the queued work): on a
  /// virtual machine every wake-up costs some 20 us of CPU.
  static constexpr Policy master() noexcept {
    using std::chrono::microseconds;
    return {microseconds(10), microseconds(10), microseconds(50), 4, microseconds(500)};
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

/// Sets the calling thread's timer slack (how late the kernel may end its sleeps; 50 us by
/// default) for its lifetime, and restores the old one. 0: leaves it alone. Linux only; a
/// no-op elsewhere.
class TimerSlack {
 public:
  explicit TimerSlack(std::chrono::nanoseconds slack) noexcept;
  ~TimerSlack();
  TimerSlack(const TimerSlack&) = delete;
  TimerSlack& operator=(const TimerSlack&) = delete;

 private:
  long old_ = -1;  // -1: nothing to restore
};

}  // namespace parakit::detail
