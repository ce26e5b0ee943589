// The workload registry: each workload parakit runs is described once, by a WorkloadSpec (its
// name, its command-line options, its run on a team and its benchmark suite). main.cpp makes a
// subcommand of every entry and `parakit bench` builds its workloads from the same entries, so
// a new workload is a library pair (header and source), one app file holding its spec, and one
// line in registry.cpp.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cli.hpp"
#include "parakit/backend/team.hpp"

namespace parakit::cli {

/// What a workload run reports, on the output rank: the summary a person reads and the JSON
/// object `--json` prints, plus the process's exit code (the same on every rank).
struct Report {
  std::string text;
  nlohmann::json json = nlohmann::json::object();
  int exit_code = 0;
  /// Lines printed on stderr after the report ("parakit: warning: ...").
  std::vector<std::string> messages;
  /// Set where the JSON form is too large to build in memory (the KDE's densities): prints
  /// the document instead of `json`.
  std::function<void()> print_json_document;
  /// Kept alive until the report is printed (the farm's signal handlers).
  std::shared_ptr<const void> keep_until_printed;
};

/// A workload's run once its options are checked: collective over `team`; every rank returns,
/// and the output rank's report is printed.
using TeamRun = std::function<Report(Team&)>;

/// Adds a workload's options to its subcommand. What it returns is called once the command line
/// is parsed: it checks the options (a UsageError there ends the process before MPI starts) and
/// returns the run. `common` holds --backend, --threads and --json once parsed.
using CommandSetup =
    std::function<std::function<TeamRun()>(CLI::App& command, const CommonOptions& common)>;

/// How a problem grows with the worker count p: strong scaling keeps it, weak scaling keeps the
/// work per worker (sizes x p; sqrt(p) for work quadratic in the size).
struct Scaling {
  bool weak = false;
  std::uint64_t grown(std::uint64_t base, int p) const;
  std::uint64_t grown_sqrt(std::uint64_t base, int p) const;
};

/// A workload's comparison with a reference workload at the same p (`parakit bench --limits`).
struct BenchLimit {
  std::string reference;  ///< the bench workload it is measured against
  int reference_p = 0;    ///< the reference's p, when it runs at one p only (0: the same p)
  /// The fields it adds to its "limits" entry, and the line the text report prints, from both
  /// medians (seconds) at p.
  std::function<std::pair<nlohmann::json, std::string>(int p, double seconds,
                                                       double reference_seconds)>
      compare;
};

/// A workload as `parakit bench` times it: kernel seconds on a team of p workers (the max over
/// its ranks), and a description of the problem it solves at p.
struct BenchWorkload {
  BenchWorkload(std::string name_, std::function<double(Team&, int p)> run_,
                std::function<std::string(int p)> problem_, int only_p_ = 0,
                std::optional<BenchLimit> limit_ = std::nullopt)
      : name(std::move(name_)),
        run(std::move(run_)),
        problem(std::move(problem_)),
        only_p(only_p_),
        limit(std::move(limit_)) {}

  std::string name;
  std::function<double(Team&, int p)> run;
  std::function<std::string(int p)> problem;
  int only_p = 0;  ///< > 0: a reference between two workers, timed at this p alone
  std::optional<BenchLimit> limit;
};

/// The benchmark workloads one registry entry offers, once `parakit bench`'s options are parsed.
struct BenchSuite {
  std::vector<std::string> names;   ///< every workload it offers, in the order they run
  std::vector<std::string> in_all;  ///< the ones `parakit bench all` runs
  /// Names that stand for several workloads ("kde" for kde-grid and kde-cv).
  std::vector<std::pair<std::string, std::vector<std::string>>> groups;
  /// The references `--limits` adds after a workload (sum -> sum-probe); none by default.
  std::function<std::vector<std::string>(const std::string& name)> references =
      [](const std::string&) { return std::vector<std::string>{}; };
  /// Builds the workload `name` (one of `names` or a reference).
  std::function<BenchWorkload(const std::string& name, const Scaling& scaling)> make;
};

/// Adds a workload's options to `parakit bench` (prefixed by its name); what it returns is
/// called once they are parsed, checks them and returns the suite.
using BenchSetup = std::function<std::function<BenchSuite()>(CLI::App& bench)>;

/// One workload, described once.
struct WorkloadSpec {
  std::string name;     ///< the subcommand
  std::string summary;  ///< its one-line description in --help
  CommandSetup command;
  BenchSetup bench;  ///< empty: no bench workloads
};

/// Every workload, in the order --help lists them and `parakit bench all` runs them.
const std::vector<WorkloadSpec>& workload_registry();

/// The subcommand of a registered workload: its options, --backend/--threads/--json, and a run
/// that sets up the environment and the team, runs the workload and prints the output rank's
/// report.
Subcommand add_workload_command(CLI::App& root, const WorkloadSpec& spec);

/// "mpi: 2 ranks x 1 thread = 2 workers", the backend line of the summaries.
std::string team_description(const Team& team);

/// printf into a string (appends).
void appendf(std::string& out, const char* format, ...) __attribute__((format(printf, 2, 3)));

}  // namespace parakit::cli
