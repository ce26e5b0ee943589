// parakit bench: strong scaling of the workloads on this launch's backend. Every worker count
// p = 1, 2, ... runs inside the one launch (sub-communicators of the first p ranks under
// mpirun, p threads otherwise), and the repetitions are interleaved across p and workloads
// (1, 2, 4, 1, 2, 4, ...) so drift on a shared machine hits every p alike. The workloads come
// from the registry: each entry adds its options and its suite (registry.hpp).
#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "parakit/backend/collective.hpp"
#include "parakit/core/error.hpp"
#include "parakit/core/progress.hpp"
#include "parakit/core/system.hpp"
#include "parakit/io/atomic_file.hpp"
#include "parakit/io/plot.hpp"
#include "parakit/measure/scaling.hpp"
#include "parakit/version.hpp"
#include "registry.hpp"

namespace parakit::cli {
namespace {

struct BenchArgs {
  CommonOptions common;
  std::vector<std::string> workloads{"all"};
  int reps = 5;
  int max_p = 0;
  std::vector<std::string> out;
  std::string plot;
  std::vector<std::string> compare;
  bool limits = false;
  bool weak = false;
  ProgressArgs progress;
  ProgressOptions progress_options;  // checked, from `progress`
  /// Each registered workload's bench setup, called once the options are parsed.
  std::vector<std::function<BenchSuite()>> suites;
};

/// The registered suites, and the workloads a list of names asks for, in order: "all" and the
/// suites' groups expand; with --limits each workload's references follow it.
class BenchCatalog {
 public:
  explicit BenchCatalog(const BenchArgs& args) {
    for (const auto& setup : args.suites) suites_.push_back(setup());
  }

  std::vector<std::string> expand(const std::vector<std::string>& asked, bool limits) const {
    std::vector<std::string> names;
    for (const auto& name : asked) {
      const std::vector<std::string> members = members_of(name);
      names.insert(names.end(), members.begin(), members.end());
    }
    if (!limits) return names;
    std::vector<std::string> with;
    for (const auto& name : names) {
      with.push_back(name);
      const auto references = suite_of(name).references(name);
      with.insert(with.end(), references.begin(), references.end());
    }
    return with;
  }

  BenchWorkload make(const std::string& name, const Scaling& scaling) const {
    for (const auto& suite : suites_) {
      if (offers(suite, name) || is_reference(suite, name)) return suite.make(name, scaling);
    }
    throw InternalError("bench: no suite makes " + name);
  }

 private:
  static bool offers(const BenchSuite& suite, const std::string& name) {
    return std::find(suite.names.begin(), suite.names.end(), name) != suite.names.end();
  }
  static bool is_reference(const BenchSuite& suite, const std::string& name) {
    return std::any_of(suite.names.begin(), suite.names.end(), [&](const std::string& offered) {
      const auto references = suite.references(offered);
      return std::find(references.begin(), references.end(), name) != references.end();
    });
  }

  const BenchSuite& suite_of(const std::string& name) const {
    for (const auto& suite : suites_) {
      if (offers(suite, name)) return suite;
    }
    throw InternalError("bench: no suite offers " + name);
  }

  std::vector<std::string> members_of(const std::string& name) const {
    std::vector<std::string> members;
    for (const auto& suite : suites_) {
      if (name == "all") members.insert(members.end(), suite.in_all.begin(), suite.in_all.end());
      if (offers(suite, name)) members.push_back(name);
      for (const auto& [group, names] : suite.groups) {
        if (group == name) members.insert(members.end(), names.begin(), names.end());
      }
    }
    if (members.empty())
      throw UsageError("unknown workload '" + name + "' (expected " + known() + ")");
    return members;
  }

  /// "sum, farm, kde, kde-grid, kde-cv, ... or all": each group before its members.
  std::string known() const {
    std::vector<std::string> listed;
    auto list = [&](const std::string& name) {
      if (std::find(listed.begin(), listed.end(), name) == listed.end()) listed.push_back(name);
    };
    for (const auto& suite : suites_) {
      for (const auto& name : suite.names) {
        for (const auto& [group, members] : suite.groups) {
          if (members.front() == name) list(group);
        }
        list(name);
      }
    }
    std::string text;
    for (const auto& name : listed) text += name + ", ";
    if (!text.empty()) text.resize(text.size() - 2);
    return text + " or all";
  }

