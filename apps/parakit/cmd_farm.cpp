// parakit farm: the task farm (queue demo, uneven-cost demo, or a file of shell commands).
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "library_terms.hpp"
#include "parakit/core/error.hpp"
#include "parakit/core/parse.hpp"
#include "parakit/core/signals.hpp"
#include "parakit/core/system.hpp"
#include "parakit/io/codec.hpp"
#include "parakit/measure/round_trip.hpp"
#include "parakit/patterns/farm_options.hpp"
#include "parakit/patterns/farm_report.hpp"
#include "parakit/workloads/commands_farm.hpp"
#include "parakit/workloads/farm_demos.hpp"
#include "registry.hpp"

namespace parakit::cli {
namespace {

struct FarmArgs {
  std::string demo;
  std::string commands;
  std::string tasks = "10000";
  std::string cost = "uniform:1ms:2ms";
  std::string cost_mode = "spin";
  std::uint64_t seed = 1;
  std::string schedule = "dynamic";
  std::string chunk;  // default: guided (demos), 1 (commands)
  int in_flight = 2;
  bool master_computes = false;
  bool master_only = false;
  int retries = 0;
  bool ordered = false;
  std::string journal;
  bool resume = false;
  bool resume_failed = false;
  bool force_resume = false;
  std::string fsync_interval = "1";
  ProgressArgs progress;
  int tasks_per_rank = 0;
  std::string timeout = "0";
  std::string kill_grace = "2";
  std::string logdir = "parakit-logs";
  std::string joblog;
  std::uint64_t fail_every = 0;
  int fail_attempts = -1;
};

std::string hex64(std::uint64_t value) {
  char buffer[24];
  std::snprintf(buffer, sizeof buffer, "%016llx", static_cast<unsigned long long>(value));
  return buffer;
}

nlohmann::json workers_json(const FarmReport& report) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& w : report.workers) {
    out.push_back({{"worker", w.worker},
                   {"rank", w.rank},
                   {"slot", w.slot},
                   {"tasks", w.tasks},
                   {"busy_seconds", w.busy_seconds},
                   {"utilisation", w.wall_seconds > 0 ? w.busy_seconds / w.wall_seconds : 0.0}});
  }
  return out;
}

void append_workers(std::string& text, const FarmReport& report) {
  if (report.workers.empty()) return;
  appendf(text, "  %-7s %5s %5s %12s %12s %6s\n", "worker", "rank", "slot", "tasks", "busy s",
          "util");
  const std::size_t shown = std::min<std::size_t>(report.workers.size(), 32);
  for (std::size_t i = 0; i < shown; ++i) {
    const auto& w = report.workers[i];
    appendf(text, "  %-7d %5d %5d %12llu %12.4f %5.1f%%\n", w.worker, w.rank, w.slot,
            static_cast<unsigned long long>(w.tasks), w.busy_seconds,
            w.wall_seconds > 0 ? 100.0 * w.busy_seconds / w.wall_seconds : 0.0);
  }
  if (shown < report.workers.size()) {
    appendf(text, "  ... %zu more workers (see --json)\n", report.workers.size() - shown);
  }
  appendf(text, "  imbalance  %.3f (max/mean busy)   utilisation %.1f%%\n", report.imbalance(),
          100.0 * report.utilisation());
  if (report.master.requests > 0) {
    appendf(text, "  master     %llu requests, %.2f us CPU to answer each\n",
            static_cast<unsigned long long>(report.master.requests),
            1e6 * report.master.cpu_per_request());
  }
}

/// A farm run's plan, from the checked options: which mode, its tasks and its FarmOptions.
struct FarmPlan {
  std::string demo;  ///< queue, cost or commands
  FarmOptions options;
  std::uint64_t tasks = 0;
  std::uint64_t seed = 1;
  workloads::CostSpec cost;
  workloads::CostMode cost_mode = workloads::CostMode::spin;
  workloads::CommandsRunOptions run;
  workloads::FailurePlan failures;
};

