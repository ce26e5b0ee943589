// A farm of shell commands, one per line of a file, run by the farm on every
// rank's executors, with per-task logs, a journal, GNU parallel's job log and a report.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "parakit/backend/team.hpp"
#include "parakit/patterns/farm_options.hpp"
#include "parakit/patterns/farm_report.hpp"

namespace parakit::workloads {

struct CommandsRunOptions {
  std::string file;                     ///< the commands file (read on rank 0)
  std::string logdir = "parakit-logs";  ///< may hold placeholders
  double timeout_s = 0;                 ///< per command; 0 = none
  double kill_grace_s = 2;              ///< TERM -> KILL for a timed-out group
  std::string joblog;                   ///< GNU parallel job log; empty = none
};

struct CommandsReport {
  FarmReport report;
  std::map<int, std::uint64_t> exit_codes;  ///< exit code (-1: timeout / signal) -> count
  std::string failed_list;                  ///< path of `<journal>.failed`, if written
};

/// Runs the commands file through `farm` with `options` (slots = commands at once per rank;
/// the journal identity and per-command hashes are set here). Collective.
CommandsReport run_commands(Team& team, const CommandsRunOptions& run, FarmOptions options);

}  // namespace parakit::workloads