  std::vector<BenchSuite> suites_;
};

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
    }
  }
  return "unknown";
}

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  return text;
}

nlohmann::json machine_json(const Comm& world) {
  const std::vector<std::string> hosts = world.all_gather(host_name());
  std::vector<std::string> distinct;
  for (const auto& h : hosts) {
    if (std::find(distinct.begin(), distinct.end(), h) == distinct.end()) distinct.push_back(h);
  }
  return {{"cpu", cpu_model()},
          {"cpus", affinity_cpu_count()},
          {"hosts", distinct},
          {"parakit", kVersion},
          {"build_type", kBuildType},
          {"git", git_commit()},
          {"compiler", PARAKIT_CXX_COMPILER},
          {"mpi", mpi_library_version()}};
}

constexpr const char* kCsvHeader = "workload,backend,scaling,p,rep,seconds";

std::string csv_text(const std::vector<measure::Sample>& samples) {
  std::string text = std::string(kCsvHeader) + "\n";
  for (const auto& s : samples) {
    text += s.workload + "," + s.backend + "," + s.scaling + "," + std::to_string(s.p) + "," +
            std::to_string(s.rep) + "," + format_double(s.seconds) + "\n";
  }
  return text;
}

nlohmann::json samples_json(const std::vector<measure::Sample>& samples) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& s : samples) {
    out.push_back({{"workload", s.workload},
                   {"backend", s.backend},
                   {"scaling", s.scaling},
                   {"p", s.p},
                   {"rep", s.rep},
                   {"seconds", s.seconds}});
  }
  return out;
}

nlohmann::json rows_json(const std::vector<measure::ScalingRow>& rows,
                         const std::vector<BenchWorkload>& workloads) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r : rows) {
    const auto w = std::find_if(workloads.begin(), workloads.end(),
                                [&](const BenchWorkload& x) { return x.name == r.workload; });
    out.push_back({{"workload", r.workload},
                   {"backend", r.backend},
                   {"scaling", r.scaling},
                   {"problem", w == workloads.end() ? "" : w->problem(r.p)},
                   {"p", r.p},
                   {"reps", r.time.count},
                   {"median", r.time.median},
                   {"min", r.time.min},
                   {"max", r.time.max},
                   {"speedup", r.speedup},
                   {"efficiency", r.efficiency},
                   {"karp_flatt", r.karp_flatt}});
  }
  return out;
}

/// Samples from a file written by --out (JSON object with "samples", or the CSV).
std::vector<measure::Sample> read_samples(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw InputError(path + ": cannot open");
  std::vector<measure::Sample> samples;
  if (path.ends_with(".json")) {
    nlohmann::json doc;
    try {
      in >> doc;
      for (const auto& s : doc.at("samples")) {
        samples.push_back({s.at("workload").get<std::string>(), s.at("backend").get<std::string>(),
                           s.at("p").get<int>(), s.at("rep").get<int>(),
                           s.at("seconds").get<double>(), s.value("scaling", "strong")});
      }
    } catch (const nlohmann::json::exception& error) {
      throw InputError(path + ": not a parakit bench JSON file (" + error.what() + ")");
    }
  } else {
    std::string line;
    std::getline(in, line);
    // Files from before weak scaling have no scaling column (all strong).
    const bool has_scaling = line == kCsvHeader;
    if (!has_scaling && line != "workload,backend,p,rep,seconds") {
      throw InputError(path + ":1: expected the header " + kCsvHeader);
    }
    const std::size_t columns = has_scaling ? 6 : 5;
    for (int number = 2; std::getline(in, line); ++number) {
      if (line.empty()) continue;
      std::vector<std::string> cells;
      std::size_t start = 0;
      for (std::size_t comma; (comma = line.find(',', start)) != std::string::npos;
           start = comma + 1) {
        cells.push_back(line.substr(start, comma - start));
      }
      cells.push_back(line.substr(start));
      try {
        if (cells.size() != columns) throw std::invalid_argument("cells");
        const std::string scaling = has_scaling ? cells[2] : "strong";
        if (scaling != "strong" && scaling != "weak") throw std::invalid_argument("scaling");
        if (has_scaling) cells.erase(cells.begin() + 2);
        std::size_t used = 0;
        const double seconds = std::stod(cells[4], &used);
        if (used != cells[4].size()) throw std::invalid_argument("seconds");
        samples.push_back(
            {cells[0], cells[1], std::stoi(cells[2]), std::stoi(cells[3]), seconds, scaling});
      } catch (const std::exception&) {
        throw InputError(path + ":" + std::to_string(number) + ": expected " +
                         (has_scaling ? kCsvHeader : "workload,backend,p,rep,seconds"));
      }
    }
  }
  if (samples.empty()) throw InputError(path + ": no samples");
  return samples;
}