/// The scheduling and journal options (UsageError on a bad one).
FarmOptions farm_options(const FarmArgs& args, bool commands, const std::string& demo) {
  FarmOptions options;
  options.schedule = parse_schedule(args.schedule);
  options.chunk = parse_chunking(args.chunk.empty() ? (commands ? "1" : "guided") : args.chunk);
  if (args.in_flight < 1) throw UsageError("--in-flight must be at least 1");
  options.in_flight = args.in_flight;
  if (args.master_computes) options.master_computes = true;
  if (args.retries < 0) throw UsageError("--retries must not be negative");
  options.retries = args.retries;
  options.ordered = args.ordered;
  if ((args.resume || args.resume_failed || args.force_resume) && args.journal.empty()) {
    throw UsageError("--resume, --resume-failed and --force-resume need --journal");
  }
  options.journal.path = args.journal;
  options.journal.resume = args.resume || args.resume_failed;
  options.journal.resume_failed = args.resume_failed;
  options.journal.force_resume = args.force_resume;
  options.journal.fsync_interval = parse_seconds(args.fsync_interval, "--fsync-interval");
  const ProgressOptions progress = progress_options(args.progress);
  options.progress = progress.enabled;
  options.progress_interval = progress.interval;
  options.label = "farm " + demo;
  if (args.tasks_per_rank < 0) throw UsageError("--tasks-per-rank must be positive");
  if (commands) options.slots = args.tasks_per_rank;
  return options;
}

/// Checks the options before MPI starts and plans the run.
FarmPlan plan_farm(const FarmArgs& args) {
  const bool commands = !args.commands.empty();
  if (commands && !args.demo.empty()) throw UsageError("--demo and --commands cannot be combined");
  FarmPlan plan;
  plan.demo = commands ? "commands" : (args.demo.empty() ? "queue" : args.demo);
  if (plan.demo != "queue" && plan.demo != "cost" && plan.demo != "commands") {
    throw UsageError("--demo must be queue or cost, not '" + plan.demo + "'");
  }
  plan.options = farm_options(args, commands, plan.demo);
  plan.tasks = commands ? 0 : parse_count(args.tasks, "--tasks");
  plan.seed = args.seed;
  if (plan.demo == "queue") workloads::check_queue_demo_size(plan.tasks);
  if (plan.demo == "cost") {
    plan.cost = workloads::parse_cost_spec(args.cost);
    plan.cost_mode = workloads::parse_cost_mode(args.cost_mode);
  }
  if (commands) {
    plan.run.file = args.commands;
    plan.run.logdir = args.logdir;
    plan.run.timeout_s = parse_seconds(args.timeout, "--timeout");
    plan.run.kill_grace_s = parse_seconds(args.kill_grace, "--kill-grace");
    plan.run.joblog = args.joblog;
  }
  // The journal's identity: what the task list is made of.
  const std::string tasks = std::to_string(plan.tasks);
  plan.options.journal.kind = "farm " + plan.demo;
  plan.options.journal.identity_key = plan.demo == "queue"  ? "queue " + tasks
                                      : plan.demo == "cost" ? "cost " + tasks + " " +
                                                                  workloads::to_string(plan.cost) +
                                                                  " " + std::to_string(args.seed)
                                                            : "commands";
  plan.failures = {args.fail_every, args.fail_attempts};
  return plan;
}

/// What one mode adds to the common farm report: JSON fields and the summary's first lines.
struct ModeOutcome {
  FarmReport report;
  nlohmann::json extra = nlohmann::json::object();
  std::string headline;
};

/// Commands inherit the rank's CPU binding: 4 per rank on a rank bound to one core share that
/// core. Says so instead of running slowly.
void warn_if_commands_oversubscribe(Team& team, const FarmPlan& plan) {
  const int per_rank = plan.options.slots > 0 ? plan.options.slots : team.threads();
  const int cpus = affinity_cpu_count();
  const int worst = team.comm().all_reduce(per_rank > cpus ? cpus : 0, ops::max{});
  if (worst > 0 && is_output_rank(team)) {
    std::fprintf(stderr,
                 "parakit: warning: %d commands at once per rank but a rank may only use %d "
                 "CPU%s; bind wider (mpirun --bind-to none, or srun --cpus-per-task) or lower "
                 "--tasks-per-rank\n",
                 per_rank, worst, worst == 1 ? "" : "s");
  }
}

