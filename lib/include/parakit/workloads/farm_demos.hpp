// The farm demos: a producer/consumer queue, and tasks of uneven cost for
// scheduling studies. Written once against patterns/farm; the backend is the team's.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "parakit/backend/team.hpp"
#include "parakit/patterns/farm_options.hpp"
#include "parakit/patterns/farm_report.hpp"

namespace parakit::workloads {

/// The queue items 0..n-1, generated on demand (the producer).
struct CountingTasks {
  std::uint64_t n = 0;
  std::uint64_t size() const noexcept { return n; }
  std::uint64_t operator[](std::uint64_t i) const noexcept { return i; }
};

struct QueueDemoResult {
  FarmReport report;
  std::uint64_t sum = 0;  ///< of every delivered result: n(n-1)/2 when all ran
};

/// Sums 0..n-1 through the farm: each task returns its item, the sink on rank 0 adds it up
/// (as consumers would add into a shared value, without a lock and in 64 bits).
/// n <= 2^32 keeps the sum below 2^63.
QueueDemoResult run_queue_demo(Team& team, std::uint64_t n, const FarmOptions& options);
/// Throws UsageError when the queue demo's sum of 0..n-1 could not fit in 64 bits.
void check_queue_demo_size(std::uint64_t n);

/// How long each task of the cost demo takes.
struct CostSpec {
  enum class Kind { uniform, lognormal, ramp };
  Kind kind = Kind::uniform;
  double a = 1e-3;  ///< uniform/ramp: low; lognormal: median (seconds)
  double b = 2e-3;  ///< uniform/ramp: high; lognormal: sigma (dimensionless)
};
/// "uniform:LO:HI", "lognormal:MEDIAN:SIGMA" or "ramp:LO:HI"; durations as parse_seconds
/// ("1ms", "0.02"). Throws UsageError.
CostSpec parse_cost_spec(std::string_view text);
std::string to_string(const CostSpec& spec);

enum class CostMode { spin, sleep };
CostMode parse_cost_mode(std::string_view text);

/// Task `id`'s cost in nanoseconds: a pure function of (spec, seed, id, n), the same on
/// every rank (ramp grows linearly from LO at id 0 to HI at id n-1).
std::uint64_t task_cost_ns(const CostSpec& spec, std::uint64_t seed, std::uint64_t id,
                           std::uint64_t n);

/// One task of the cost demo: its id and how long it must take. Padding-free, so it
/// travels as plain bytes.
struct CostTask {
  std::uint64_t id = 0;
  std::uint64_t cost_ns = 0;
};

struct CostTasks {
  CostSpec spec;
  std::uint64_t seed = 1;
  std::uint64_t n = 0;
  std::uint64_t size() const noexcept { return n; }
  CostTask operator[](std::uint64_t i) const { return {i, task_cost_ns(spec, seed, i, n)}; }
};

/// Spends the task's cost (spinning on the clock, or sleeping) and returns its cost, so
/// the checksum depends only on the task list.
std::uint64_t run_cost_task(const CostTask& task, CostMode mode);

struct CostDemoResult {
  FarmReport report;
  double total_cost_seconds = 0;  ///< sum of the costs of the tasks run now (not resumed)
  /// total cost / (executors x wall time): 1 is perfect.
  double efficiency = 0;
};

/// Test hook shared by the demos: with every > 0, tasks whose id % every == every - 1
/// throw on their first `attempts` attempts (all attempts when attempts < 0).
struct FailurePlan {
  std::uint64_t every = 0;
  int attempts = -1;
  void maybe_throw(std::uint64_t id, std::uint32_t attempt) const;
};

CostDemoResult run_cost_demo(Team& team, std::uint64_t n, const CostSpec& spec, CostMode mode,
                             std::uint64_t seed, const FarmOptions& options,
                             const FailurePlan& failures = {});
QueueDemoResult run_queue_demo(Team& team, std::uint64_t n, const FarmOptions& options,
                               const FailurePlan& failures);

}  // namespace parakit::workloads