/// --compare OLD NEW: median ratios per (workload, backend, p); a change counts only when
/// the two runs' min..max bands do not overlap.
int compare_runs(const std::string& old_path, const std::string& new_path, bool json) {
  const auto old_rows = measure::scaling_table(read_samples(old_path));
  const auto new_rows = measure::scaling_table(read_samples(new_path));
  nlohmann::json rows = nlohmann::json::array();
  int regressions = 0;
  if (!json) {
    std::printf("parakit bench --compare %s %s  (ratio = new/old median time)\n", old_path.c_str(),
                new_path.c_str());
    std::printf("%-15s %-12s %3s %11s %11s %8s  %s\n", "workload", "backend", "p", "old s", "new s",
                "ratio", "verdict");
  }
  for (const auto& n : new_rows) {
    const auto o = std::find_if(old_rows.begin(), old_rows.end(), [&](const auto& r) {
      return r.workload == n.workload && r.backend == n.backend && r.scaling == n.scaling &&
             r.p == n.p;
    });
    if (o == old_rows.end()) continue;
    const double ratio = n.time.median / o->time.median;
    std::string verdict = "same (within noise)";
    if (n.time.min > o->time.max) {
      verdict = "SLOWER";
      ++regressions;
    } else if (n.time.max < o->time.min) {
      verdict = "faster";
    }
    rows.push_back({{"workload", n.workload},
                    {"backend", n.backend},
                    {"scaling", n.scaling},
                    {"p", n.p},
                    {"old_median", o->time.median},
                    {"new_median", n.time.median},
                    {"ratio", ratio},
                    {"verdict", verdict}});
    if (!json) {
      const std::string backend = n.backend + (n.scaling == "weak" ? " weak" : "");
      std::printf("%-15s %-12s %3d %11.5f %11.5f %8.3f  %s\n", n.workload.c_str(), backend.c_str(),
                  n.p, o->time.median, n.time.median, ratio, verdict.c_str());
    }
  }
  if (rows.empty())
    throw InputError("--compare: the two runs have no (workload, backend, scaling, p) in common");
  if (json)
    print_json({{"command", "bench-compare"}, {"rows", rows}, {"regressions", regressions}});
  return 0;
}

/// --plot DIR: speedup (with the ideal line), efficiency and median time against p.
void write_plots(const std::string& dir, const std::vector<measure::ScalingRow>& rows) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) throw InputError("--plot " + dir + ": " + error.message());
  std::vector<std::string> names;
  for (const auto& r : rows) {
    const std::string name = r.workload + " (" + r.backend + ")";
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  }
  int max_p = 1;
  for (const auto& r : rows) max_p = std::max(max_p, r.p);
  auto draw = [&](const std::string& file, const std::string& ylabel, auto value, bool ideal,
                  bool log_y) {
    std::ostringstream gp;
    gp.precision(10);
    for (std::size_t k = 0; k < names.size(); ++k) {
      gp << "$d" << k << " << EOD\n";
      for (const auto& r : rows) {
        if (r.workload + " (" + r.backend + ")" == names[k]) gp << r.p << ' ' << value(r) << '\n';
      }
      gp << "EOD\n";
    }
    gp << "set xlabel 'workers p'\nset ylabel " << io::gnuplot_quote(ylabel)
       << "\nset grid\nset key left top\nset xrange [0.8:" << max_p + 0.2 << "]\n"
       << "set xtics 1\n";
    if (log_y) gp << "set logscale y\n";
    gp << "plot ";
    for (std::size_t k = 0; k < names.size(); ++k) {
      gp << (k ? ", " : "") << "$d" << k << " using 1:2 with linespoints pt 7 title "
         << io::gnuplot_quote(names[k]);
    }
    if (ideal) gp << ", x with lines dt 2 lc rgb 'gray' title 'ideal'";
    gp << "\n";
    io::render_png(dir + "/" + file, gp.str(), 800, 600, "--plot");
  };
  draw(
      "speedup.png", "speedup T1/Tp", [](const auto& r) { return r.speedup; }, true, false);
  draw(
      "efficiency.png", "efficiency", [](const auto& r) { return r.efficiency; }, false, false);
  draw(
      "time.png", "median seconds", [](const auto& r) { return r.time.median; }, false, true);
}