ModeOutcome run_commands_mode(Team& team, const FarmPlan& plan) {
  warn_if_commands_oversubscribe(team, plan);
  const auto result = workloads::run_commands(team, plan.run, plan.options);
  ModeOutcome out;
  out.report = result.report;
  nlohmann::json codes = nlohmann::json::object();
  std::vector<std::pair<std::uint64_t, int>> top;
  for (const auto& [code, count] : result.exit_codes) top.emplace_back(count, code);
  std::sort(top.rbegin(), top.rend());
  out.headline = "  exit codes";
  for (std::size_t i = 0; i < top.size(); ++i) {
    codes[std::to_string(top[i].second)] = top[i].first;
    if (i < 5)
      out.headline += " " + std::to_string(top[i].second) + ":" + std::to_string(top[i].first);
  }
  out.headline += "\n";
  out.extra["exit_codes"] = codes;
  out.extra["timed_out"] = out.report.timed_out;
  if (!result.failed_list.empty()) {
    out.extra["failed_list"] = result.failed_list;
    out.headline += "  failed     listed in " + result.failed_list + "\n";
  }
  return out;
}

ModeOutcome run_mode(Team& team, const FarmPlan& plan) {
  if (plan.demo == "queue") {
    const auto result = workloads::run_queue_demo(team, plan.tasks, plan.options, plan.failures);
    ModeOutcome out;
    out.report = result.report;
    out.extra["result"] = result.sum;
    out.headline = "  result     " + std::to_string(result.sum) + "\n";
    return out;
  }
  if (plan.demo == "cost") {
    const auto result = workloads::run_cost_demo(team, plan.tasks, plan.cost, plan.cost_mode,
                                                 plan.seed, plan.options, plan.failures);
    ModeOutcome out;
    out.report = result.report;
    out.extra["cost"] = workloads::to_string(plan.cost);
    out.extra["cost_seconds"] = result.total_cost_seconds;
    out.extra["efficiency"] = result.efficiency;
    appendf(out.headline, "  cost       %.4f s of work, efficiency %.3f\n",
            result.total_cost_seconds, result.efficiency);
    return out;
  }
  return run_commands_mode(team, plan);
}

/// Tasks run (not resumed) per second.
double task_rate(const FarmReport& report) {
  return report.seconds > 0
             ? static_cast<double>(report.ok + report.failed - report.resumed) / report.seconds
             : 0.0;
}

nlohmann::json farm_json(const FarmPlan& plan, const ModeOutcome& outcome, const Team& team,
                         int signal) {
  const FarmReport& report = outcome.report;
  nlohmann::json out{
      {"command", "farm"},
      {"mode", plan.demo},
      {"tasks", report.tasks},
      {"done", report.ok},
      {"failed", report.failed},
      {"timed_out", report.timed_out},
      {"interrupted", report.interrupted},
      {"not_run", report.not_run},
      {"resumed", report.resumed},
      {"retried", report.retried},
      {"seconds", report.seconds},
      {"tasks_per_second", task_rate(report)},
      {"checksum", hex64(report.checksum)},
      {"stopped", report.stopped},
      {"signal", signal == 0 ? nlohmann::json(nullptr) : nlohmann::json(signal_name(signal))},
      {"backend", to_string(team.kind())},
      {"ranks", team.ranks()},
      {"threads", team.threads()},
      {"schedule", to_string(plan.options.schedule)},
      {"chunk", to_string(plan.options.chunk)},
      {"imbalance", report.imbalance()},
      {"utilisation", report.utilisation()},
      {"workers", workers_json(report)},
      {"master",
       {{"requests", report.master.requests},
        {"naps", report.master.naps},
        {"cpu_seconds", report.master.cpu_seconds},
        {"idle_cpu_seconds", report.master.idle_cpu_seconds},
        {"cpu_per_request_seconds", report.master.cpu_per_request()}}}};
  if (!plan.options.journal.path.empty()) out["journal"] = plan.options.journal.path;
  nlohmann::json failures = nlohmann::json::array();
  for (const auto& f : report.failures) {
    failures.push_back({{"id", f.id}, {"status", to_string(f.status)}, {"message", f.message}});
  }
  out["failures"] = failures;
  out.update(outcome.extra);
  return out;
}

