// A farm that runs shell commands from C++: the command runner (workloads/commands.hpp) as a
// library type. Each task is one command line with substitutions ({id}, {#}, {rank}, {slot},
// {host}); it runs under /bin/sh in a process group of its own, its output in per-task log
// files, and the farm hands its exit status to rank 0. The executors are dedicated threads, so
// a blocking command never delays a rank's messaging.
//
//   shell_farm LOGDIR [TASKS]                    (threads)
//   mpirun -np 4 shell_farm LOGDIR [TASKS]       (ranks)
//
// Task i prints i^2 (the command "echo $(({id} * {id}))"); rank 0 reads the logs back and
// prints "TASKS OK SUM", the sum of the squares, n (n - 1) (2n - 1) / 6. (Across nodes, LOGDIR
// must be on a file system every node shares: rank 0 reads the logs back.)
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "parakit/backend/collective.hpp"
#include "parakit/core/parse.hpp"
#include "parakit/core/system.hpp"
#include "parakit/patterns/farm.hpp"
#include "parakit/runtime/program.hpp"
#include "parakit/workloads/commands.hpp"

int main(int argc, char** argv) {
  namespace wl = parakit::workloads;
  return parakit::run_program("shell_farm", argc, argv, [](parakit::Team& team, auto args) {
    wl::CommandOptions run;
    std::uint64_t n = 100;
    parakit::collectively(team.comm(), [&] {
      if (args.empty()) throw parakit::UsageError("give a LOGDIR");
      run.logdir = args[0];
      if (args.size() > 1) n = parakit::parse_count(args[1], "TASKS");
      if (n == 0) throw parakit::UsageError("TASKS must be at least 1");
      wl::check_logdir(run.logdir);  // a log directory that cannot be written: stop here
    });
    std::vector<wl::CommandTask> tasks;
    for (std::uint64_t i = 0; i < n; ++i) tasks.push_back({i, "echo $(({id} * {id}))"});
    parakit::FarmOptions options;
    options.dedicated_executors = true;
    const std::string host = parakit::host_name();
    const auto report = parakit::farm(
        team, tasks,
        [&](const wl::CommandTask& task, const parakit::TaskContext& where) {
          return wl::run_command(task, {task.id, where.rank, host, where.slot}, run);
        },
        [](const parakit::FarmItem<wl::CommandResult>&) {}, options);
    if (team.rank() != 0) return 0;
    std::uint64_t sum = 0;  // each task's stdout, from its log file
    for (std::uint64_t i = 0; i < n; ++i) {
      std::ifstream out(wl::command_stdout_path(run.logdir, i));
      std::uint64_t square = 0;
      if (!(out >> square))
        throw parakit::InputError("no number in the log of task " + std::to_string(i));
      sum += square;
    }
    std::printf("%llu %llu %llu\n", static_cast<unsigned long long>(report.tasks),
                static_cast<unsigned long long>(report.ok), static_cast<unsigned long long>(sum));
    return report.ok == report.tasks ? 0 : 1;
  });
}