/// The workloads this run times, in order.
std::vector<BenchWorkload> bench_workloads(const BenchArgs& args) {
  const BenchCatalog catalog(args);
  const Scaling scaling{args.weak};
  std::vector<BenchWorkload> workloads;
  for (const auto& name : catalog.expand(args.workloads, args.limits)) {
    workloads.push_back(catalog.make(name, scaling));
  }
  return workloads;
}

/// How many samples run_samples takes.
std::uint64_t sample_count(const std::vector<BenchWorkload>& workloads,
                           const std::vector<int>& steps, int reps) {
  std::uint64_t count = 0;
  for (const int p : steps) {
    for (const auto& workload : workloads) {
      if (workload.only_p == 0 || workload.only_p == p) ++count;
    }
  }
  return count * static_cast<std::uint64_t>(reps);
}

/// Every (rep, p, workload) sample, interleaved: rep-major, then p, then workload. On rank 0.
/// `progress` counts the samples (its ETA is the whole study's, from the samples so far).
std::vector<measure::Sample> run_samples(const Comm& world,
                                         std::map<int, std::optional<Team>>& teams,
                                         const std::vector<BenchWorkload>& workloads,
                                         const std::vector<int>& steps, int reps,
                                         const std::string& backend, const std::string& scaling,
                                         Progress& progress) {
  std::vector<measure::Sample> samples;
  for (int rep = 0; rep < reps; ++rep) {
    for (const int p : steps) {
      for (const auto& workload : workloads) {
        if (workload.only_p > 0 && workload.only_p != p) continue;
        progress.stage(workload.name + " p=" + std::to_string(p) + " rep " +
                       std::to_string(rep + 1) + "/" + std::to_string(reps));
        double seconds = 0;
        world.barrier();
        collectively(world, [&] {
          if (!teams[p]) return;
          try {
            seconds = workload.run(*teams[p], p);
          } catch (const AgreedError& error) {  // agreed on the team, not the world
            throw Error(error.what(), error.exit_code());
          }
        });
        if (world.rank() == 0)
          samples.push_back({workload.name, backend, p, rep, seconds, scaling});
        progress.advance();
      }
    }
  }
  return samples;
}

/// Each workload against its reference (with --limits): the "limits" entries and their lines.
std::pair<nlohmann::json, std::vector<std::string>> limits_of(
    const std::vector<measure::ScalingRow>& rows, const std::vector<BenchWorkload>& workloads) {
  auto median_of = [&](const std::string& workload, int p) {
    for (const auto& r : rows) {
      if (r.workload == workload && r.p == p) return r.time.median;
    }
    return 0.0;
  };
  nlohmann::json limits = nlohmann::json::array();
  std::vector<std::string> lines;
  for (const auto& r : rows) {
    const auto w = std::find_if(workloads.begin(), workloads.end(),
                                [&](const BenchWorkload& x) { return x.name == r.workload; });
    if (w == workloads.end() || !w->limit) continue;
    const BenchLimit& limit = *w->limit;
    const double reference =
        median_of(limit.reference, limit.reference_p > 0 ? limit.reference_p : r.p);
    if (!(reference > 0)) continue;
    auto [fields, line] = limit.compare(r.p, r.time.median, reference);
    nlohmann::json entry{{"workload", r.workload}, {"p", r.p}, {"reference", limit.reference}};
    entry.update(fields);
    limits.push_back(entry);
    lines.push_back(line);
  }
  return {limits, lines};
}

