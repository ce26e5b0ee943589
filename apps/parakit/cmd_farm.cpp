// parakit farm: the task farm (queue demo, uneven-cost demo, or a file of shell commands).
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli.hpp"
#include "library_terms.hpp"
#include "parakit/core/error.hpp"
#include "parakit/core/parse.hpp"
#include "parakit/core/signals.hpp"
#include "parakit/core/system.hpp"
#include "parakit/io/codec.hpp"
#include "parakit/patterns/farm_options.hpp"
#include "parakit/patterns/farm_report.hpp"
#include "parakit/workloads/commands_farm.hpp"
#include "parakit/workloads/farm_demos.hpp"

namespace parakit::cli {
namespace {

struct FarmArgs {
  CommonOptions common;
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
  bool progress = false;
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

void print_workers(const FarmReport& report) {
  if (report.workers.empty()) return;
  std::printf("  %-7s %5s %5s %12s %12s %6s\n", "worker", "rank", "slot", "tasks", "busy s",
              "util");
  const std::size_t shown = std::min<std::size_t>(report.workers.size(), 32);
  for (std::size_t i = 0; i < shown; ++i) {
    const auto& w = report.workers[i];
    std::printf("  %-7d %5d %5d %12llu %12.4f %5.1f%%\n", w.worker, w.rank, w.slot,
                static_cast<unsigned long long>(w.tasks), w.busy_seconds,
                w.wall_seconds > 0 ? 100.0 * w.busy_seconds / w.wall_seconds : 0.0);
  }
  if (shown < report.workers.size()) {
    std::printf("  ... %zu more workers (see --json)\n", report.workers.size() - shown);
  }
  std::printf("  imbalance  %.3f (max/mean busy)   utilisation %.1f%%\n", report.imbalance(),
              100.0 * report.utilisation());
}

}  // namespace

Subcommand add_farm_command(CLI::App& root) {
  auto args = std::make_shared<FarmArgs>();
  CLI::App* command = root.add_subcommand(
      "farm", "task farm: dynamic master/worker scheduling with a journal (queue pattern)");
  command->add_option("--demo", args->demo, "queue (sum 0..N-1 through the queue) or cost");
  command->add_option("--commands", args->commands,
                      "run each line of FILE with /bin/sh -c (ids = 0-based line numbers)");
  command->add_option("--tasks", args->tasks, "number of demo tasks")->capture_default_str();
  command
      ->add_option("--cost", args->cost,
                   "cost demo: uniform:LO:HI, lognormal:MEDIAN:SIGMA or ramp:LO:HI")
      ->capture_default_str();
  command->add_option("--cost-mode", args->cost_mode, "cost demo: spin or sleep")
      ->capture_default_str();
  command->add_option("--seed", args->seed, "cost demo: seed of the costs")->capture_default_str();
  command
      ->add_option("--schedule", args->schedule,
                   "dynamic (workers pull chunks) or static (one contiguous block each)")
      ->capture_default_str();
  command->add_option("--chunk", args->chunk,
                      "tasks per request: N or guided[:MIN] (default guided; 1 for --commands)");
  command->add_option("--in-flight", args->in_flight, "chunks each executor holds at once")
      ->capture_default_str();
  command->add_flag("--master-computes", args->master_computes,
                    "rank 0 also runs tasks (default: only with one rank)");
  command->add_option("--retries", args->retries, "extra attempts for a failing task")
      ->capture_default_str();
  command->add_flag("--ordered", args->ordered, "deliver results in task order");
  command->add_option("--journal", args->journal,
                      "append every result to FILE (checksummed records) so a run can resume");
  command->add_flag("--resume", args->resume, "skip the tasks already in --journal");
  command->add_flag("--resume-failed", args->resume_failed,
                    "with --resume, also rerun the tasks recorded as failed");
  command->add_flag("--force-resume", args->force_resume,
                    "resume past a corrupt journal record or a changed commands file");
  command
      ->add_option("--fsync-interval", args->fsync_interval,
                   "seconds between journal fsyncs (records are written at once)")
      ->capture_default_str();
  command->add_flag("--progress", args->progress,
                    "progress line on stderr (default: when stderr is a terminal)");
  command->add_option("--tasks-per-rank", args->tasks_per_rank,
                      "--commands: commands each rank runs at once (default: --threads)");
  command->add_option("--timeout", args->timeout, "--commands: seconds per command (0: none)")
      ->capture_default_str();
  command
      ->add_option("--kill-grace", args->kill_grace,
                   "--commands: seconds between TERM and KILL on timeout")
      ->capture_default_str();
  command
      ->add_option("--logdir", args->logdir,
                   "--commands: per-task stdout/stderr under DIR/<id/1000>/<id>.{out,err}")
      ->capture_default_str();
  command->add_option("--joblog", args->joblog, "--commands: GNU parallel job log FILE");
  command->add_option("--fail-every", args->fail_every,
                      "demos, for testing: tasks with id % K == K-1 throw");
  command->add_option("--fail-attempts", args->fail_attempts,
                      "with --fail-every: throw only on the first A attempts");
  add_common_options(*command, args->common);

  return {
      command, [args] {
        const bool commands = !args->commands.empty();
        if (commands && !args->demo.empty()) {
          throw UsageError("--demo and --commands cannot be combined");
        }
        const std::string demo =
            commands ? "commands" : (args->demo.empty() ? "queue" : args->demo);
        if (demo != "queue" && demo != "cost" && demo != "commands") {
          throw UsageError("--demo must be queue or cost, not '" + demo + "'");
        }
        FarmOptions options;
        options.schedule = parse_schedule(args->schedule);
        options.chunk =
            parse_chunking(args->chunk.empty() ? (commands ? "1" : "guided") : args->chunk);
        if (args->in_flight < 1) throw UsageError("--in-flight must be at least 1");
        options.in_flight = args->in_flight;
        if (args->master_computes) options.master_computes = true;
        if (args->retries < 0) throw UsageError("--retries must not be negative");
        options.retries = args->retries;
        options.ordered = args->ordered;
        if ((args->resume || args->resume_failed || args->force_resume) && args->journal.empty()) {
          throw UsageError("--resume, --resume-failed and --force-resume need --journal");
        }
        options.journal.path = args->journal;
        options.journal.resume = args->resume || args->resume_failed;
        options.journal.resume_failed = args->resume_failed;
        options.journal.force_resume = args->force_resume;
        options.journal.fsync_interval = parse_seconds(args->fsync_interval, "--fsync-interval");
        options.progress = args->progress || isatty(STDERR_FILENO) == 1;
        options.label = "farm " + demo;
        if (args->tasks_per_rank < 0) throw UsageError("--tasks-per-rank must be positive");
        const std::uint64_t tasks = commands ? 0 : parse_count(args->tasks, "--tasks");
        if (demo == "queue") workloads::check_queue_demo_size(tasks);  // before MPI starts
        workloads::CostSpec cost;
        workloads::CostMode cost_mode = workloads::CostMode::spin;
        if (demo == "cost") {
          cost = workloads::parse_cost_spec(args->cost);
          cost_mode = workloads::parse_cost_mode(args->cost_mode);
        }
        workloads::CommandsRunOptions run;
        if (commands) {
          run.file = args->commands;
          run.logdir = args->logdir;
          run.timeout_s = parse_seconds(args->timeout, "--timeout");
          run.kill_grace_s = parse_seconds(args->kill_grace, "--kill-grace");
          run.joblog = args->joblog;
          options.slots = args->tasks_per_rank;
        }
        // The journal's identity: what the task list is made of.
        const std::string identity = demo == "queue"  ? "queue " + std::to_string(tasks)
                                     : demo == "cost" ? "cost " + std::to_string(tasks) + " " +
                                                            workloads::to_string(cost) + " " +
                                                            std::to_string(args->seed)
                                                      : "commands";
        options.journal.kind = "farm " + demo;
        options.journal.identity_key = identity;
        const workloads::FailurePlan failures{args->fail_every, args->fail_attempts};

        return run_with_environment(args->common, [&](Environment& env) {
          StopOnSignal signals;
          options.stop_requested = [] { return StopOnSignal::requested(); };
          Team team = env.make_team();
          FarmReport report;
          nlohmann::json extra = nlohmann::json::object();
          std::string headline;
          if (demo == "queue") {
            const auto result = workloads::run_queue_demo(team, tasks, options, failures);
            report = result.report;
            extra["result"] = result.sum;
            headline = "  result     " + std::to_string(result.sum) + "\n";
          } else if (demo == "cost") {
            const auto result = workloads::run_cost_demo(team, tasks, cost, cost_mode, args->seed,
                                                         options, failures);
            report = result.report;
            extra["cost"] = workloads::to_string(cost);
            extra["cost_seconds"] = result.total_cost_seconds;
            extra["efficiency"] = result.efficiency;
            char line[128];
            std::snprintf(line, sizeof line, "  cost       %.4f s of work, efficiency %.3f\n",
                          result.total_cost_seconds, result.efficiency);
            headline = line;
          } else {
            // Commands inherit the rank's CPU binding: 4 per rank on a rank bound to one
            // core share that core. Say so instead of running slowly.
            const int per_rank = options.slots > 0 ? options.slots : team.threads();
            const int cpus = affinity_cpu_count();
            const int worst = team.comm().all_reduce(per_rank > cpus ? cpus : 0, ops::max{});
            if (worst > 0 && is_output_rank(team)) {
              std::fprintf(stderr,
                           "parakit: warning: %d commands at once per rank but a rank may only "
                           "use %d CPU%s; bind wider (mpirun --bind-to none, or srun "
                           "--cpus-per-task) or lower --tasks-per-rank\n",
                           per_rank, worst, worst == 1 ? "" : "s");
            }
            const auto result = workloads::run_commands(team, run, options);
            report = result.report;
            nlohmann::json codes = nlohmann::json::object();
            std::vector<std::pair<std::uint64_t, int>> top;
            for (const auto& [code, count] : result.exit_codes) top.emplace_back(count, code);
            std::sort(top.rbegin(), top.rend());
            headline = "  exit codes";
            for (std::size_t i = 0; i < top.size(); ++i) {
              codes[std::to_string(top[i].second)] = top[i].first;
              if (i < 5) {
                headline +=
                    " " + std::to_string(top[i].second) + ":" + std::to_string(top[i].first);
              }
            }
            headline += "\n";
            extra["exit_codes"] = codes;
            extra["timed_out"] = report.timed_out;
            if (!result.failed_list.empty()) {
              extra["failed_list"] = result.failed_list;
              headline += "  failed     listed in " + result.failed_list + "\n";
            }
          }
          // A signal may have reached only some ranks; every rank reports the same one.
          const int signal = team.comm().all_reduce(StopOnSignal::received(), ops::max{});
          if (is_output_rank(team)) {
            if (!report.journal_warning.empty()) {
              std::fprintf(stderr, "parakit: warning: %s\n",
                           in_cli_terms(report.journal_warning).c_str());
            }
            const double rate =
                report.seconds > 0
                    ? static_cast<double>(report.ok + report.failed - report.resumed) /
                          report.seconds
                    : 0.0;
            if (args->common.json) {
              nlohmann::json out{{"command", "farm"},
                                 {"mode", demo},
                                 {"tasks", report.tasks},
                                 {"done", report.ok},
                                 {"failed", report.failed},
                                 {"timed_out", report.timed_out},
                                 {"interrupted", report.interrupted},
                                 {"not_run", report.not_run},
                                 {"resumed", report.resumed},
                                 {"retried", report.retried},
                                 {"seconds", report.seconds},
                                 {"tasks_per_second", rate},
                                 {"checksum", hex64(report.checksum)},
                                 {"stopped", report.stopped},
                                 {"signal", signal == 0 ? nlohmann::json(nullptr)
                                                        : nlohmann::json(signal_name(signal))},
                                 {"backend", to_string(team.kind())},
                                 {"ranks", team.ranks()},
                                 {"threads", team.threads()},
                                 {"schedule", to_string(options.schedule)},
                                 {"chunk", to_string(options.chunk)},
                                 {"imbalance", report.imbalance()},
                                 {"utilisation", report.utilisation()},
                                 {"workers", workers_json(report)}};
              if (!options.journal.path.empty()) out["journal"] = options.journal.path;
              nlohmann::json failures_json = nlohmann::json::array();
              for (const auto& f : report.failures) {
                failures_json.push_back(
                    {{"id", f.id}, {"status", to_string(f.status)}, {"message", f.message}});
              }
              out["failures"] = failures_json;
              out.update(extra);
              print_json(out);
            } else {
              std::printf(
                  "parakit farm (%s): %llu tasks, %s, %d rank%s x %d thread%s, "
                  "%s schedule, chunk %s\n",
                  demo.c_str(), static_cast<unsigned long long>(report.tasks),
                  std::string(to_string(team.kind())).c_str(), team.ranks(),
                  team.ranks() == 1 ? "" : "s", team.threads(), team.threads() == 1 ? "" : "s",
                  std::string(to_string(options.schedule)).c_str(),
                  to_string(options.chunk).c_str());
              std::fputs(headline.c_str(), stdout);
              std::printf("  done       %llu/%llu (resumed %llu)  failed %llu  not run %llu\n",
                          static_cast<unsigned long long>(report.ok),
                          static_cast<unsigned long long>(report.tasks),
                          static_cast<unsigned long long>(report.resumed),
                          static_cast<unsigned long long>(report.failed),
                          static_cast<unsigned long long>(report.not_run));
              for (const auto& f : report.failures) {
                std::printf("  failed     task %llu (%s) %s\n",
                            static_cast<unsigned long long>(f.id),
                            std::string(to_string(f.status)).c_str(), f.message.c_str());
              }
              std::printf("  checksum   %s\n", hex64(report.checksum).c_str());
              std::printf("  time       %.6f s  %.4g tasks/s\n", report.seconds, rate);
              print_workers(report);
            }
            if (report.stopped) {
              std::fflush(stdout);
              std::fprintf(stderr, "parakit: stopped by %s after %llu of %llu tasks; %s\n",
                           signal != 0 ? signal_name(signal) : "a signal on another rank",
                           static_cast<unsigned long long>(report.ok + report.failed),
                           static_cast<unsigned long long>(report.tasks),
                           options.journal.path.empty()
                               ? "no --journal was given, so a rerun starts over"
                               : ("results are in the journal; rerun with --resume --journal " +
                                  options.journal.path + " to continue")
                                     .c_str());
            }
          }
          if (report.stopped) {
            return exit_code_for_signal(signal != 0 ? signal : SIGTERM);
          }
          return report.failed > 0 ? static_cast<int>(kExitTasksFailed) : static_cast<int>(kExitOk);
        });
      }};
}

}  // namespace parakit::cli
