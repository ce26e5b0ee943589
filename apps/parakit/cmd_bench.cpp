// parakit bench: strong scaling of the workloads on this launch's backend. Every worker count
// p = 1, 2, ... runs inside the one launch (sub-communicators of the first p ranks under
// mpirun, p threads otherwise), and the repetitions are interleaved across p and workloads
// (1, 2, 4, 1, 2, 4, ...) so drift on a shared machine hits every p alike.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "cli.hpp"
#include "parakit/backend/collective.hpp"
#include "parakit/core/buffer.hpp"
#include "parakit/core/error.hpp"
#include "parakit/core/parse.hpp"
#include "parakit/core/system.hpp"
#include "parakit/core/timer.hpp"
#include "parakit/io/atomic_file.hpp"
#include "parakit/io/plot.hpp"
#include "parakit/measure/read_probe.hpp"
#include "parakit/measure/round_trip.hpp"
#include "parakit/measure/scaling.hpp"
#include "parakit/patterns/reduce.hpp"
#include "parakit/version.hpp"
#include "parakit/workloads/farm_demos.hpp"
#include "parakit/workloads/kde.hpp"
#include "parakit/workloads/sum.hpp"

namespace parakit::cli {
namespace {

struct BenchArgs {
  CommonOptions common;
  std::vector<std::string> workloads{"all"};
  int reps = 5;
  int max_p = 0;
  std::string n = "2^25";
  std::uint64_t farm_tasks = 400;
  std::uint64_t farm_empty_tasks = 20000;
  std::string farm_cost = "ramp:0.2ms:4ms";
  std::uint64_t kde_samples = 10000;
  std::string kde_grid = "200x200";
  std::vector<std::string> out;
  std::string plot;
  std::vector<std::string> compare;
  bool limits = false;
  bool weak = false;
};

/// A workload as the bench runs it: kernel seconds on a team of p workers (max over its
/// ranks), and a description of the problem it solves at p.
struct Workload {
  std::string name;
  std::function<double(Team&, int p)> run;
  std::function<std::string(int p)> problem;
  int only_p = 0;  ///< > 0: a reference between two workers, timed at this p alone
  /// Work units (tasks, query points) at p, where a reference compares rates.
  std::function<double(int p)> units = [](int) { return 1.0; };
};

/// The naive KDE reference evaluates 1/kNaiveShare of the grid's rows (the same columns, over
/// the same area): its cost is linear in the points, so seconds per point compare, and
/// `bench all --limits` does not spend most of its time in the reference.
constexpr std::uint64_t kNaiveShare = 8;
/// The Gaussian grid's width, and the Gaussian CV's share of --kde-samples (its cost is
/// quadratic in the samples and linear in its 20 widths).
constexpr const char* kGaussWidth = "0.2";
constexpr std::uint64_t kGaussCvShare = 5;

/// The sum's bandwidth reference: each worker reads its block of an n-double array (filled
/// by the same worker, untimed) with measure::read_probe; seconds, max over ranks.
double read_probe_seconds(Team& team, std::uint64_t n) {
  const IndexRange mine = team.rank_block(n);
  // The sum's own kind of buffer (huge pages where the kernel gives them), first touched by
  // the worker that reads each block, as the sum's data is.
  LargeBuffer<double> buffer(mine.size());
  const std::span<double> slice = buffer.span();
  for_each_block(team, n, [&](Worker, IndexRange block) {
    std::fill_n(slice.begin() + static_cast<std::ptrdiff_t>(block.begin - mine.begin), block.size(),
                1.0);
  });
  std::atomic<std::uint64_t> sink{0};
  team.comm().barrier();
  Stopwatch clock;
  for_each_block(team, n, [&](Worker, IndexRange block) {
    sink ^= measure::read_probe(std::span<const double>(slice.data(), slice.size())
                                    .subspan(block.begin - mine.begin, block.size()));
  });
  const double seconds = team.comm().all_reduce(clock.seconds(), ops::max{});
  return seconds + 0.0 * static_cast<double>(sink.load() & 1);
}

/// The farm's latency reference on a team of two workers: an 8-byte MPI ping-pong between
/// its ranks, or a condition-variable hand-off between two threads.
double round_trip_seconds(Team& team) {
  if (team.ranks() >= 2) return measure::mpi_round_trip(team.comm(), 2000);
  return measure::thread_round_trip(2000);
}

/// Which workloads run, in order: "all", "kde" and "kde-gauss" expand; with --limits each
/// workload's reference follows it (sum-probe, farm-empty + rtt, kde-naive, kde-gauss-naive).
std::vector<std::string> workload_names(const BenchArgs& args) {
  std::vector<std::string> names;
  for (const auto& w : args.workloads) {
    if (w == "all") {
      names.insert(names.end(),
                   {"sum", "farm", "kde-grid", "kde-cv", "kde-gauss-grid", "kde-gauss-cv"});
    } else if (w == "kde") {
      names.insert(names.end(), {"kde-grid", "kde-cv"});
    } else if (w == "kde-gauss") {
      names.insert(names.end(),
                   {"kde-gauss-grid", "kde-gauss-cv", "kde-binned-grid", "kde-binned-cv"});
    } else if (w == "sum" || w == "farm" || w == "kde-grid" || w == "kde-cv" ||
               w == "kde-gauss-grid" || w == "kde-gauss-cv" || w == "kde-binned-grid" ||
               w == "kde-binned-cv") {
      names.push_back(w);
    } else {
      throw UsageError("unknown workload '" + w +
                       "' (expected sum, farm, kde, kde-grid, kde-cv, kde-gauss, kde-gauss-grid, "
                       "kde-gauss-cv, kde-binned-grid, kde-binned-cv or all)");
    }
  }
  if (!args.limits) return names;
  std::vector<std::string> with;
  for (const auto& name : names) {
    with.push_back(name);
    if (name == "sum") with.push_back("sum-probe");
    if (name == "farm") with.insert(with.end(), {"farm-empty", "rtt"});
    if (name == "kde-grid") with.push_back("kde-naive");
    if (name == "kde-gauss-grid") with.push_back("kde-gauss-naive");
  }
  return with;
}

std::vector<Workload> make_workloads(const BenchArgs& args) {
  const std::uint64_t n = parse_count(args.n, "--n");
  if (n == 0) throw UsageError("--n must be at least 1");
  const workloads::CostSpec cost = workloads::parse_cost_spec(args.farm_cost);
  if (args.farm_tasks == 0) throw UsageError("--farm-tasks must be at least 1");
  if (args.farm_empty_tasks == 0) throw UsageError("--farm-empty-tasks must be at least 1");
  if (args.kde_samples < 2) throw UsageError("--kde-samples must be at least 2");
  const workloads::GridSpec grid = workloads::parse_grid(args.kde_grid);
  if (grid.cells.size() != 2) throw UsageError("--kde-grid must be 2-D (AxB)");

  // Weak scaling grows each problem so the work per worker stays fixed: sizes x p, the grid's
  // samples x p (each rank's shard stays the same), and (the CV being O(n^2)) the CV's samples
  // x sqrt(p).
  const bool weak = args.weak;
  auto grown = [weak](std::uint64_t base, int p) { return weak ? base * p : base; };
  auto grown_sqrt = [weak](std::uint64_t base, int p) {
    return weak ? static_cast<std::uint64_t>(std::llround(base * std::sqrt(double(p)))) : base;
  };
  // A KDE grid and its naive reference, which evaluates 1/kNaiveShare of the grid's rows over
  // the same bounds (the samples' range); `label` ends the problem's description.
  struct GridBench {
    workloads::GridSpec grid;
    kde::Kernel kernel;
    std::string widths, label;
    bool binned = false;
  };
  // Captured by value: these travel in the workloads' lambdas, past this function.
  auto grid_workload = [=, samples = args.kde_samples](const std::string& name, bool naive,
                                                       const GridBench& bench) -> Workload {
    const std::uint64_t columns = bench.grid.cells[0];
    const std::uint64_t rows =
        naive ? std::max<std::uint64_t>(1, bench.grid.cells[1] / kNaiveShare) : bench.grid.cells[1];
    return {name,
            [=](Team& team, int p) {
              workloads::KdeOptions o;
              o.kernel = bench.kernel;
              o.samples = grown(samples, p);
              o.grid = bench.grid;
              o.grid->cells[1] = rows;
              o.widths = workloads::parse_widths(bench.widths);
              o.algo = naive ? workloads::KdeAlgo::naive : workloads::KdeAlgo::automatic;
              o.binned = bench.binned;
              return workloads::run_kde(team, o).seconds;
            },
            [=](int p) {
              return std::to_string(columns) + "x" + std::to_string(rows) + " grid, " +
                     std::to_string(grown(samples, p)) + " samples, " + bench.label +
                     (naive ? ", naive loop" : "");
            },
            0, [=](int) { return static_cast<double>(columns * rows); }};
  };
  // A leave-one-out log-likelihood CV over `samples` (x sqrt(p) when weak).
  auto cv_workload = [=](const std::string& name, kde::Kernel kernel, std::uint64_t samples,
                         const std::string& widths, const std::string& label,
                         bool binned = false) -> Workload {
    return {name,
            [=](Team& team, int p) {
              workloads::KdeOptions o;
              o.kernel = kernel;
              o.binned = binned;
              if (binned) o.bin_cells = 1024;  // the narrowest width's default grid is 10^7 points
              o.samples = grown_sqrt(samples, p);
              o.widths = workloads::parse_widths(widths);
              o.cv = kde::CvMethod::loglik;
              return workloads::run_kde(team, o).cv_seconds;
            },
            [=](int p) { return std::to_string(grown_sqrt(samples, p)) + " samples, " + label; }};
  };
  const GridBench hypercube_grid{grid, kde::Kernel::hypercube, "0.2:1.0:20", "20 widths"};
  // The Gaussian grid: half the hypercube grid's cells along each axis, one width (the usual
  // way a smooth kernel is asked for).
  GridBench gaussian_grid{grid, kde::Kernel::gaussian, kGaussWidth,
                          std::string("gaussian h = ") + kGaussWidth};
  for (auto& cells : gaussian_grid.grid.cells) cells = std::max<std::uint64_t>(1, cells / 2);
  GridBench binned_grid = gaussian_grid;
  binned_grid.binned = true;
  binned_grid.label += ", binned";

  std::vector<Workload> out;
  for (const auto& name : workload_names(args)) {
    if (name == "sum" || name == "sum-probe") {
      const bool probe = name == "sum-probe";
      out.push_back({name,
                     [=](Team& team, int p) {
                       if (probe) return read_probe_seconds(team, grown(n, p));
                       workloads::SumOptions o;
                       o.n = grown(n, p);
                       o.dist = data::Dist::uniform;
                       o.mode = workloads::SumMode::fast;
                       return workloads::run_sum(team, o).seconds;
                     },
                     [=](int p) { return "n=" + std::to_string(grown(n, p)) + " doubles"; }});
    } else if (name == "farm") {
      const std::uint64_t tasks = args.farm_tasks;
      out.push_back({name,
                     [=](Team& team, int p) {
                       FarmOptions o;
                       o.master_computes = true;  // p workers on p ranks
                       o.chunk = Chunking::fixed(1);
                       return workloads::run_cost_demo(team, grown(tasks, p), cost,
                                                       workloads::CostMode::spin, 1, o)
                           .report.seconds;
                     },
                     [=, spec = args.farm_cost](int p) {
                       return std::to_string(grown(tasks, p)) + " tasks, " + spec;
                     }});
    } else if (name == "farm-empty") {
      const std::uint64_t tasks = args.farm_empty_tasks;
      out.push_back(
          {name,
           [=](Team& team, int p) {
             FarmOptions o;  // a dedicated master under MPI, as `parakit farm` runs
             o.chunk = Chunking::fixed(1);
             const std::uint64_t count = grown(tasks, p);
             const auto result = workloads::run_queue_demo(team, count, o);
             if (team.rank() == 0 && result.sum != count * (count - 1) / 2) {
               throw InternalError("bench farm-empty: wrong sum");
             }
             return result.report.seconds;
           },
           [=](int p) { return std::to_string(grown(tasks, p)) + " empty tasks, chunk 1"; }, 0,
           [=](int p) { return static_cast<double>(grown(tasks, p)); }});
    } else if (name == "rtt") {
      out.push_back({name, [](Team& team, int) { return round_trip_seconds(team); },
                     [](int) { return std::string("8-byte round trip, seconds each"); }, 2});
    } else if (name == "kde-grid" || name == "kde-naive") {
      out.push_back(grid_workload(name, name == "kde-naive", hypercube_grid));
    } else if (name == "kde-gauss-grid" || name == "kde-gauss-naive") {
      out.push_back(grid_workload(name, name == "kde-gauss-naive", gaussian_grid));
    } else if (name == "kde-binned-grid") {
      out.push_back(grid_workload(name, false, binned_grid));
    } else if (name == "kde-gauss-cv" || name == "kde-binned-cv") {
      const bool binned = name == "kde-binned-cv";
      out.push_back(cv_workload(name, kde::Kernel::gaussian,
                                std::max<std::uint64_t>(2, args.kde_samples / kGaussCvShare),
                                "0.05:1.0:20",
                                std::string("gaussian leave-one-out log-likelihood, 20 widths") +
                                    (binned ? ", binned on 1024 x 1024" : ""),
                                binned));
    } else {
      out.push_back(cv_workload(name, kde::Kernel::hypercube, args.kde_samples, "0.4:2.0:40",
                                "leave-one-out log-likelihood, 40 widths"));
    }
  }
  return out;
}

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
                         const std::vector<Workload>& workloads) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r : rows) {
    const auto w = std::find_if(workloads.begin(), workloads.end(),
                                [&](const Workload& x) { return x.name == r.workload; });
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

}  // namespace

