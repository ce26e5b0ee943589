// The kde benchmark (issue #4). In one process (or one mpirun launch), with the repetitions
// interleaved across every case so drift hits all alike, and timing kernels only (never the
// data generation), it measures as ratios of medians:
//   1. the seed's default problem (n = 10^4 2-D N(0, I) from numpy seed 123, point (0, 0),
//      widths linspace(1.0, 1.2, 100)): hypercube_counts_sweep vs hypercube_counts_naive
//      (the seed's loop); target >= 20x; the counts must be equal;
//   2. n = 10^6, m = 1000 widths linspace(0.5, 2.0, 1000), one point: sweep vs naive;
//      target >= 100x; the counts must be equal;
//   3. leave-one-out CV, n = 2 x 10^4, widths linspace(0.05, 1.5, 100) (below h ~ 1.19
//      some sample is alone in its window, so loglik is -inf there and its optimum is the first
//      width past that; lsq's optimum is near 0.84): CvProblem (hypercube,
//      loglik; construction + partial over every query on one thread + finish) vs
//      hypercube_loo_counts_naive on a random subsample of query rows scaled by n / queries;
//      target >= 50x; lsq is reported against the same naive loop (a lower bound: a naive lsq
//      also needs the overlap volumes). The sampled queries' partials must match the naive
//      counts exactly;
//   4. speedup T(1)/T(2) of run_kde on the CV workload (cv_seconds) and on a 200 x 200 grid
//      (n = 10^4, 20 widths; seconds) with thread teams, or MPI teams of 1 and 2 ranks made
//      with Comm::split under `mpirun -np 2`; target >= 1.8. A pure-arithmetic probe over the
//      same teams gives the machine's own ceiling (a busy neighbour process shows up there);
//   5. the seed's own Python serial() (bench/kde_seed_python.py) vs the sweep of figure 1;
//      target >= 10^4 x.
// It prints a table (median, min..max, ratio, target, PASS/BELOW), and with --json one object
// holding every sample. --quick runs tiny sizes in a few seconds (a smoke test; the targets
// do not apply there).
//   bench_kde [--reps 7] [--figures 1,2,3,4,5] [--python-seconds S | --python EXE | --no-python]
//             [--json] [--quick]
//   mpirun -np 2 bench_kde [...]           (figure 4 over ranks; 1-3 and 5 on rank 0)
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <numeric>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "parakit/core/error.hpp"
#include "parakit/core/timer.hpp"
#include "parakit/data/numpy_random.hpp"
#include "parakit/kde/cv.hpp"
#include "parakit/kde/neighbors.hpp"
#include "parakit/kde/parzen.hpp"
#include "parakit/measure/stats.hpp"
#include "parakit/numeric/exact_sum.hpp"
#include "parakit/runtime/environment.hpp"
#include "parakit/workloads/kde.hpp"

#ifndef PARAKIT_KDE_SEED_SCRIPT
#define PARAKIT_KDE_SEED_SCRIPT "bench/kde_seed_python.py"
#endif

