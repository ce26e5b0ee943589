// Timing: wall-clock time for kernels, and the calling thread's CPU time.
#pragma once

#include <time.h>

#include <chrono>

namespace parakit {

class Stopwatch {
 public:
  Stopwatch() : start_(std::chrono::steady_clock::now()) {}
  void restart() { start_ = std::chrono::steady_clock::now(); }
  /// Seconds since construction or the last restart().
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  std::chrono::steady_clock::time_point start_;
};

/// CPU time the calling thread has used, in seconds (CLOCK_THREAD_CPUTIME_ID: time it ran,
/// not time it waited or slept); 0 where the clock is not available.
inline double thread_cpu_seconds() noexcept {
  timespec now{};
  if (::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now) != 0) return 0.0;
  return static_cast<double>(now.tv_sec) + 1e-9 * static_cast<double>(now.tv_nsec);
}

}  // namespace parakit
