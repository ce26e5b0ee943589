#include "cli.hpp"

#include "library_terms.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <thread>

#include <unistd.h>

#include "parakit/backend/collective.hpp"
#include "parakit/core/error.hpp"
#include "parakit/core/parse.hpp"
#include "parakit/core/system.hpp"

namespace parakit::cli {

void add_common_options(CLI::App& command, CommonOptions& options) {
  command
      .add_option("--backend", options.backend,
                  "auto|mpi|threads|serial (auto: mpi under mpirun/srun)")
      ->capture_default_str();
  command.add_option("--threads", options.threads,
                     "threads per process (default: CPUs in the affinity mask on threads; "
                     "SLURM_CPUS_PER_TASK or 1 per rank under mpi)");
  command.add_flag("--json", options.json, "print one JSON object on stdout (rank 0)");
}

void add_progress_options(CLI::App& command, ProgressArgs& args, const std::string& share) {
  std::string help =
      "a progress line on stderr, printed by rank 0 (default: when stderr is a terminal, "
      "where it is rewritten in place); never on stdout or in --json";
  if (!share.empty()) help += "; " + share;
  command.add_flag("--progress", args.progress, help);
  command
      .add_option("--progress-interval", args.interval,
                  "seconds between --progress lines when stderr is not a terminal (a log)")
      ->capture_default_str();
}

ProgressOptions progress_options(const ProgressArgs& args) {
  ProgressOptions options;
  options.interval = parse_seconds(args.interval, "--progress-interval");
  if (!(options.interval > 0)) {
    throw UsageError("--progress-interval must be positive, got '" + args.interval + "'");
  }
  options.enabled = args.progress || isatty(STDERR_FILENO) == 1;
  return options;
}

const CLI::Validator& non_negative() {
  static const CLI::Validator validator(
      [](std::string& value) {
        return value.starts_with('-') ? std::string("must not be negative") : std::string();
      },
      "", "NONNEGATIVE");
  return validator;
}

bool is_output_rank(const Environment& env) {
  if (env.backend() == BackendKind::mpi) return env.world().rank() == 0;
  return launcher_rank() == 0;
}

bool is_output_rank(const Team& team) {
  if (team.kind() == BackendKind::mpi) return team.rank() == 0;
  return team.rank() == 0 && launcher_rank() == 0;
}

void print_error(const std::string& message) {
  std::fflush(stdout);
  const std::string text = in_cli_terms(message);
  const std::string line = text.substr(0, text.find('\n'));
  std::fprintf(stderr, "parakit: error: %s\n", line.c_str());
  std::fflush(stderr);
}

void print_json(const nlohmann::json& value) {
  std::cout << value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
}

nlohmann::json json_double(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  return value;  // nlohmann writes the shortest digits that round-trip
}

std::string format_double(double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.17g", value);
  return buffer;
}

namespace {

/// Open MPI binds each rank to one core by default for small jobs, so `--threads 4` would
/// stack four threads on one core. Say so once instead of silently running slowly.
void warn_if_oversubscribed(const Environment& env) {
  const Comm world = env.world();
  const int cpus = affinity_cpu_count();
  const int worst = world.all_reduce(env.threads() > cpus ? cpus : 0, ops::max{});
  if (worst > 0 && is_output_rank(env)) {
    std::fprintf(stderr,
                 "parakit: warning: %d threads per rank but a rank may only use %d CPU%s; "
                 "bind wider (mpirun --map-by slot:PE=%d, or --bind-to none) or lower --threads\n",
                 env.threads(), worst, worst == 1 ? "" : "s", env.threads());
  }
}

/// A rank other than 0 with an error of its own waits this long before printing it and
/// aborting, so that rank 0's abort (when it failed too) comes first.
void pause_before_abort() {
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
}

}  // namespace

int run_with_environment(const CommonOptions& common,
                         const std::function<int(Environment&)>& body) {
  RuntimeOptions options;
  options.backend = common.backend;
  options.threads = common.threads;
  Environment env(options);  // UsageError here happens before MPI starts, on every rank alike
  try {
    warn_if_oversubscribed(env);
    return body(env);
  } catch (const AgreedError& error) {
    if (is_output_rank(env)) print_error(error.what());
    return error.exit_code();
  } catch (const Error& error) {
    // Not agreed: this rank alone may have seen it, so it ends the job (MPI_Abort). When
    // every rank hits the same error, rank 0's abort ends the others during their pause,
    // and the line is printed once.
    if (env.world().size() > 1 && env.world().rank() != 0) pause_before_abort();
    print_error(error.what());
    if (env.world().size() > 1) env.world().abort(error.exit_code());
    return error.exit_code();
  } catch (const std::exception& error) {
    if (env.world().size() > 1 && env.world().rank() != 0) pause_before_abort();
    print_error(std::string("internal error: ") + error.what());
    if (env.world().size() > 1) env.world().abort(kExitInternal);
    return kExitInternal;
  }
}

std::string mpi_library_version() {
  char text[MPI_MAX_LIBRARY_VERSION_STRING] = {};
  int length = 0;
  MPI_Get_library_version(text, &length);  // allowed before MPI_Init
  std::string version(text, static_cast<std::size_t>(length));
  const auto end = version.find_first_of(",\n");
  return version.substr(0, end);
}

}  // namespace parakit::cli