namespace {

using namespace parakit;
using kde::Samples;

using measure::median;
double min_of(const std::vector<double>& v) {
  return v.empty() ? 0 : *std::min_element(v.begin(), v.end());
}
double max_of(const std::vector<double>& v) {
  return v.empty() ? 0 : *std::max_element(v.begin(), v.end());
}

Samples numpy_samples(std::uint64_t seed, std::size_t n, int d) {
  const auto drawn = data::numpy_multivariate_standard_normal(seed, n, d);
  Samples samples(static_cast<Eigen::Index>(n), d);
  std::copy(drawn.begin(), drawn.end(), samples.data());
  return samples;
}

/// A timed case: run() returns the seconds of one sample (it may average `inner` calls of a
/// short kernel, calibrated once so a sample lasts about `target_s`).
struct Case {
  Case() = default;
  Case(std::string name_, int reps_, std::function<double()> run_)
      : name(std::move(name_)), reps(reps_), run(std::move(run_)) {}
  std::string name;
  int reps = 1;
  std::function<double()> run;
  std::vector<double> samples;
  double median_s() const { return median(samples); }
};

/// Wraps a short kernel: the first call (a warm-up) sets how many calls make one sample.
std::function<double()> repeated(std::function<void()> kernel, double target_s) {
  auto inner = std::make_shared<int>(0);
  return [kernel = std::move(kernel), inner, target_s]() {
    if (*inner == 0) {
      Stopwatch warm;
      kernel();
      const double once = std::max(warm.seconds(), 1e-9);
      *inner = static_cast<int>(std::clamp(std::ceil(target_s / once), 1.0, 1e6));
    }
    Stopwatch clock;
    for (int i = 0; i < *inner; ++i) kernel();
    return clock.seconds() / *inner;
  };
}

/// Runs every case's samples, round by round: round r runs each case that wants > r samples.
void interleave(std::vector<Case*> cases) {
  int rounds = 0;
  for (const Case* c : cases) rounds = std::max(rounds, c->reps);
  for (int r = 0; r < rounds; ++r) {
    for (Case* c : cases) {
      if (r < c->reps) c->samples.push_back(c->run());
    }
  }
}

nlohmann::json case_json(const Case& c, double scale = 1.0) {
  std::vector<double> scaled = c.samples;
  for (double& s : scaled) s *= scale;
  return {{"case", c.name},
          {"median_s", median(scaled)},
          {"min_s", min_of(scaled)},
          {"max_s", max_of(scaled)},
          {"samples_s", scaled}};
}

struct Figure {
  std::string id, title;
  std::string fast_label, base_label;
  double fast_s = 0, base_s = 0;  // medians (base scaled where it is extrapolated)
  double fast_min = 0, fast_max = 0, base_min = 0, base_max = 0;
  double ratio = 0, target = 0;
  bool verified = true;    // results checked equal where a check applies
  bool reference = false;  // a reference measurement, no target
  std::string note;
  nlohmann::json detail = nlohmann::json::object();
  bool pass() const { return verified && ratio >= target; }
};

Figure make_figure(std::string id, std::string title, const Case& fast, const Case& base,
                   double target, double base_scale = 1.0) {
  Figure f;
  f.id = std::move(id);
  f.title = std::move(title);
  f.fast_label = fast.name;
  f.base_label = base.name;
  f.fast_s = fast.median_s();
  f.fast_min = min_of(fast.samples);
  f.fast_max = max_of(fast.samples);
  f.base_s = base.median_s() * base_scale;
  f.base_min = min_of(base.samples) * base_scale;
  f.base_max = max_of(base.samples) * base_scale;
  f.ratio = f.base_s / f.fast_s;
  f.target = target;
  f.detail["fast"] = case_json(fast);
  f.detail["baseline"] = case_json(base, base_scale);
  return f;
}

/// The seed's Python time: runs the script with each interpreter until one works.
struct PythonRun {
  bool ok = false;
  double seconds = 0;
  nlohmann::json out;
  std::string message;
};
PythonRun run_seed_python(const std::vector<std::string>& interpreters, std::size_t n,
                          std::size_t m, int reps) {
  PythonRun result;
  for (const auto& exe : interpreters) {
    const std::string command = "'" + exe + "' '" + PARAKIT_KDE_SEED_SCRIPT + "' --n " +
                                std::to_string(n) + " --widths " + std::to_string(m) + " --reps " +
                                std::to_string(reps) + " 2>/dev/null";
    FILE* pipe = popen(command.c_str(), "r");
    if (pipe == nullptr) continue;
    std::string text;
    char buffer[4096];
    while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) text += buffer;
    const int status = pclose(pipe);
    nlohmann::json out = nlohmann::json::parse(text, nullptr, false);
    if (status == 0 && out.is_object() && out.contains("seconds")) {
      result.ok = true;
      result.seconds = out["seconds"].get<double>();
      result.out = out;
      result.out["interpreter"] = exe;
      return result;
    }
    result.message += exe + ": " +
                      (out.is_object() && out.contains("error") ? out["error"].get<std::string>()
                                                                : std::string("failed")) +
                      "; ";
  }
  if (result.message.empty()) result.message = "no interpreter ran";
  return result;
}

