// The farm benchmark (issue #3). In one process (or one mpirun launch), with repetitions
// interleaved across cases so drift hits all alike, it measures:
//   - rtt:     the 8-byte MPI ping-pong round trip between ranks 0 and 1 (MPI only), the
//              reference for fine-grained scheduling: a chunk-1 farm needs one round trip
//              per task, so 1/RTT tasks/s is its natural ceiling without prefetch;
//   - empty tasks through `farm` (the queue demo's code path) with chunk 1 and guided
//     chunks, in tasks/s; under MPI rank 0 only coordinates;
//   - uneven tasks (ramp cost, spinning) with dynamic and static scheduling: parallel
//     efficiency = total task cost / (executors x wall time).
// It prints medians (min..max) and the ratios the issue asks for; --json prints every sample.
//   bench_farm [--threads 2] [--reps 5] [--json]            (thread backend)
//   mpirun -np 2 bench_farm [...]                           (MPI: master + 1 worker)
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "parakit/core/error.hpp"
#include "parakit/core/parse.hpp"
#include "parakit/core/timer.hpp"
#include "parakit/measure/round_trip.hpp"
#include "parakit/measure/stats.hpp"
#include "parakit/patterns/farm.hpp"
#include "parakit/runtime/environment.hpp"
#include "parakit/workloads/farm_demos.hpp"

namespace {

using namespace parakit;

using measure::median;

struct Case {
  std::string name;
  std::uint64_t tasks = 0;
  FarmOptions options;
  bool uneven = false;
  std::string cost = "ramp:1ms:20ms";
};

/// Runs one case; returns tasks/s (empty tasks) or parallel efficiency (uneven tasks).
double run_case(Team& team, const Case& c) {
  if (c.uneven) {
    const auto spec = workloads::parse_cost_spec(c.cost);
    return workloads::run_cost_demo(team, c.tasks, spec, workloads::CostMode::spin, 1, c.options)
        .efficiency;
  }
  const auto result = workloads::run_queue_demo(team, c.tasks, c.options);
  if (result.sum != c.tasks * (c.tasks - 1) / 2) throw InternalError("farm bench: wrong sum");
  return static_cast<double>(c.tasks) / result.report.seconds;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"parakit farm benchmark: throughput of empty tasks and efficiency of uneven ones"};
  int reps = 5;
  std::string chunk1_tasks = "200000";
  std::string guided_tasks = "2e7";
  std::string uneven_tasks = "100";
  bool json = false;
  RuntimeOptions runtime;
  app.add_option("--reps", reps, "interleaved repetitions per case")->capture_default_str();
  app.add_option("--chunk1-tasks", chunk1_tasks, "empty tasks for the chunk-1 case")
      ->capture_default_str();
  app.add_option("--guided-tasks", guided_tasks, "empty tasks for the guided case")
      ->capture_default_str();
  app.add_option("--uneven-tasks", uneven_tasks, "ramp:1ms:20ms tasks for the uneven cases")
      ->capture_default_str();
  app.add_option("--backend", runtime.backend, "auto|mpi|threads")->capture_default_str();
  app.add_option("--threads", runtime.threads, "threads (thread backend)");
  app.add_flag("--json", json, "print every sample as one JSON object");
  CLI11_PARSE(app, argc, argv);

  try {
    if (!runtime.threads && resolve_backend(runtime.backend) == BackendKind::threads) {
      runtime.threads = 2;
    }
    Environment env(runtime);
    Team team = env.make_team();
    const Comm& world = team.comm();
    const bool mpi = team.kind() == BackendKind::mpi && world.size() > 1;
    const double rtt = mpi ? measure::mpi_round_trip(world, 20000) : 0.0;

    std::vector<Case> cases;
    Case chunk1{"empty chunk=1", parse_count(chunk1_tasks, "--chunk1-tasks"), {}};
    chunk1.options.chunk = Chunking::fixed(1);
    Case guided{"empty guided", parse_count(guided_tasks, "--guided-tasks"), {}};
    guided.options.chunk = Chunking::guided();
    Case dynamic{"ramp dynamic", parse_count(uneven_tasks, "--uneven-tasks"), {}, true};
    dynamic.options.chunk = Chunking::fixed(1);
    Case fixed_static{"ramp static", dynamic.tasks, {}, true};
    fixed_static.options.schedule = Schedule::static_blocks;
    cases = {chunk1, guided, dynamic, fixed_static};

    std::map<std::string, std::vector<double>> samples;
    for (int rep = 0; rep < reps; ++rep) {
      for (const Case& c : cases) samples[c.name].push_back(run_case(team, c));
    }

    if (world.rank() == 0) {
      const int executors = mpi ? (world.size() - 1) * team.threads() : team.threads();
      nlohmann::json out{{"benchmark", "farm"},    {"backend", to_string(team.kind())},
                         {"ranks", world.size()},  {"threads", team.threads()},
                         {"executors", executors}, {"reps", reps},
                         {"rtt_seconds", rtt},     {"cases", nlohmann::json::array()}};
      if (!json) {
        std::printf("farm benchmark: %s, %d rank(s) x %d thread(s), %d executor(s), %d reps\n",
                    std::string(to_string(team.kind())).c_str(), world.size(), team.threads(),
                    executors, reps);
        if (mpi)
          std::printf("  8-byte round trip      %.3f us  (1/RTT = %.3g /s)\n", rtt * 1e6, 1 / rtt);
      }
      for (const Case& c : cases) {
        const auto& v = samples[c.name];
        const double med = median(v);
        const double lo = *std::min_element(v.begin(), v.end());
        const double hi = *std::max_element(v.begin(), v.end());
        out["cases"].push_back({{"name", c.name},
                                {"tasks", c.tasks},
                                {"median", med},
                                {"min", lo},
                                {"max", hi},
                                {"samples", v},
                                {"unit", c.uneven ? "efficiency" : "tasks/s"}});
        if (!json) {
          if (c.uneven) {
            std::printf("  %-22s efficiency %.3f  (%.3f..%.3f)\n", c.name.c_str(), med, lo, hi);
          } else {
            std::printf("  %-22s %10.4g tasks/s  (%.4g..%.4g)\n", c.name.c_str(), med, lo, hi);
          }
        }
      }
      const double chunk1_rate = median(samples["empty chunk=1"]);
      if (mpi) out["chunk1_x_rtt"] = chunk1_rate * rtt;
      if (!json && mpi) {
        std::printf("  chunk=1 throughput x RTT = %.3f  (target >= 0.5)\n", chunk1_rate * rtt);
      }
      if (json) std::printf("%s\n", out.dump().c_str());
    }
    return 0;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "bench_farm: error: %s\n", error.what());
    return 1;
  }
}