std::string farm_text(const FarmPlan& plan, const ModeOutcome& outcome, const Team& team) {
  const FarmReport& report = outcome.report;
  std::string text;
  appendf(
      text, "parakit farm (%s): %llu tasks, %s, %d rank%s x %d thread%s, %s schedule, chunk %s\n",
      plan.demo.c_str(), static_cast<unsigned long long>(report.tasks),
      std::string(to_string(team.kind())).c_str(), team.ranks(), team.ranks() == 1 ? "" : "s",
      team.threads(), team.threads() == 1 ? "" : "s",
      std::string(to_string(plan.options.schedule)).c_str(), to_string(plan.options.chunk).c_str());
  text += outcome.headline;
  appendf(text, "  done       %llu/%llu (resumed %llu)  failed %llu  not run %llu\n",
          static_cast<unsigned long long>(report.ok), static_cast<unsigned long long>(report.tasks),
          static_cast<unsigned long long>(report.resumed),
          static_cast<unsigned long long>(report.failed),
          static_cast<unsigned long long>(report.not_run));
  for (const auto& f : report.failures) {
    appendf(text, "  failed     task %llu (%s) %s\n", static_cast<unsigned long long>(f.id),
            std::string(to_string(f.status)).c_str(), f.message.c_str());
  }
  appendf(text, "  checksum   %s\n", hex64(report.checksum).c_str());
  appendf(text, "  time       %.6f s  %.4g tasks/s\n", report.seconds, task_rate(report));
  append_workers(text, report);
  return text;
}

/// What a stopped run tells the user: where its results are and how to go on.
std::string stop_message(const FarmPlan& plan, const FarmReport& report, int signal) {
  const std::string& journal = plan.options.journal.path;
  return std::string("parakit: stopped by ") +
         (signal != 0 ? signal_name(signal) : "a signal on another rank") + " after " +
         std::to_string(report.ok + report.failed) + " of " + std::to_string(report.tasks) +
         " tasks; " +
         (journal.empty() ? "no --journal was given, so a rerun starts over"
                          : "results are in the journal; rerun with --resume --journal " + journal +
                                " to continue");
}

Report run_farm(Team& team, FarmPlan plan) {
  // Held by the report until it is printed: a signal arriving after the farm ended must not
  // cut off the report or the line that says how to resume.
  auto signals = std::make_shared<StopOnSignal>();
  plan.options.stop_requested = [] { return StopOnSignal::requested(); };
  const ModeOutcome outcome = run_mode(team, plan);
  const FarmReport& report = outcome.report;
  // A signal may have reached only some ranks; every rank reports the same one.
  const int signal = team.comm().all_reduce(StopOnSignal::received(), ops::max{});
  Report out;
  out.keep_until_printed = signals;
  out.exit_code = report.stopped      ? exit_code_for_signal(signal != 0 ? signal : SIGTERM)
                  : report.failed > 0 ? static_cast<int>(kExitTasksFailed)
                                      : static_cast<int>(kExitOk);
  if (!is_output_rank(team)) return out;
  if (!report.journal_warning.empty()) {  // before the report, which it qualifies
    std::fprintf(stderr, "parakit: warning: %s\n", in_cli_terms(report.journal_warning).c_str());
  }
  out.json = farm_json(plan, outcome, team, signal);
  out.text = farm_text(plan, outcome, team);
  if (report.stopped) out.messages.push_back(stop_message(plan, report, signal));
  return out;
}

