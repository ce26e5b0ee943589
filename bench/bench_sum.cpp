// The sum benchmark (issue #2). In one process (or one mpirun launch) it measures, at worker
// counts p = 1..P, with the repetitions interleaved across every case so drift hits all alike:
//   - probe: a STREAM-like read of the array (measure/read_probe.hpp), the bandwidth reference;
//   - fast and exact sums on uniform, normal and cancel data, through the same code path
//     as `parakit sum` (workloads::sum_distributed).
// It prints medians (min..max), fast/probe, exact/fast and the speedup T(1)/T(p), and with
// --json one object holding every sample.
//   bench_sum [--n 2^26] [--reps 11] [--max-workers 2] [--json]          (threads)
//   mpirun -np 2 bench_sum [...]                                          (MPI ranks)
#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "parakit/core/buffer.hpp"
#include "parakit/core/error.hpp"
#include "parakit/core/parse.hpp"
#include "parakit/core/timer.hpp"
#include "parakit/data/generate.hpp"
#include "parakit/measure/stats.hpp"
#include "parakit/patterns/reduce.hpp"
#include "parakit/runtime/environment.hpp"
#include "parakit/workloads/sum.hpp"
#include "parakit/measure/read_probe.hpp"

namespace {

using namespace parakit;

constexpr data::Dist kDists[] = {data::Dist::uniform, data::Dist::normal, data::Dist::cancel};

/// p workers: a Team (absent on ranks outside it) and its slices of the three arrays.
struct Group {
  int p = 0;
  std::optional<Team> team;
  std::vector<std::shared_ptr<LargeBuffer<double>>> data;  // one per entry of kDists
};

struct Case {
  std::string name;  // probe, fast, exact
  int dist = 0;      // index into kDists
};

std::shared_ptr<LargeBuffer<double>> fill(Team& team, std::uint64_t n, data::Dist dist) {
  auto buffer = std::make_shared<LargeBuffer<double>>(team.rank_block(n).size());
  const std::uint64_t offset = team.rank_block(n).begin;
  for_each_block(team, n, [&](Worker, IndexRange block) {
    data::generate(dist, 1, block.begin,
                   std::span<double>(buffer->data() + (block.begin - offset), block.size()));
  });
  return buffer;
}

double run_case(Group& group, const Case& c, std::uint64_t n, const Comm& world) {
  std::atomic<std::uint64_t> sink{0};
  world.barrier();
  double seconds = 0;
  if (group.team) {
    Team& team = *group.team;
    const auto slice = std::as_const(*group.data[static_cast<std::size_t>(c.dist)]).span();
    team.comm().barrier();
    Stopwatch clock;
    if (c.name == "probe") {
      const std::uint64_t offset = team.rank_block(n).begin;
      for_each_block(team, n, [&](Worker, IndexRange block) {
        sink ^= measure::read_probe(slice.subspan(block.begin - offset, block.size()));
      });
      team.comm().barrier();
    } else {
      const auto mode = c.name == "fast" ? workloads::SumMode::fast : workloads::SumMode::exact;
      const double sum = workloads::sum_distributed<double>(team, mode, slice);
      sink ^= static_cast<std::uint64_t>(sum != sum);
    }
    seconds = team.comm().all_reduce(clock.seconds(), ops::max{});
  }
  return world.all_reduce(seconds, ops::max{}) + 0.0 * static_cast<double>(sink.load());
}

using measure::summarize;

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"parakit sum benchmark: fast and exact sums against a read-bandwidth probe"};
  std::string n_text = "2^26";
  int reps = 11;
  int max_workers = 2;
  bool json = false;
  app.add_option("--n", n_text, "elements per array")->capture_default_str();
  app.add_option("--reps", reps, "interleaved repetitions per case")->capture_default_str();
  app.add_option("--max-workers", max_workers, "largest p (threads, or ranks under mpirun)")
      ->capture_default_str();
  app.add_flag("--json", json, "print every sample as one JSON object");
  CLI11_PARSE(app, argc, argv);

  try {
    const std::uint64_t n = parse_count(n_text, "--n");
    if (reps < 1 || max_workers < 1) throw UsageError("--reps and --max-workers must be >= 1");
    Environment env(RuntimeOptions{});
    const Comm world = env.world();
    const bool over_ranks = world.size() > 1;
    const int pmax = over_ranks ? std::min(max_workers, world.size()) : max_workers;

    // Groups of p workers. Threads share one copy of each array; ranks each hold their slice.
    std::vector<Group> groups;
    for (int p = 1; p <= pmax; ++p) {
      Group group;
      group.p = p;
      group.team = first_workers(world, p, over_ranks);
      groups.push_back(std::move(group));
    }
    if (over_ranks) {
      for (auto& group : groups) {
        if (!group.team) continue;
        for (auto dist : kDists) group.data.push_back(fill(*group.team, n, dist));
      }
    } else {  // first-touch by the widest team, shared by all
      Group& widest = groups.back();
      for (auto dist : kDists) widest.data.push_back(fill(*widest.team, n, dist));
      for (auto& group : groups) group.data = widest.data;
    }

    std::vector<Case> cases{{"probe", 0}};
    for (int d = 0; d < 3; ++d) {
      cases.push_back({"fast", d});
      cases.push_back({"exact", d});
    }
    std::map<std::pair<int, int>, std::vector<double>> samples;  // (case, p) -> seconds
    for (auto& group : groups) {                                 // one untimed warm-up pass
      for (const auto& c : cases) run_case(group, c, n, world);
    }
    for (int rep = 0; rep < reps; ++rep) {
      for (auto& group : groups) {
        for (std::size_t c = 0; c < cases.size(); ++c) {
          samples[{static_cast<int>(c), group.p}].push_back(run_case(group, cases[c], n, world));
        }
      }
    }
    if (world.rank() != 0) return 0;

    const double bytes = static_cast<double>(n) * sizeof(double);
    auto median = [&](int c, int p) { return summarize(samples[{c, p}]).median; };
    nlohmann::json out{{"benchmark", "sum"},
                       {"backend", over_ranks ? "mpi" : "threads"},
                       {"n", n},
                       {"reps", reps},
                       {"cases", nlohmann::json::array()}};
    if (!json) {
      std::printf("sum benchmark: n = %llu doubles (%.0f MiB), %s, %d interleaved reps, medians\n",
                  static_cast<unsigned long long>(n), bytes / (1 << 20),
                  over_ranks ? "MPI ranks" : "threads", reps);
      std::printf("%-14s %3s %10s %10s %10s %8s %9s %8s\n", "case", "p", "median s", "min s",
                  "max s", "GB/s", "vs ref", "speedup");
    }
    for (std::size_t c = 0; c < cases.size(); ++c) {
      for (const auto& group : groups) {
        const int ci = static_cast<int>(c);
        const measure::Summary s = summarize(samples[{ci, group.p}]);
        const std::string name =
            cases[c].name == "probe"
                ? "probe"
                : cases[c].name + "/" + std::string(data::to_string(kDists[cases[c].dist]));
        // fast is compared with the probe; exact with fast on the same data.
        const int ref = cases[c].name == "probe" ? -1 : cases[c].name == "fast" ? 0 : ci - 1;
        const double vs_ref = ref < 0 ? 1.0 : median(ref, group.p) / s.median;
        const double speedup = median(ci, 1) / s.median;
        out["cases"].push_back({{"case", name},
                                {"p", group.p},
                                {"median_s", s.median},
                                {"min_s", s.min},
                                {"max_s", s.max},
                                {"gb_per_s", bytes / s.median / 1e9},
                                {"ratio_vs_reference", vs_ref},
                                {"speedup", speedup},
                                {"samples_s", samples[{ci, group.p}]}});
        if (!json) {
          std::printf("%-14s %3d %10.5f %10.5f %10.5f %8.2f %9.3f %8.2f\n", name.c_str(), group.p,
                      s.median, s.min, s.max, bytes / s.median / 1e9, vs_ref, speedup);
        }
      }
    }
    if (json) {
      std::printf("%s\n", out.dump().c_str());
    } else {
      std::printf(
          "vs ref: fast/probe bandwidth ratio (target >= 0.9); exact/fast throughput "
          "ratio (target >= 0.75 uniform/normal, >= 0.6 cancel). speedup = T(1)/T(p) "
          "(target >= 1.7 at p = 2).\n");
    }
    return 0;
  } catch (const Error& error) {
    std::fprintf(stderr, "bench_sum: error: %s\n", error.what());
    return error.exit_code();
  }
}