void print_table(const BenchArgs& args, const std::vector<measure::ScalingRow>& rows,
                 const std::vector<BenchWorkload>& workloads) {
  std::printf("%-15s %3s %11s %11s %11s %8s %8s %10s\n", "workload", "p", "median s", "min s",
              "max s", args.weak ? "scaled S" : "speedup", "effic.", "karp-flatt");
  for (const auto& r : rows) {
    const auto w = std::find_if(workloads.begin(), workloads.end(),
                                [&](const BenchWorkload& x) { return x.name == r.workload; });
    if (w != workloads.end() && w->only_p > 0) {  // a reference at one p: no scaling figures
      std::printf("%-15s %3d %11.3g %11.3g %11.3g %8s %8s %10s\n", r.workload.c_str(), r.p,
                  r.time.median, r.time.min, r.time.max, "-", "-", "-");
      continue;
    }
    char karp_flatt[32] = "-";
    if (!args.weak) std::snprintf(karp_flatt, sizeof karp_flatt, "%.3f", r.karp_flatt);
    std::printf("%-15s %3d %11.5f %11.5f %11.5f %8.2f %8.2f %10s\n", r.workload.c_str(), r.p,
                r.time.median, r.time.min, r.time.max, r.speedup, r.efficiency, karp_flatt);
  }
}

/// The teams of the first p workers for each p, and which backend they scale over.
struct BenchTeams {
  std::string backend;
  int max_p = 0;
  std::vector<int> steps;
  std::map<int, std::optional<Team>> teams;
};

BenchTeams bench_teams(const BenchArgs& args, const Team& world_team) {
  const Comm& world = world_team.comm();
  const bool over_ranks = world_team.kind() == BackendKind::mpi && world.size() > 1;
  const int available = over_ranks ? world.size() : world_team.threads();
  BenchTeams out;
  out.max_p = args.max_p > 0 ? args.max_p : available;
  if (out.max_p > available) {
    throw UsageError("--max-p " + std::to_string(out.max_p) + " is more than the " +
                     std::to_string(available) +
                     (over_ranks ? " ranks of this launch" : " threads (--threads)"));
  }
  out.backend = over_ranks ? "mpi" : "threads";
  out.steps = measure::scaling_steps(out.max_p);
  for (const int p : out.steps) out.teams[p] = first_workers(world, p, over_ranks);
  return out;
}

int run_bench(const BenchArgs& args, const std::vector<BenchWorkload>& workloads,
              Environment& env) {
  Team world_team = env.make_team();
  const Comm& world = world_team.comm();
  BenchTeams teams = bench_teams(args, world_team);
  const std::string scaling = args.weak ? "weak" : "strong";
  ProgressOptions progress_options = args.progress_options;
  progress_options.enabled = progress_options.enabled && world.rank() == 0 && is_output_rank(env);
  Progress progress(progress_options, "bench", sample_count(workloads, teams.steps, args.reps),
                    "samples");
  const std::vector<measure::Sample> samples = run_samples(
      world, teams.teams, workloads, teams.steps, args.reps, teams.backend, scaling, progress);
  progress.finish("finished " + std::to_string(samples.size()) + " samples");
  auto rows = measure::scaling_table(samples);
  auto position = [&](const measure::ScalingRow& r) {  // the order they ran in
    return std::find_if(workloads.begin(), workloads.end(),
                        [&](const BenchWorkload& w) { return w.name == r.workload; }) -
           workloads.begin();
  };
  std::stable_sort(rows.begin(), rows.end(),
                   [&](const auto& a, const auto& b) { return position(a) < position(b); });
  const nlohmann::json machine = machine_json(world);
  if (world.rank() != 0) return 0;
  const auto [limits, limit_lines] = limits_of(rows, workloads);
  const nlohmann::json out{{"command", "bench"}, {"backend", teams.backend},
                           {"scaling", scaling}, {"steps", teams.steps},
                           {"reps", args.reps},  {"date", utc_now()},
                           {"machine", machine}, {"rows", rows_json(rows, workloads)},
                           {"limits", limits},   {"samples", samples_json(samples)}};
  for (const auto& path : args.out) {  // the samples first: a plot may still fail
    io::write_file_atomic(path, path.ends_with(".json") ? out.dump(1) + "\n" : csv_text(samples));
  }
  if (!args.plot.empty()) write_plots(args.plot, rows);
  if (args.common.json) {
    print_json(out);
    return 0;
  }
  std::printf("parakit bench: %s scaling, %s, p = 1..%d, %d interleaved reps, %s (%s)\n",
              scaling.c_str(), teams.backend.c_str(), teams.max_p, args.reps,
              machine["cpu"].get<std::string>().c_str(), utc_now().c_str());
  print_table(args, rows, workloads);
  for (const auto& line : limit_lines) std::printf("%s\n", line.c_str());
  return 0;
}

