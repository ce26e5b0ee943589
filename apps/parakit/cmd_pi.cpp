// parakit pi: the Monte Carlo estimate of pi (reduce pattern), the same count at any P.
#include <cmath>
#include <memory>
#include <numbers>
#include <string>

#include "parakit/core/error.hpp"
#include "parakit/core/parse.hpp"
#include "parakit/workloads/monte_carlo.hpp"
#include "registry.hpp"

namespace parakit::cli {
namespace {

struct PiArgs {
  std::string samples = "10^7";
  std::uint64_t seed = 42;
};

workloads::PiOptions pi_options(const PiArgs& args, const char* samples_flag) {
  workloads::PiOptions options;
  options.samples = parse_count(args.samples, samples_flag);
  if (options.samples == 0) throw UsageError(std::string(samples_flag) + " must be at least 1");
  options.seed = args.seed;
  return options;
}

Report pi_report(const workloads::PiResult& r, const workloads::PiOptions& options,
                 const Team& team) {
  Report report;
  const double error = r.estimate - std::numbers::pi;
  const double rate = r.seconds > 0 ? static_cast<double>(r.samples) / r.seconds : 0.0;
  report.json = {{"command", "pi"},
                 {"samples", r.samples},
                 {"inside", r.inside},
                 {"seed", options.seed},
                 {"pi", r.estimate},
                 {"error", error},
                 {"standard_error", r.standard_error},
                 {"backend", to_string(team.kind())},
                 {"ranks", team.ranks()},
                 {"threads", team.threads()},
                 {"workers", team.workers()},
                 {"seconds", r.seconds},
                 {"samples_per_second", rate}};
  appendf(report.text, "parakit pi: %llu samples, seed %llu\n",
          static_cast<unsigned long long>(r.samples),
          static_cast<unsigned long long>(options.seed));
  appendf(report.text, "  pi        %.12f (4 x %llu inside / %llu)\n", r.estimate,
          static_cast<unsigned long long>(r.inside), static_cast<unsigned long long>(r.samples));
  appendf(report.text, "  error     %+.3g (standard error %.3g)\n", error, r.standard_error);
  appendf(report.text, "  backend   %s\n", team_description(team).c_str());
  appendf(report.text, "  time      %.6f s  %.4g samples/s\n", r.seconds, rate);
  return report;
}

std::function<TeamRun()> add_pi_options(CLI::App& command, const CommonOptions& /*common*/) {
  auto args = std::make_shared<PiArgs>();
  command.add_option("--samples", args->samples, "points drawn: 1000000, 1e9, 2^30")
      ->capture_default_str();
  command.add_option("--seed", args->seed, "the Philox key")
      ->capture_default_str()
      ->check(non_negative());
  return [args] {
    const workloads::PiOptions options = pi_options(*args, "--samples");
    return TeamRun([options](Team& team) {
      const workloads::PiResult result = workloads::run_pi(team, options);
      return is_output_rank(team) ? pi_report(result, options, team) : Report{};
    });
  };
}

std::function<BenchSuite()> add_pi_bench(CLI::App& bench) {
  auto args = std::make_shared<PiArgs>();
  args->samples = "2^24";
  bench.add_option("--pi-samples", args->samples, "pi: points drawn")->capture_default_str();
  return [args] {
    const std::uint64_t samples = pi_options(*args, "--pi-samples").samples;
    BenchSuite suite;
    suite.names = {"pi"};
    suite.in_all = {"pi"};
    suite.make = [samples](const std::string& name, const Scaling& scaling) {
      return BenchWorkload{
          name,
          [=](Team& team, int p) {
            return workloads::run_pi(team, {scaling.grown(samples, p), 42}).seconds;
          },
          [=](int p) { return std::to_string(scaling.grown(samples, p)) + " samples"; }};
    };
    return suite;
  };
}

}  // namespace

WorkloadSpec pi_workload() {
  return {"pi", "Monte Carlo estimate of pi (reduce pattern), the same count at any P",
          add_pi_options, add_pi_bench};
}

}  // namespace parakit::cli
