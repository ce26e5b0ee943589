// Shared plumbing of the parakit subcommands: common options, the run wrapper that turns
// errors into one line and an exit code, and rank-0 output.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "parakit/core/progress.hpp"
#include "parakit/runtime/environment.hpp"

namespace parakit::cli {

/// Options every subcommand takes.
struct CommonOptions {
  std::string backend = "auto";
  std::optional<int> threads;
  bool json = false;
};

void add_common_options(CLI::App& command, CommonOptions& options);

/// --progress and --progress-interval, which the long-running commands share.
struct ProgressArgs {
  bool progress = false;
  std::string interval = "10";
};

/// Adds --progress and --progress-interval to `command`; `share` says, for --help, what rank 0
/// reports under MPI (empty: nothing to add).
void add_progress_options(CLI::App& command, ProgressArgs& args, const std::string& share = "");

/// The checked options (UsageError on a bad interval): enabled with --progress or when stderr
/// is a terminal. The caller also disables them on every rank but the output rank.
ProgressOptions progress_options(const ProgressArgs& args);

/// Refuses a negative value for an unsigned option, which CLI11 would otherwise wrap
/// (--seed -1 read as 2^64 - 1).
const CLI::Validator& non_negative();

/// A registered subcommand: its CLI11 node and what runs when it is chosen.
struct Subcommand {
  CLI::App* app = nullptr;
  std::function<int()> run;
};

/// The tools beside the registered workloads (registry.hpp).
Subcommand add_info_command(CLI::App& root);
Subcommand add_bench_command(CLI::App& root);
Subcommand add_journal_command(CLI::App& root);

/// Sets up the Environment from `common`, runs body(env) and returns the exit code.
/// Errors all ranks agreed on are printed once (by rank 0); an error only this rank saw is
/// printed here and ends the whole job (MPI_Abort) so no rank waits forever.
int run_with_environment(const CommonOptions& common, const std::function<int(Environment&)>& body);

/// Whether this process prints results: rank 0 of the team, and under a launcher that
/// started several copies with a non-mpi backend, only the launcher's rank 0.
bool is_output_rank(const Team& team);
bool is_output_rank(const Environment& env);

/// Prints "parakit: error: <first line of message>" on stderr.
void print_error(const std::string& message);

/// Writes `value` as one JSON object line on stdout.
void print_json(const nlohmann::json& value);

/// A double as JSON: a number that round-trips exactly, or "inf", "-inf", "nan".
nlohmann::json json_double(double value);

/// The commit this binary was built from (short hash, "-dirty" with local changes, or
/// "unknown"), taken at build time.
const char* git_commit() noexcept;
/// The MPI library's name and version ("Open MPI v4.1.4").
std::string mpi_library_version();

/// "%.17g", which round-trips every double.
std::string format_double(double value);

}  // namespace parakit::cli