void add_bench_options(CLI::App& command, BenchArgs& args) {
  command
      .add_option("workloads", args.workloads,
                  "what to time: a workload, a group (kde: kde-grid and kde-cv; kde-gauss: "
                  "kde-gauss-grid, kde-gauss-cv and their binned approximations kde-binned-grid, "
                  "kde-binned-cv), or all (every workload but the binned ones)")
      ->capture_default_str();
  command.add_option("--reps", args.reps, "interleaved repetitions per p")->capture_default_str();
  command.add_option("--max-p", args.max_p,
                     "largest worker count (default: all ranks under mpirun, else --threads or "
                     "the CPUs)");
  for (const auto& spec : workload_registry()) {
    if (spec.bench) args.suites.push_back(spec.bench(command));
  }
  command.add_option("--out", args.out, "write every sample to FILE.json or FILE.csv (repeatable)");
  command.add_flag("--limits", args.limits,
                   "also time each workload's reference: a read-bandwidth probe for sum, empty "
                   "tasks and the 8-byte round trip for farm, the naive loop for kde-grid and "
                   "kde-gauss-grid");
  command.add_flag("--weak", args.weak,
                   "weak scaling: the problem grows with p (sizes and the KDE grid's samples x "
                   "p, the CV's samples x sqrt(p)); efficiency = T1/Tp");
  command.add_option("--plot", args.plot,
                     "write speedup.png, efficiency.png and time.png into this directory");
  command
      .add_option("--compare", args.compare,
                  "compare two runs' --out files (JSON or CSV): OLD NEW; runs nothing")
      ->expected(2);
  add_progress_options(command, args.progress,
                       "samples done of the whole study, the workload, p and repetition being "
                       "timed, and the study's ETA; the workloads themselves print none");
  add_common_options(command, args.common);
}

}  // namespace

Subcommand add_bench_command(CLI::App& root) {
  auto args = std::make_shared<BenchArgs>();
  CLI::App* command = root.add_subcommand(
      "bench", "strong scaling of the workloads: speedup, efficiency, Karp-Flatt");
  add_bench_options(*command, *args);
  return {command, [args] {
            if (!args->compare.empty()) {  // a local report: no MPI, launcher rank 0 prints
              if (launcher_rank() != 0) return 0;
              return compare_runs(args->compare[0], args->compare[1], args->common.json);
            }
            if (args->reps < 1) throw UsageError("--reps must be at least 1");
            args->progress_options = progress_options(args->progress);
            for (const auto& path : args->out) {
              const bool ok =
                  path.size() > 5 && (path.ends_with(".json") || path.ends_with(".csv"));
              if (!ok) throw UsageError("--out must name a .json or .csv file, not '" + path + "'");
            }
            const std::vector<BenchWorkload> workloads = bench_workloads(*args);
            if (!args->plot.empty()) io::require_gnuplot("--plot");  // before the runs, not after
            return run_with_environment(
                args->common, [&](Environment& env) { return run_bench(*args, workloads, env); });
          }};
}

}  // namespace parakit::cli
