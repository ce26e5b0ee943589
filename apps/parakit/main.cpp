// parakit: one executable, one subcommand per workload.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "cli.hpp"
#include "parakit/core/error.hpp"
#include "parakit/runtime/environment.hpp"
#include "parakit/version.hpp"
#include "registry.hpp"

namespace {

/// Exit code for an error found before MPI started, which every rank finds alike and only
/// launcher rank 0 prints. Under mpirun the first rank to exit non-zero gets the whole job
/// killed, so the other ranks linger a moment: rank 0's line must never be cut off.
int exit_before_mpi(int code) {
  if (code != parakit::kExitOk && parakit::launched_as_mpi_rank() &&
      parakit::launcher_rank() != 0) {
    std::this_thread::sleep_for(std::chrono::seconds(2));
  }
  return code;
}

/// The whole command line: the subcommands (one per registered workload, then the tools),
/// parsing, and the chosen command's run.
int run_cli(int argc, char** argv) {
  using namespace parakit;
  CLI::App app{
      "parakit: parallel sum, task farm, kernel density estimation and Monte Carlo pi on MPI "
      "ranks and threads",
      "parakit"};
  app.set_version_flag("--version", std::string("parakit ") + kVersion);
  app.require_subcommand(1, 1);
  app.fallthrough(false);
  std::vector<cli::Subcommand> commands;
  for (const auto& workload : cli::workload_registry()) {
    commands.push_back(cli::add_workload_command(app, workload));
  }
  commands.push_back(cli::add_bench_command(app));
  commands.push_back(cli::add_info_command(app));
  commands.push_back(cli::add_journal_command(app));

  std::string known;
  bool is_known = argc < 2 || argv[1][0] == '-';
  for (const auto& command : commands) {
    known += (known.empty() ? "" : ", ") + command.app->get_name();
    is_known = is_known || command.app->check_name(argv[1]);
  }
  if (argc < 2) {
    if (launcher_rank() == 0)
      cli::print_error("a command is required (" + known + "); see parakit --help");
    return exit_before_mpi(kExitUsage);
  }
  if (!is_known) {
    if (launcher_rank() == 0) {
      cli::print_error("unknown command '" + std::string(argv[1]) + "' (expected " + known + ")");
    }
    return exit_before_mpi(kExitUsage);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    if (error.get_exit_code() == 0) {  // --help, --version
      if (launcher_rank() == 0) app.exit(error);
      return kExitOk;
    }
    if (launcher_rank() == 0) cli::print_error(error.what());
    return exit_before_mpi(kExitUsage);
  }

  try {
    for (auto& command : commands) {
      if (command.app->parsed()) return command.run();
    }
    return exit_before_mpi(kExitUsage);
  } catch (const Error& error) {  // raised before MPI started (bad --backend, --threads)
    // Usage errors are the same on every rank: rank 0 speaks. Others may be rank-local.
    if (launcher_rank() == 0 || error.exit_code() != kExitUsage) cli::print_error(error.what());
    return exit_before_mpi(error.exit_code());
  } catch (const std::exception& error) {
    cli::print_error(std::string("internal error: ") + error.what());
    return kExitInternal;
  }
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run_cli(argc, argv);
  } catch (...) {  // the parser's own failures (out of memory): no exception leaves main
    std::fputs("parakit: error: internal error while reading the command line\n", stderr);
    return parakit::kExitInternal;
  }
}