/// The farm's scheduling and journal options.
void add_schedule_options(CLI::App& command, FarmArgs& args) {
  command
      .add_option("--schedule", args.schedule,
                  "dynamic (workers pull chunks) or static (one contiguous block each)")
      ->capture_default_str();
  command.add_option("--chunk", args.chunk,
                     "tasks per request: N or guided[:MIN] (default guided; 1 for --commands)");
  command.add_option("--in-flight", args.in_flight, "chunks each executor holds at once")
      ->capture_default_str();
  command.add_flag("--master-computes", args.master_computes,
                   "rank 0 also runs tasks (default: only with one rank)");
  command.add_option("--retries", args.retries, "extra attempts for a failing task")
      ->capture_default_str();
  command.add_flag("--ordered", args.ordered, "deliver results in task order");
  command.add_option("--journal", args.journal,
                     "append every result to FILE (checksummed records) so a run can resume");
  command.add_flag("--resume", args.resume, "skip the tasks already in --journal");
  command.add_flag("--resume-failed", args.resume_failed,
                   "with --resume, also rerun the tasks recorded as failed");
  command.add_flag("--force-resume", args.force_resume,
                   "resume past a corrupt journal record or a changed commands file");
  command
      .add_option("--fsync-interval", args.fsync_interval,
                  "seconds between journal fsyncs (records are written at once)")
      ->capture_default_str();
  add_progress_options(command, args.progress);
}

/// The options of --commands, the shell-command mode.
void add_command_runner_options(CLI::App& command, FarmArgs& args) {
  command.add_option("--tasks-per-rank", args.tasks_per_rank,
                     "--commands: commands each rank runs at once (default: --threads)");
  command.add_option("--timeout", args.timeout, "--commands: seconds per command (0: none)")
      ->capture_default_str();
  command
      .add_option("--kill-grace", args.kill_grace,
                  "--commands: seconds between TERM and KILL on timeout")
      ->capture_default_str();
  command
      .add_option("--logdir", args.logdir,
                  "--commands: per-task stdout/stderr under DIR/<id/1000>/<id>.{out,err}")
      ->capture_default_str();
  command.add_option("--joblog", args.joblog, "--commands: GNU parallel job log FILE");
}

std::function<TeamRun()> add_farm_options(CLI::App& command, const CommonOptions& /*common*/) {
  auto args = std::make_shared<FarmArgs>();
  command.add_option("--demo", args->demo, "queue (sum 0..N-1 through the queue) or cost");
  command.add_option("--commands", args->commands,
                     "run each line of FILE with /bin/sh -c (ids = 0-based line numbers)");
  command.add_option("--tasks", args->tasks, "number of demo tasks")->capture_default_str();
  command
      .add_option("--cost", args->cost,
                  "cost demo: uniform:LO:HI, lognormal:MEDIAN:SIGMA or ramp:LO:HI")
      ->capture_default_str();
  command.add_option("--cost-mode", args->cost_mode, "cost demo: spin or sleep")
      ->capture_default_str();
  command.add_option("--seed", args->seed, "cost demo: seed of the costs")
      ->capture_default_str()
      ->check(non_negative());
  add_schedule_options(command, *args);
  add_command_runner_options(command, *args);
  command
      .add_option("--fail-every", args->fail_every,
                  "demos, for testing: tasks with id % K == K-1 throw")
      ->check(non_negative());
  command.add_option("--fail-attempts", args->fail_attempts,
                     "with --fail-every: throw only on the first A attempts");
  return [args] {
    return TeamRun([plan = plan_farm(*args)](Team& team) { return run_farm(team, plan); });
  };
}

/// The latency reference on a team of two workers: an 8-byte MPI ping-pong between its
/// ranks, or a condition-variable hand-off between two threads.
double round_trip_seconds(Team& team) {
  if (team.ranks() >= 2) return measure::mpi_round_trip(team.comm(), 2000);
  return measure::thread_round_trip(2000);
}

