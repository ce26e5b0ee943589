#include "parakit/workloads/farm_demos.hpp"

#include <time.h>

#include <chrono>
#include <cmath>
#include <string>
#include <thread>

#include "parakit/core/error.hpp"
#include "parakit/core/parse.hpp"
#include "parakit/data/generate.hpp"
#include "parakit/patterns/farm.hpp"

namespace parakit::workloads {

void FailurePlan::maybe_throw(std::uint64_t id, std::uint32_t attempt) const {
  if (every == 0 || id % every != every - 1) return;
  if (attempts >= 0 && attempt >= static_cast<std::uint32_t>(attempts)) return;
  throw std::runtime_error("injected failure of task " + std::to_string(id) + " (attempt " +
                           std::to_string(attempt + 1) + ")");
}

void check_queue_demo_size(std::uint64_t n) {
  if (n > (std::uint64_t{1} << 32)) {
    throw UsageError(
        "run_queue_demo(n) must be at most 2^32 for the queue demo (the sum must fit)");
  }
}

QueueDemoResult run_queue_demo(Team& team, std::uint64_t n, const FarmOptions& options,
                               const FailurePlan& failures) {
  check_queue_demo_size(n);
  QueueDemoResult out;
  out.report = farm(
      team, CountingTasks{n},
      [&failures](const std::uint64_t& item, const TaskContext& context) {
        failures.maybe_throw(item, context.attempt);
        return item;
      },
      [&out](const FarmItem<std::uint64_t>& item) {
        if (item.result != nullptr) out.sum += *item.result;
      },
      options);
  out.sum = team.comm().broadcast(out.sum, 0);
  return out;
}

QueueDemoResult run_queue_demo(Team& team, std::uint64_t n, const FarmOptions& options) {
  return run_queue_demo(team, n, options, FailurePlan{});
}

CostSpec parse_cost_spec(std::string_view text) {
  const auto bad = [&] {
    return UsageError(
        "CostSpec must be uniform:LO:HI, lognormal:MEDIAN:SIGMA or ramp:LO:HI "
        "(e.g. ramp:1ms:20ms), got '" +
        std::string(text) + "'");
  };
  const std::size_t c1 = text.find(':');
  if (c1 == std::string_view::npos) throw bad();
  const std::size_t c2 = text.find(':', c1 + 1);
  if (c2 == std::string_view::npos || text.find(':', c2 + 1) != std::string_view::npos) {
    throw bad();
  }
  const std::string_view kind = text.substr(0, c1);
  const std::string_view first = text.substr(c1 + 1, c2 - c1 - 1);
  const std::string_view second = text.substr(c2 + 1);
  CostSpec spec;
  try {
    if (kind == "uniform" || kind == "ramp") {
      spec.kind = kind == "uniform" ? CostSpec::Kind::uniform : CostSpec::Kind::ramp;
      spec.a = parse_seconds(first, "CostSpec LO");
      spec.b = parse_seconds(second, "CostSpec HI");
      if (spec.b < spec.a) throw bad();
    } else if (kind == "lognormal") {
      spec.kind = CostSpec::Kind::lognormal;
      spec.a = parse_seconds(first, "CostSpec MEDIAN");
      spec.b = parse_seconds(second, "CostSpec SIGMA");  // a plain number
      if (second.find_first_not_of("0123456789.eE+-") != std::string_view::npos) throw bad();
    } else {
      throw bad();
    }
  } catch (const UsageError&) {
    throw bad();
  }
  if (spec.a > 3600 || spec.b > 3600) throw bad();
  return spec;
}

std::string to_string(const CostSpec& spec) {
  const char* kind = spec.kind == CostSpec::Kind::uniform ? "uniform"
                     : spec.kind == CostSpec::Kind::ramp  ? "ramp"
                                                          : "lognormal";
  return std::string(kind) + ":" + std::to_string(spec.a) + ":" + std::to_string(spec.b);
}

CostMode parse_cost_mode(std::string_view text) {
  if (text == "spin") return CostMode::spin;
  if (text == "sleep") return CostMode::sleep;
  throw UsageError("CostMode must be spin or sleep, not '" + std::string(text) + "'");
}

std::uint64_t task_cost_ns(const CostSpec& spec, std::uint64_t seed, std::uint64_t id,
                           std::uint64_t n) {
  double seconds = 0;
  switch (spec.kind) {
    case CostSpec::Kind::uniform:
      seconds = spec.a + (spec.b - spec.a) * data::generate_one(data::Dist::uniform, seed, id);
      break;
    case CostSpec::Kind::ramp:
      seconds = spec.a + (spec.b - spec.a) *
                             (n <= 1 ? 0.0 : static_cast<double>(id) / static_cast<double>(n - 1));
      break;
    case CostSpec::Kind::lognormal:
      seconds = spec.a * std::exp(spec.b * data::generate_one(data::Dist::normal, seed, id));
      break;
  }
  return static_cast<std::uint64_t>(std::llround(std::min(seconds, 3600.0) * 1e9));
}

std::uint64_t run_cost_task(const CostTask& task, CostMode mode) {
  if (mode == CostMode::sleep) {
    std::this_thread::sleep_for(std::chrono::nanoseconds(task.cost_ns));
  } else {
    // Spin on this thread's CPU clock, so time stolen by other processes is not counted
    // as work done (on an oversubscribed node the task still costs what it says).
    timespec start{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &start);
    const auto start_ns = static_cast<std::uint64_t>(start.tv_sec) * 1000000000ULL +
                          static_cast<std::uint64_t>(start.tv_nsec);
    for (;;) {
      timespec now{};
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
      const auto now_ns = static_cast<std::uint64_t>(now.tv_sec) * 1000000000ULL +
                          static_cast<std::uint64_t>(now.tv_nsec);
      if (now_ns - start_ns >= task.cost_ns) break;
    }
  }
  return task.cost_ns;
}

CostDemoResult run_cost_demo(Team& team, std::uint64_t n, const CostSpec& spec, CostMode mode,
                             std::uint64_t seed, const FarmOptions& options,
                             const FailurePlan& failures) {
  CostDemoResult out;
  std::uint64_t cost_ns = 0;
  out.report = farm(
      team, CostTasks{spec, seed, n},
      [mode, &failures](const CostTask& task, const TaskContext& context) {
        failures.maybe_throw(task.id, context.attempt);
        return run_cost_task(task, mode);
      },
      [&cost_ns](const FarmItem<std::uint64_t>& item) {
        if (item.result != nullptr && !item.resumed) cost_ns += *item.result;
      },
      options);
  out.total_cost_seconds = static_cast<double>(team.comm().broadcast(cost_ns, 0)) * 1e-9;
  const auto executors = static_cast<double>(out.report.workers.size());
  if (executors > 0 && out.report.seconds > 0) {
    out.efficiency = out.total_cost_seconds / (executors * out.report.seconds);
  }
  return out;
}

}  // namespace parakit::workloads
