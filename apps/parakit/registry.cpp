#include "registry.hpp"

#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <memory>

namespace parakit::cli {

// Each workload's spec, defined in its cmd_*.cpp.
WorkloadSpec sum_workload();
WorkloadSpec farm_workload();
WorkloadSpec kde_workload();
WorkloadSpec pi_workload();

const std::vector<WorkloadSpec>& workload_registry() {
  static const std::vector<WorkloadSpec> registry{sum_workload(), farm_workload(), kde_workload(),
                                                  pi_workload()};
  return registry;
}

std::uint64_t Scaling::grown(std::uint64_t base, int p) const {
  return weak ? base * static_cast<std::uint64_t>(p) : base;
}

std::uint64_t Scaling::grown_sqrt(std::uint64_t base, int p) const {
  if (!weak) return base;
  return static_cast<std::uint64_t>(std::llround(static_cast<double>(base) * std::sqrt(p)));
}

namespace {

void print_report(const Report& report, bool json) {
  if (json) {
    if (report.print_json_document) {
      report.print_json_document();
    } else {
      print_json(report.json);
    }
  } else {
    std::fputs(report.text.c_str(), stdout);
  }
  std::fflush(stdout);
  for (const auto& line : report.messages) std::fprintf(stderr, "%s\n", line.c_str());
}

}  // namespace

Subcommand add_workload_command(CLI::App& root, const WorkloadSpec& spec) {
  auto common = std::make_shared<CommonOptions>();
  CLI::App* command = root.add_subcommand(spec.name, spec.summary);
  auto setup = spec.command(*command, *common);
  add_common_options(*command, *common);
  return {command, [common, setup] {
            const TeamRun run = setup();
            return run_with_environment(*common, [&](Environment& env) {
              Team team = env.make_team();
              const Report report = run(team);
              if (is_output_rank(team)) print_report(report, common->json);
              return report.exit_code;
            });
          }};
}

std::string team_description(const Team& team) {
  std::string out;
  appendf(out, "%s: %d rank%s x %d thread%s = %d workers",
          std::string(to_string(team.kind())).c_str(), team.ranks(), team.ranks() == 1 ? "" : "s",
          team.threads(), team.threads() == 1 ? "" : "s", team.workers());
  return out;
}

void appendf(std::string& out, const char* format, ...) {
  va_list args;
  va_start(args, format);
  va_list again;
  va_copy(again, args);
  const int length = std::vsnprintf(nullptr, 0, format, args);
  va_end(args);
  if (length > 0) {
    const std::size_t start = out.size();
    out.resize(start + static_cast<std::size_t>(length) + 1);
    std::vsnprintf(out.data() + start, static_cast<std::size_t>(length) + 1, format, again);
    out.resize(start + static_cast<std::size_t>(length));
  }
  va_end(again);
}

}  // namespace parakit::cli