struct Sizes {
  std::size_t seed_n = 10000, seed_m = 100;
  std::size_t big_n = 1000000, big_m = 1000;
  double big_lo = 0.5, big_hi = 2.0;
  std::size_t cv_n = 20000, cv_m = 100;
  double cv_lo = 0.05, cv_hi = 1.5;
  std::size_t cv_queries = 200;
  std::size_t grid_n = 10000, grid_cells = 200, grid_m = 20;
  double grid_lo = 0.1, grid_hi = 1.0;
  int naive_big_reps = 2, naive_cv_reps = 3;
  double short_target_s = 0.02;
  std::uint64_t probe_iterations =
      200000000;  // about 0.2 s on one core  // a sample of a short kernel lasts about this long
};

/// The machine's own parallel ceiling for figure 4: `iterations` steps of 4 independent
/// multiply-add chains (pure arithmetic, no memory traffic), split evenly over the workers.
double spin(std::uint64_t iterations) {
  double a = 1, b = 2, c = 3, e = 4;
  for (std::uint64_t i = 0; i < iterations; ++i) {
    a = a * 0.999999999 + 1e-9;
    b = b * 0.999999999 + 1e-9;
    c = c * 0.999999999 + 1e-9;
    e = e * 0.999999999 + 1e-9;
  }
  return a + b + c + e;
}

/// Median over rounds of base[r] / fast[r]: the ratio within each interleaved round.
double paired_ratio(const Case& fast, const Case& base) {
  std::vector<double> r;
  for (std::size_t i = 0; i < std::min(fast.samples.size(), base.samples.size()); ++i) {
    r.push_back(base.samples[i] / fast.samples[i]);
  }
  return median(r);
}