/// farm-empty against the round trip: tasks per second, and per round trip.
BenchLimit empty_task_limit(const std::function<std::string(int)>& problem,
                            const std::function<double(int)>& tasks) {
  return {"rtt", 2, [=](int p, double seconds, double rtt) {
            const double rate = tasks(p) / seconds;
            std::string line;
            appendf(line,
                    "farm-empty at p = %d: %.4g tasks/s = %.2f per round trip (1/RTT = %.4g /s)", p,
                    rate, rate * rtt, 1 / rtt);
            return std::pair{nlohmann::json{{"problem", problem(p)},
                                            {"tasks_per_second", rate},
                                            {"rtt_seconds", rtt},
                                            {"tasks_per_rtt", rate * rtt}},
                             line};
          }};
}

BenchWorkload farm_bench_workload(const std::string& name, const Scaling& scaling,
                                  std::uint64_t tasks, std::uint64_t empty_tasks,
                                  const workloads::CostSpec& cost, const std::string& spec) {
  if (name == "rtt") {
    return {name, [](Team& team, int) { return round_trip_seconds(team); },
            [](int) { return std::string("8-byte round trip, seconds each"); }, 2, std::nullopt};
  }
  if (name == "farm-empty") {
    auto problem = [=](int p) {
      return std::to_string(scaling.grown(empty_tasks, p)) + " empty tasks, chunk 1";
    };
    return {name,
            [=](Team& team, int p) {
              FarmOptions o;  // a dedicated master under MPI, as `parakit farm` runs
              o.chunk = Chunking::fixed(1);
              const std::uint64_t count = scaling.grown(empty_tasks, p);
              const auto result = workloads::run_queue_demo(team, count, o);
              if (team.rank() == 0 && result.sum != count * (count - 1) / 2) {
                throw InternalError("bench farm-empty: wrong sum");
              }
              return result.report.seconds;
            },
            problem, 0, empty_task_limit(problem, [=](int p) {
              return static_cast<double>(scaling.grown(empty_tasks, p));
            })};
  }
  return {name,
          [=](Team& team, int p) {
            FarmOptions o;
            o.master_computes = true;  // p workers on p ranks
            o.chunk = Chunking::fixed(1);
            return workloads::run_cost_demo(team, scaling.grown(tasks, p), cost,
                                            workloads::CostMode::spin, 1, o)
                .report.seconds;
          },
          [=](int p) { return std::to_string(scaling.grown(tasks, p)) + " tasks, " + spec; }, 0,
          std::nullopt};
}

/// `parakit bench`'s farm: tasks of uneven cost, and with --limits empty tasks against the
/// round trip between two workers.
std::function<BenchSuite()> add_farm_bench(CLI::App& bench) {
  struct Args {
    std::uint64_t tasks = 400;
    std::uint64_t empty_tasks = 20000;
    std::string cost = "ramp:0.2ms:4ms";
  };
  auto args = std::make_shared<Args>();
  bench.add_option("--farm-tasks", args->tasks, "farm: tasks")
      ->capture_default_str()
      ->check(non_negative());
  bench.add_option("--farm-cost", args->cost, "farm: task costs (uniform|ramp|lognormal)")
      ->capture_default_str();
  bench
      .add_option("--farm-empty-tasks", args->empty_tasks,
                  "farm-empty (with --limits): empty tasks, chunk 1")
      ->capture_default_str()
      ->check(non_negative());
  return [args] {
    const workloads::CostSpec cost = workloads::parse_cost_spec(args->cost);
    if (args->tasks == 0) throw UsageError("--farm-tasks must be at least 1");
    if (args->empty_tasks == 0) throw UsageError("--farm-empty-tasks must be at least 1");
    BenchSuite suite;
    suite.names = {"farm"};
    suite.in_all = {"farm"};
    suite.references = [](const std::string&) {
      return std::vector<std::string>{"farm-empty", "rtt"};
    };
    suite.make = [args = *args, cost](const std::string& name, const Scaling& scaling) {
      return farm_bench_workload(name, scaling, args.tasks, args.empty_tasks, cost, args.cost);
    };
    return suite;
  };
}

}  // namespace

WorkloadSpec farm_workload() {
  return {"farm", "task farm: dynamic master/worker scheduling with a journal (queue pattern)",
          add_farm_options, add_farm_bench};
}

}  // namespace parakit::cli