Subcommand add_bench_command(CLI::App& root) {
  auto args = std::make_shared<BenchArgs>();
  CLI::App* command = root.add_subcommand(
      "bench", "strong scaling of the workloads: speedup, efficiency, Karp-Flatt");
  command
      ->add_option("workloads", args->workloads,
                   "sum, farm, kde (kde-grid and kde-cv), kde-gauss (kde-gauss-grid, "
                   "kde-gauss-cv and their binned approximations kde-binned-grid, "
                   "kde-binned-cv), all (not the binned ones)")
      ->capture_default_str();
  command->add_option("--reps", args->reps, "interleaved repetitions per p")->capture_default_str();
  command->add_option("--max-p", args->max_p,
                      "largest worker count (default: all ranks under mpirun, else --threads or "
                      "the CPUs)");
  command->add_option("--n", args->n, "sum: elements")->capture_default_str();
  command->add_option("--farm-tasks", args->farm_tasks, "farm: tasks")->capture_default_str();
  command->add_option("--farm-cost", args->farm_cost, "farm: task costs (uniform|ramp|lognormal)")
      ->capture_default_str();
  command
      ->add_option("--farm-empty-tasks", args->farm_empty_tasks,
                   "farm-empty (with --limits): empty tasks, chunk 1")
      ->capture_default_str();
  command->add_option("--kde-samples", args->kde_samples, "kde: samples")->capture_default_str();
  command
      ->add_option("--kde-grid", args->kde_grid,
                   "kde-grid: the grid (kde-gauss-grid: half its cells along each axis)")
      ->capture_default_str();
  command->add_option("--out", args->out,
                      "write every sample to FILE.json or FILE.csv (repeatable)");
  command->add_flag(
      "--limits", args->limits,
      "also time each workload's reference: a read-bandwidth probe for sum, empty "
      "tasks and the 8-byte round trip for farm, the naive loop for kde-grid and kde-gauss-grid");
  command->add_flag("--weak", args->weak,
                    "weak scaling: the problem grows with p (sizes and the KDE grid's samples x "
                    "p, the CV's samples x sqrt(p)); efficiency = T1/Tp");
  command->add_option("--plot", args->plot,
                      "write speedup.png, efficiency.png and time.png into this directory");
  command
      ->add_option("--compare", args->compare,
                   "compare two runs' --out files (JSON or CSV): OLD NEW; runs nothing")
      ->expected(2);
  add_common_options(*command, args->common);

  return {
      command, [args] {
        if (!args->compare.empty()) {  // a local report: no MPI, launcher rank 0 prints
          if (launcher_rank() != 0) return 0;
          return compare_runs(args->compare[0], args->compare[1], args->common.json);
        }
        if (args->reps < 1) throw UsageError("--reps must be at least 1");
        for (const auto& path : args->out) {
          const bool ok = path.size() > 5 && (path.ends_with(".json") || path.ends_with(".csv"));
          if (!ok) throw UsageError("--out must name a .json or .csv file, not '" + path + "'");
        }
        const std::vector<Workload> workloads = make_workloads(*args);
        if (!args->plot.empty()) io::require_gnuplot("--plot");  // before the runs, not after
        return run_with_environment(args->common, [&](Environment& env) {
          Team world_team = env.make_team();
          const Comm& world = world_team.comm();
          const bool over_ranks = world_team.kind() == BackendKind::mpi && world.size() > 1;
          const int available = over_ranks ? world.size() : world_team.threads();
          const int max_p = args->max_p > 0 ? args->max_p : available;
          if (max_p > available) {
            throw UsageError("--max-p " + std::to_string(max_p) + " is more than the " +
                             std::to_string(available) +
                             (over_ranks ? " ranks of this launch" : " threads (--threads)"));
          }
          const std::string backend = over_ranks ? "mpi" : "threads";
          const std::string scaling = args->weak ? "weak" : "strong";
          const std::vector<int> steps = measure::scaling_steps(max_p);
          std::map<int, std::optional<Team>> teams;
          for (const int p : steps) teams[p] = first_workers(world, p, over_ranks);

          std::vector<measure::Sample> samples;
          for (int rep = 0; rep < args->reps; ++rep) {
            for (const int p : steps) {
              for (const auto& workload : workloads) {
                if (workload.only_p > 0 && workload.only_p != p) continue;
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
              }
            }
          }
          auto rows = measure::scaling_table(samples);
          auto position = [&](const measure::ScalingRow& r) {  // the order they ran in
            return std::find_if(workloads.begin(), workloads.end(),
                                [&](const Workload& w) { return w.name == r.workload; }) -
                   workloads.begin();
          };
          std::stable_sort(rows.begin(), rows.end(),
                           [&](const auto& a, const auto& b) { return position(a) < position(b); });
          const nlohmann::json machine = machine_json(world);
          if (world.rank() != 0) return 0;
          // Each workload against its reference at the same p (with --limits).
          nlohmann::json limits = nlohmann::json::array();
          auto median_of = [&](const std::string& workload, int p) {
            for (const auto& r : rows) {
              if (r.workload == workload && r.p == p) return r.time.median;
            }
            return 0.0;
          };
          auto units_of = [&](const std::string& workload, int p) {
            for (const auto& w : workloads) {
              if (w.name == workload) return w.units(p);
            }
            return 1.0;
          };
          auto problem_of = [&](const std::string& workload, int p) {
            for (const auto& w : workloads) {
              if (w.name == workload) return w.problem(p);
            }
            return std::string();
          };
          for (const auto& r : rows) {
            if (r.workload == "sum" && median_of("sum-probe", r.p) > 0) {
              limits.push_back(
                  {{"workload", "sum"},
                   {"p", r.p},
                   {"reference", "sum-probe"},
                   {"fraction_of_bandwidth", median_of("sum-probe", r.p) / r.time.median}});
            }
            for (const auto& [grid_name, naive_name] :
                 {std::pair<std::string, std::string>{"kde-grid", "kde-naive"},
                  {"kde-gauss-grid", "kde-gauss-naive"}}) {
              if (r.workload != grid_name || !(median_of(naive_name, r.p) > 0)) continue;
              limits.push_back(
                  {{"workload", grid_name},
                   {"p", r.p},
                   {"reference", naive_name},
                   {"reference_problem", problem_of(naive_name, r.p)},
                   // seconds per query point, the naive loop's over the grid's
                   {"speedup_over_naive", (median_of(naive_name, r.p) / units_of(naive_name, r.p)) /
                                              (r.time.median / units_of(grid_name, r.p))}});
            }
            if (r.workload == "farm-empty" && median_of("rtt", 2) > 0) {
              const double rate = units_of("farm-empty", r.p) / r.time.median;
              limits.push_back({{"workload", "farm-empty"},
                                {"p", r.p},
                                {"problem", problem_of("farm-empty", r.p)},
                                {"reference", "rtt"},
                                {"tasks_per_second", rate},
                                {"rtt_seconds", median_of("rtt", 2)},
                                {"tasks_per_rtt", rate * median_of("rtt", 2)}});
            }
          }
          const nlohmann::json out{{"command", "bench"}, {"backend", backend},
                                   {"scaling", scaling}, {"steps", steps},
                                   {"reps", args->reps}, {"date", utc_now()},
                                   {"machine", machine}, {"rows", rows_json(rows, workloads)},
                                   {"limits", limits},   {"samples", samples_json(samples)}};
          for (const auto& path : args->out) {  // the samples first: a plot may still fail
            io::write_file_atomic(path,
                                  path.ends_with(".json") ? out.dump(1) + "\n" : csv_text(samples));
          }
          if (!args->plot.empty()) write_plots(args->plot, rows);
          if (args->common.json) {
            print_json(out);
            return 0;
          }
          std::printf("parakit bench: %s scaling, %s, p = 1..%d, %d interleaved reps, %s (%s)\n",
                      scaling.c_str(), backend.c_str(), max_p, args->reps,
                      machine["cpu"].get<std::string>().c_str(), utc_now().c_str());
          std::printf("%-15s %3s %11s %11s %11s %8s %8s %10s\n", "workload", "p", "median s",
                      "min s", "max s", args->weak ? "scaled S" : "speedup", "effic.",
                      "karp-flatt");
          for (const auto& r : rows) {
            if (r.workload == "rtt") {
              std::printf("%-15s %3d %11.3g %11.3g %11.3g %8s %8s %10s\n", "rtt", r.p,
                          r.time.median, r.time.min, r.time.max, "-", "-", "-");
              continue;
            }
            char karp_flatt[32] = "-";
            if (!args->weak) std::snprintf(karp_flatt, sizeof karp_flatt, "%.3f", r.karp_flatt);
            std::printf("%-15s %3d %11.5f %11.5f %11.5f %8.2f %8.2f %10s\n", r.workload.c_str(),
                        r.p, r.time.median, r.time.min, r.time.max, r.speedup, r.efficiency,
                        karp_flatt);
          }
          for (const auto& l : limits) {
            if (l.contains("fraction_of_bandwidth")) {
              std::printf("sum at p = %d: %.2f of the measured read bandwidth (sum-probe)\n",
                          l["p"].get<int>(), l["fraction_of_bandwidth"].get<double>());
            } else if (l.contains("speedup_over_naive")) {
              std::printf("%s at p = %d: %.1fx faster than the naive loop\n",
                          l["workload"].get<std::string>().c_str(), l["p"].get<int>(),
                          l["speedup_over_naive"].get<double>());
            } else {
              std::printf(
                  "farm-empty at p = %d: %.4g tasks/s = %.2f per round trip "
                  "(1/RTT = %.4g /s)\n",
                  l["p"].get<int>(), l["tasks_per_second"].get<double>(),
                  l["tasks_per_rtt"].get<double>(), 1 / l["rtt_seconds"].get<double>());
            }
          }
          return 0;
        });
      }};
}

}  // namespace parakit::cli