const char* verdict(bool pass) {
  return pass ? "PASS" : "BELOW";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"parakit kde benchmark: sweep vs the seed's loop, fast vs naive CV, scaling"};
  int reps = 7;
  int max_workers = 2;
  bool json = false;
  bool quick = false;
  bool no_python = false;
  std::optional<double> python_seconds;
  std::vector<std::string> pythons;
  int python_reps = 1;
  std::size_t cv_queries = 200;
  app.add_option("--reps", reps, "interleaved repetitions of the fast cases")
      ->capture_default_str();
  app.add_option("--max-workers", max_workers, "p for the speedup (threads, or ranks)")
      ->capture_default_str();
  app.add_option("--cv-queries", cv_queries, "query rows the naive CV loop runs (scaled up)")
      ->capture_default_str();
  app.add_option("--python-seconds", python_seconds,
                 "the seed's Python serial() time at the same n and m, measured elsewhere "
                 "(skips running it)");
  app.add_option("--python", pythons,
                 "interpreter(s) to run bench/kde_seed_python.py with (default: python3, "
                 "then /usr/bin/python3)");
  app.add_option("--python-reps", python_reps, "timed runs of the Python seed")
      ->capture_default_str();
  app.add_flag("--no-python", no_python, "skip figure 5");
  std::vector<int> only;
  app.add_option("--figures", only, "run only these figures (1-5; default all)")->delimiter(',');
  app.add_flag("--json", json, "print every figure and sample as one JSON object");
  app.add_flag("--quick", quick, "tiny sizes, a few seconds (smoke test; targets do not apply)");
  CLI11_PARSE(app, argc, argv);

  try {
    if (reps < 1 || max_workers < 2 || cv_queries < 1 || python_reps < 1) {
      throw UsageError("--reps, --cv-queries and --python-reps must be >= 1, --max-workers >= 2");
    }
    Sizes z;
    z.cv_queries = cv_queries;
    if (quick) {
      z.seed_n = 1000, z.seed_m = 20;
      z.big_n = 20000, z.big_m = 100;
      z.cv_n = 2000, z.cv_m = 20, z.cv_queries = std::min<std::size_t>(cv_queries, 20);
      z.grid_n = 1000, z.grid_cells = 40, z.grid_m = 5;
      z.naive_big_reps = 1, z.naive_cv_reps = 1;
      z.short_target_s = 0.002;
      z.probe_iterations = 2000000;
      reps = std::min(reps, 3);
    }
    if (pythons.empty()) pythons = {"python3", "/usr/bin/python3"};
    const auto want = [&](int figure) {
      return only.empty() || std::find(only.begin(), only.end(), figure) != only.end();
    };
    const bool run1 = want(1) || (want(5) && !no_python), run2 = want(2), run3 = want(3);

    Environment env(RuntimeOptions{});
    const Comm world = env.world();
    const bool over_ranks = world.size() > 1;
    const bool root = world.rank() == 0;
    std::vector<Figure> figures;
    nlohmann::json extra = nlohmann::json::object();

    // ---- Figures 1-3: one thread, rank 0 only -------------------------------------------
    double seed_sweep_s = 0, seed_sweep_min = 0, seed_sweep_max = 0;
    std::vector<std::uint64_t> seed_counts;
    if (root) {
      const double origin[2] = {0.0, 0.0};
      const std::span<const double> point(origin, 2);

      // 1. the seed's default problem.
      const Samples seed_samples = run1 ? numpy_samples(123, z.seed_n, 2) : Samples();
      const auto seed_widths = workloads::linspace(1.0, 1.2, z.seed_m);
      std::vector<std::uint64_t> seed_sweep, seed_naive;
      Case f1_fast{
          "sweep", reps,
          repeated(
              [&] { seed_sweep = kde::hypercube_counts_sweep(seed_samples, point, seed_widths); },
              z.short_target_s)};
      Case f1_base{
          "naive", reps,
          repeated(
              [&] { seed_naive = kde::hypercube_counts_naive(seed_samples, point, seed_widths); },
              z.short_target_s)};

      // 2. a million samples, a thousand widths.
      const Samples big_samples = run2 ? numpy_samples(123, z.big_n, 2) : Samples();
      const auto big_widths = workloads::linspace(z.big_lo, z.big_hi, z.big_m);
      std::vector<std::uint64_t> big_sweep, big_naive;
      Case f2_fast{
          "sweep", reps,
          repeated([&] { big_sweep = kde::hypercube_counts_sweep(big_samples, point, big_widths); },
                   z.short_target_s)};
      Case f2_base{"naive", z.naive_big_reps, [&] {
                     Stopwatch clock;
                     big_naive = kde::hypercube_counts_naive(big_samples, point, big_widths);
                     return clock.seconds();
                   }};

      // 3. leave-one-out CV.
      const Samples cv_samples = numpy_samples(123, run3 ? z.cv_n : 2, 2);
      const auto cv_widths = workloads::linspace(z.cv_lo, z.cv_hi, z.cv_m);
      std::optional<kde::CvCurve> loglik_curve, lsq_curve;
      Case f3_loglik{"fast loglik", reps, [&] {
                       Stopwatch clock;
                       loglik_curve = kde::cv_curve(kde::Kernel::hypercube, kde::CvMethod::loglik,
                                                    cv_samples, cv_widths);
                       return clock.seconds();
                     }};
      Case f3_lsq{"fast lsq", reps, [&] {
                    Stopwatch clock;
                    lsq_curve = kde::cv_curve(kde::Kernel::hypercube, kde::CvMethod::lsq,
                                              cv_samples, cv_widths);
                    return clock.seconds();
                  }};
      // A random subsample of sorted rows (the CvProblem's query order), mapped to input rows.
      const kde::SortedSamples sorted(cv_samples);
      std::vector<Eigen::Index> sorted_queries(static_cast<std::size_t>(cv_samples.rows()));
      std::iota(sorted_queries.begin(), sorted_queries.end(), Eigen::Index{0});
      std::mt19937_64 rng(20240404);
      std::shuffle(sorted_queries.begin(), sorted_queries.end(), rng);
      sorted_queries.resize(std::min(z.cv_queries, sorted_queries.size()));
      std::vector<Eigen::Index> queries;
      for (const auto s : sorted_queries) queries.push_back(sorted.original(s));
      std::vector<std::uint64_t> loo_naive;
      Case f3_base{"naive LOO counts", z.naive_cv_reps, [&] {
                     Stopwatch clock;
                     loo_naive = kde::hypercube_loo_counts_naive(cv_samples, queries, cv_widths);
                     return clock.seconds();
                   }};

      // Warm-up (untimed) for the cases that are not self-calibrating, then the timed rounds.
      std::vector<Case*> cases;
      if (run1) cases.insert(cases.end(), {&f1_fast, &f1_base});
      if (run2) cases.insert(cases.end(), {&f2_fast, &f2_base});
      if (run3) {
        f3_loglik.run();
        f3_lsq.run();
        cases.insert(cases.end(), {&f3_loglik, &f3_lsq, &f3_base});
      }
      interleave(cases);

      // Checks.
      if (run1) {
        Figure f1 = make_figure("1",
                                "seed default n=" + std::to_string(z.seed_n) +
                                    " m=" + std::to_string(z.seed_m) + ": sweep vs naive",
                                f1_fast, f1_base, 20);
        f1.verified = seed_sweep == seed_naive;
        f1.note = f1.verified ? "counts equal" : "COUNTS DIFFER";
        f1.detail["counts_first_last"] = {seed_sweep.front(), seed_sweep.back()};
        figures.push_back(f1);
        seed_sweep_s = f1.fast_s;
        seed_sweep_min = f1.fast_min;
        seed_sweep_max = f1.fast_max;
        seed_counts = seed_sweep;
      }

      if (run2) {
        Figure f2 = make_figure(
            "2",
            "n=" + std::to_string(z.big_n) + " m=" + std::to_string(z.big_m) + ": sweep vs naive",
            f2_fast, f2_base, 100);
        f2.verified = big_sweep == big_naive;
        f2.note = f2.verified ? "counts equal" : "COUNTS DIFFER";
        f2.detail["widths"] = {z.big_lo, z.big_hi, z.big_m};
        figures.push_back(f2);
      }

      // The sampled queries' loglik partials against the naive counts, exactly.
      if (run3) {
        // Each sampled query as a problem of its own over every sample: its totals hold, per
        // sorted width, whether it is alone and the log of its neighbour count.
        const kde::HypercubeWidths sorted_widths(cv_widths);
        const std::size_t m = z.cv_m;
        bool cv_equal = loo_naive.size() == queries.size() * m;
        for (std::size_t q = 0; q < queries.size() && cv_equal; ++q) {
          const kde::Samples one = cv_samples.row(queries[q]);
          kde::CvProblem check(kde::Kernel::hypercube, kde::CvMethod::loglik, cv_widths, z.cv_n,
                               one, static_cast<std::uint64_t>(queries[q]));
          kde::CvTotals totals = check.new_totals();
          check.add(check.visit({cv_samples.data(), z.cv_n, 0}), {0, 1}, totals);
          check.close({0, 1}, totals);
          const auto wire = totals.wire();
          numeric::ExactAccumulator::Wire log_sum;
          for (std::size_t j = 0; j < m; ++j) {
            const std::uint64_t k = loo_naive[q * m + sorted_widths.order()[j]];
            std::copy_n(wire.begin() + static_cast<long>(m + j * log_sum.size()), log_sum.size(),
                        log_sum.begin());
            const double log_k = numeric::ExactAccumulator::from_wire(log_sum).round();
            const bool ok = k == 0 ? wire[j] == 1 && log_k == 0
                                   : wire[j] == 0 && log_k == std::log(static_cast<double>(k));
            cv_equal = cv_equal && ok;
          }
        }
        const double scale = static_cast<double>(z.cv_n) / static_cast<double>(queries.size());
        std::size_t lonely_widths = 0;
        double widest_lonely = 0;
        for (std::size_t j = 0; j < m; ++j) {
          if (loglik_curve->lonely[j] == 0) continue;
          ++lonely_widths;
          widest_lonely = std::max(widest_lonely, cv_widths[j]);
        }
        const auto describe = [&](const kde::CvCurve& c) {
          return c.best ? "best h=" + std::to_string(c.widths[*c.best]) : std::string("no best");
        };
        const std::string cv_title = "LOO CV n=" + std::to_string(z.cv_n) +
                                     " m=" + std::to_string(z.cv_m) +
                                     " h=" + std::to_string(z.cv_lo).substr(0, 4) + ".." +
                                     std::to_string(z.cv_hi).substr(0, 4);
        Figure f3 = make_figure("3", cv_title + ": loglik vs naive", f3_loglik, f3_base, 50, scale);
        f3.verified = cv_equal;
        f3.note = std::string(cv_equal ? "sampled partials equal" : "PARTIALS DIFFER") + "; " +
                  describe(*loglik_curve) + "; " + std::to_string(lonely_widths) +
                  " widths (up to h=" + std::to_string(widest_lonely) +
                  ") leave a sample lonely (loglik -inf)";
        f3.detail["widths"] = {z.cv_lo, z.cv_hi, z.cv_m};
        f3.detail["naive_queries"] = queries.size();
        f3.detail["naive_scale"] = scale;
        f3.detail["best_width"] = loglik_curve->best ? cv_widths[*loglik_curve->best] : -1.0;
        f3.detail["lonely_widths"] = lonely_widths;
        f3.detail["lonely"] = loglik_curve->lonely;
        figures.push_back(f3);
        Figure f3b = make_figure("3b", cv_title + ": lsq vs naive", f3_lsq, f3_base, 50, scale);
        f3b.note = describe(*lsq_curve) +
                   "; baseline = the naive LOO count loop (a naive lsq costs more: a lower bound)";
        f3b.detail["best_width"] = lsq_curve->best ? cv_widths[*lsq_curve->best] : -1.0;
        figures.push_back(f3b);
      }
    }
    world.barrier();

    // ---- Figure 4: speedup T(1)/T(p) through run_kde -------------------------------------
    struct Group {
      int p = 0;
      std::optional<Team> team;
      Case cv, grid, probe;
    };
    const int pmax = over_ranks ? std::min(max_workers, world.size()) : max_workers;
    std::vector<Group> groups;
    workloads::KdeOptions cv_options;
    cv_options.samples = z.cv_n;
    cv_options.widths = workloads::linspace(z.cv_lo, z.cv_hi, z.cv_m);
    cv_options.cv = kde::CvMethod::loglik;
    workloads::KdeOptions grid_options;
    grid_options.samples = z.grid_n;
    grid_options.widths = workloads::linspace(z.grid_lo, z.grid_hi, z.grid_m);
    grid_options.grid = workloads::GridSpec{{z.grid_cells, z.grid_cells}, {}, {}};
    for (int p : {1, pmax}) {
      Group group;
      group.p = p;
      group.team = first_workers(world, p, over_ranks);
      groups.push_back(std::move(group));
    }
    for (auto& group : groups) {
      Group* g = &group;
      auto timed = [g, &world](const workloads::KdeOptions& options, bool cv) {
        return [g, &world, &options, cv] {
          world.barrier();
          double seconds = 0;
          if (g->team) {
            const auto result = workloads::run_kde(*g->team, options);
            seconds = cv ? result.cv_seconds : result.seconds;
          }
          return world.all_reduce(seconds, ops::max{});
        };
      };
      group.probe = Case{"probe p=" + std::to_string(group.p), reps, [g, &world, &z] {
                           world.barrier();
                           double seconds = 0;
                           if (g->team) {
                             Team& team = *g->team;
                             std::vector<double> sink(static_cast<std::size_t>(team.threads()));
                             const auto share =
                                 z.probe_iterations / static_cast<std::uint64_t>(team.workers());
                             team.comm().barrier();
                             Stopwatch clock;
                             team.for_each_worker([&](Worker w) {
                               sink[static_cast<std::size_t>(w.tid)] = spin(share);
                             });
                             seconds = team.comm().all_reduce(clock.seconds(), ops::max{});
                             if (sink[0] == 0) std::fprintf(stderr, "probe: %g\n", sink[0]);
                           }
                           return world.all_reduce(seconds, ops::max{});
                         }};
      group.cv = Case{"cv p=" + std::to_string(group.p), reps, timed(cv_options, true)};
      group.grid = Case{"grid p=" + std::to_string(group.p), reps, timed(grid_options, false)};
    }
    std::vector<Case*> scaling;
    for (auto& group : groups) {
      if (!want(4)) break;
      group.probe.run();  // warm-up
      group.cv.run();
      group.grid.run();
      scaling.insert(scaling.end(), {&group.probe, &group.cv, &group.grid});
    }
    interleave(scaling);
    if (!root) return 0;

    const std::string workers = over_ranks ? "ranks" : "threads";
    if (want(4)) {
      const double probe_ratio = groups.front().probe.median_s() / groups.back().probe.median_s();
      Figure f4a = make_figure("4a",
                               "speedup CV n=" + std::to_string(z.cv_n) + " 1->" +
                                   std::to_string(pmax) + " " + workers + " (run_kde cv_seconds)",
                               groups.back().cv, groups.front().cv, 1.8);
      const auto speedup_note = [&](const Case& fast, const Case& base, Figure& f) {
        const double paired = paired_ratio(fast, base);
        char text[160];
        std::snprintf(text, sizeof text,
                      "T1/T%d of medians; per-round paired median %.2fx; machine probe %.2fx", pmax,
                      paired, probe_ratio);
        f.note = text;
        f.detail["paired_ratio"] = paired;
        f.detail["probe_ratio"] = probe_ratio;
      };
      Figure f4p = make_figure("4p",
                               "reference: compute probe 1->" + std::to_string(pmax) + " " +
                                   workers + " (the machine's ceiling)",
                               groups.back().probe, groups.front().probe, 0);
      f4p.reference = true;
      char probe_text[120];
      std::snprintf(probe_text, sizeof probe_text,
                    "pure arithmetic, no shared data; per-round paired median %.2fx",
                    paired_ratio(groups.back().probe, groups.front().probe));
      f4p.note = probe_text;
      figures.push_back(f4p);
      speedup_note(groups.back().cv, groups.front().cv, f4a);
      figures.push_back(f4a);
      Figure f4b = make_figure("4b",
                               "speedup grid " + std::to_string(z.grid_cells) + "x" +
                                   std::to_string(z.grid_cells) + " n=" + std::to_string(z.grid_n) +
                                   " m=" + std::to_string(z.grid_m) + " 1->" +
                                   std::to_string(pmax) + " " + workers,
                               groups.back().grid, groups.front().grid, 1.8);
      speedup_note(groups.back().grid, groups.front().grid, f4b);
      f4b.detail["widths"] = {z.grid_lo, z.grid_hi, z.grid_m};
      figures.push_back(f4b);
    }

    // ---- Figure 5: the seed's Python ------------------------------------------------------
    std::string python_message;
    if (want(5) && !no_python) {
      std::optional<double> seconds = python_seconds;
      nlohmann::json python_out = nlohmann::json::object();
      bool counts_equal = true;
      if (!seconds) {
        if (!json) {
          std::fprintf(stderr, "bench_kde: running the seed's Python serial() (n=%zu, m=%zu)...\n",
                       z.seed_n, z.seed_m);
        }
        const PythonRun run = run_seed_python(pythons, z.seed_n, z.seed_m, python_reps);
        if (run.ok) {
          seconds = run.seconds;
          python_out = run.out;
          counts_equal = run.out["counts"].get<std::vector<std::uint64_t>>() == seed_counts;
        } else {
          python_message = "figure 5 skipped: " + run.message;
        }
      }
      if (seconds) {
        Figure f5;
        f5.id = "5";
        f5.title = "seed Python serial() vs sweep (n=" + std::to_string(z.seed_n) +
                   " m=" + std::to_string(z.seed_m) + ")";
        f5.fast_label = "sweep";
        f5.base_label = "python";
        f5.fast_s = seed_sweep_s;
        f5.fast_min = seed_sweep_min;
        f5.fast_max = seed_sweep_max;
        f5.base_s = f5.base_min = f5.base_max = *seconds;
        f5.ratio = *seconds / seed_sweep_s;
        f5.target = 1e4;
        f5.verified = counts_equal;
        f5.note = python_seconds ? "Python time from --python-seconds"
                  : counts_equal ? "Python counts equal the sweep's"
                                 : "PYTHON COUNTS DIFFER";
        if (!python_out.empty()) {
          python_out.erase("counts");
          f5.note += " (" + python_out["interpreter"].get<std::string>() + ", numpy " +
                     python_out["numpy"].get<std::string>() + ")";
        }
        f5.detail["python"] = python_out;
        figures.push_back(f5);
      }
    }

    // ---- Report ---------------------------------------------------------------------------
    bool all_verified = true;
    for (const auto& f : figures) all_verified = all_verified && f.verified;
    if (json) {
      nlohmann::json out{{"benchmark", "kde"}, {"backend", over_ranks ? "mpi" : "threads"},
                         {"workers", pmax},    {"quick", quick},
                         {"reps", reps},       {"figures", nlohmann::json::array()}};
      for (const auto& f : figures) {
        out["figures"].push_back(
            {{"id", f.id},
             {"title", f.title},
             {"fast", f.fast_label},
             {"baseline", f.base_label},
             {"fast_median_s", f.fast_s},
             {"baseline_median_s", f.base_s},
             {"ratio", f.ratio},
             {"target", f.target},
             {"verified", f.verified},
             {"pass", f.reference ? nlohmann::json(nullptr) : nlohmann::json(f.pass())},
             {"note", f.note},
             {"detail", f.detail}});
      }
      if (!python_message.empty()) out["python_skipped"] = python_message;
      std::printf("%s\n", out.dump().c_str());
      return all_verified ? 0 : 1;
    }
    std::printf(
        "kde benchmark: %s, %d interleaved reps (naive: %d for fig 2, %d for fig 3), medians "
        "(min..max), kernels only%s\n",
        over_ranks ? "MPI ranks" : "threads", reps, z.naive_big_reps, z.naive_cv_reps,
        quick ? "; QUICK sizes, targets do not apply" : "");
    std::printf("%-3s %-62s %-36s %-36s %11s %10s  %s\n", "#", "figure", "fast s (min..max)",
                "baseline s (min..max)", "ratio", "target", "result");
    for (const auto& f : figures) {
      char fast[64], base[64];
      std::snprintf(fast, sizeof fast, "%.4g (%.4g..%.4g)", f.fast_s, f.fast_min, f.fast_max);
      std::snprintf(base, sizeof base, "%.4g (%.4g..%.4g)", f.base_s, f.base_min, f.base_max);
      char target[32] = "-";
      if (!f.reference) std::snprintf(target, sizeof target, ">= %gx", f.target);
      std::printf("%-3s %-62s %-36s %-36s %10.2fx %10s  %s\n", f.id.c_str(), f.title.c_str(), fast,
                  base, f.ratio, target, f.reference ? "ref" : verdict(f.pass()));
      if (!f.note.empty()) std::printf("    %s\n", f.note.c_str());
    }
    if (!python_message.empty()) std::printf("%s\n", python_message.c_str());
    bool has3 = false, has4 = false;
    for (const auto& f : figures) {
      has3 = has3 || f.id[0] == '3';
      has4 = has4 || f.id[0] == '4';
    }
    if (has3) {
      std::printf(
          "fig 3: the naive LOO loop ran on %zu random query rows, scaled by n/%zu; fast = "
          "CvProblem construction + partial(all queries, 1 thread) + finish.\n",
          std::min(z.cv_queries, z.cv_n), std::min(z.cv_queries, z.cv_n));
    }
    if (has4) std::printf("fig 4: fast column = T(p), baseline column = T(1).\n");
    if (!all_verified) std::printf("RESULTS DIFFER: see the figures marked above\n");
    return all_verified ? 0 : 1;  // timings never fail the run; wrong results do
  } catch (const Error& error) {
    std::fprintf(stderr, "bench_kde: error: %s\n", error.what());
    return error.exit_code();
  }
}
