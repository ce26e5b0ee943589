// parakit info: what this run would use, and where.
#include <Eigen/Core>
#include <boost/version.hpp>
#include <cstdio>
#include <memory>
#include <string>

#include "cli.hpp"
#include "parakit/core/parse.hpp"
#include "parakit/core/system.hpp"
#include "parakit/version.hpp"

namespace parakit::cli {
namespace {

std::string boost_version() {
  return std::to_string(BOOST_VERSION / 100000) + "." + std::to_string(BOOST_VERSION / 100 % 1000) +
         "." + std::to_string(BOOST_VERSION % 100);
}

std::string eigen_version() {
  return std::to_string(EIGEN_WORLD_VERSION) + "." + std::to_string(EIGEN_MAJOR_VERSION) + "." +
         std::to_string(EIGEN_MINOR_VERSION);
}

}  // namespace

Subcommand add_info_command(CLI::App& root) {
  auto common = std::make_shared<CommonOptions>();
  CLI::App* command =
      root.add_subcommand("info", "show the backend, ranks, threads, hosts and versions");
  add_common_options(*command, *common);
  return {command, [common] {
            return run_with_environment(*common, [&](Environment& env) {
              Team team = env.make_team();
              const std::vector<std::string> hosts = team.comm().all_gather(host_name());
              const std::vector<int> cpus = team.comm().all_gather(affinity_cpu_count());
              if (!is_output_rank(team)) return 0;
              const auto memory = available_memory_bytes();
              nlohmann::json info{
                  {"command", "info"},
                  {"parakit", kVersion},
                  {"backend", to_string(team.kind())},
                  {"ranks", team.ranks()},
                  {"threads", team.threads()},
                  {"workers", team.workers()},
                  {"hosts", hosts},
                  {"cpus_per_rank", cpus},
                  {"mpi", mpi_library_version()},
                  {"boost", boost_version()},
                  {"eigen", eigen_version()},
                  {"build_type", PARAKIT_BUILD_TYPE},
                  {"compiler", PARAKIT_CXX_COMPILER},
                  {"launched_as_mpi_rank", launched_as_mpi_rank()},
                  {"memory_available_bytes", memory ? *memory : 0},
              };
              if (common->json) {
                print_json(info);
                return 0;
              }
              std::printf("parakit %s (%s build, %s)\n", kVersion, PARAKIT_BUILD_TYPE,
                          PARAKIT_CXX_COMPILER);
              std::printf("backend   %s\n", std::string(to_string(team.kind())).c_str());
              std::printf("ranks     %d\n", team.ranks());
              std::printf("threads   %d per rank (%d workers)\n", team.threads(), team.workers());
              for (std::size_t r = 0; r < hosts.size(); ++r) {
                std::printf("rank %-4zu %s (%d CPUs)\n", r, hosts[r].c_str(), cpus[r]);
              }
              std::printf("mpi       %s\n", mpi_library_version().c_str());
              std::printf("boost     %s\n", boost_version().c_str());
              std::printf("eigen     %s\n", eigen_version().c_str());
              if (memory)
                std::printf("memory    %s available\n",
                            format_bytes(static_cast<double>(*memory)).c_str());
              return 0;
            });
          }};
}

}  // namespace parakit::cli
