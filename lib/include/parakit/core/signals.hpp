// Graceful stop on SIGINT / SIGTERM (Ctrl-C, Slurm's walltime warning, mpirun and srun
// forwarding a signal): while a StopOnSignal is alive, the first such signal only sets a flag
// that long-running loops poll, so they can flush what they hold and exit cleanly. A second
// SIGINT/SIGTERM restores the default action and re-raises, so an impatient user still gets
// out at once.
#pragma once

namespace parakit {

class StopOnSignal {
 public:
  /// Installs the handlers (process-wide; at most one instance at a time) and clears the flag.
  StopOnSignal();
  /// Restores the previous handlers.
  ~StopOnSignal();
  StopOnSignal(const StopOnSignal&) = delete;
  StopOnSignal& operator=(const StopOnSignal&) = delete;

  /// 0, or the number of the first signal received (SIGINT or SIGTERM).
  static int received() noexcept;
  /// Whether a stop was requested.
  static bool requested() noexcept { return received() != 0; }
  /// Requests a stop as if `signal` had arrived (tests, and ranks told to stop by a master).
  static void request(int signal) noexcept;
};

/// The conventional exit code after a signal: 128 + number (130 for SIGINT, 143 for SIGTERM).
constexpr int exit_code_for_signal(int signal) noexcept {
  return 128 + signal;
}

/// "SIGINT", "SIGTERM", or "signal N".
const char* signal_name(int signal) noexcept;

}  // namespace parakit
