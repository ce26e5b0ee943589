// parakit sum: the reduce-based sum of a generated or file-backed array.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "parakit/backend/collective.hpp"
#include "parakit/core/buffer.hpp"
#include "parakit/core/error.hpp"
#include "parakit/core/parse.hpp"
#include "parakit/core/system.hpp"
#include "parakit/core/timer.hpp"
#include "parakit/io/array_file.hpp"
#include "parakit/measure/read_probe.hpp"
#include "parakit/patterns/reduce.hpp"
#include "parakit/workloads/sum.hpp"
#include "registry.hpp"

namespace parakit::cli {
namespace {

struct SumArgs {
  std::string n = "2^26";
  std::string dist = "uniform";
  std::uint64_t seed = 1;
  std::string input;
  std::string dataset;
  std::uint64_t memory_budget = 0;
  std::string mode = "fast";
  int repeat = 1;
  std::string save_data;
  ProgressArgs progress;
};

std::string summary(const workloads::SumOptions& options, const workloads::SumResult& result,
                    const Team& team) {
  const std::string source = result.from_file ? options.input
                                              : std::string(data::to_string(options.dist)) +
                                                    ", seed " + std::to_string(options.seed);
  std::string text;
  appendf(text, "parakit sum (%s)\n", std::string(workloads::to_string(options.mode)).c_str());
  appendf(text, "  sum       %s\n", format_double(result.sum).c_str());
  appendf(text, "  n         %llu %s (%s)\n", static_cast<unsigned long long>(result.n),
          result.dtype.c_str(), source.c_str());
  appendf(text, "  backend   %s\n", team_description(team).c_str());
  const double gbps =
      result.seconds > 0 ? static_cast<double>(result.bytes) / result.seconds / 1e9 : 0;
  if (result.streamed) {
    appendf(text, "  streamed  %.6f s  %.2f GB/s (read and summed block by block)\n",
            result.seconds, gbps);
    return text;
  }
  appendf(text, "  kernel    %.6f s  %.2f GB/s\n", result.seconds, gbps);
  appendf(text, "  %-9s %.6f s\n", result.from_file ? "read" : "generate", result.load_seconds);
  return text;
}

nlohmann::json to_json(const workloads::SumOptions& options, const workloads::SumResult& result,
                       const Team& team, const std::vector<std::uint64_t>& peak_rss) {
  char hex[64];
  std::snprintf(hex, sizeof hex, "%a", result.sum);
  nlohmann::json out{
      {"command", "sum"},
      {"sum", json_double(result.sum)},
      {"sum_hex", hex},
      {"n", result.n},
      {"mode", workloads::to_string(options.mode)},
      {"dtype", result.dtype},
      {"backend", to_string(team.kind())},
      {"ranks", team.ranks()},
      {"threads", team.threads()},
      {"workers", team.workers()},
      {"seconds", result.seconds},
      {"seconds_min", result.seconds_min},
      {"repeat", options.repeat},
      {"bytes", result.bytes},
      {"peak_rss_bytes", peak_rss},
      {"gb_per_s",
       result.seconds > 0 ? static_cast<double>(result.bytes) / result.seconds / 1e9 : 0.0},
  };
  if (result.from_file) {
    out["input"] = options.input;
    if (!options.dataset.empty()) out["dataset"] = options.dataset;
    out["read_seconds"] = result.load_seconds;
    out["streamed"] = result.streamed;
  } else {
    out["dist"] = data::to_string(options.dist);
    out["seed"] = options.seed;
    out["generate_seconds"] = result.load_seconds;
  }
  return out;
}

/// The bandwidth reference: each worker reads its block of an n-double array (filled by the
/// same worker, untimed) with measure::read_probe; seconds, max over ranks.
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

/// `parakit bench`'s sum: the fast sum of n generated doubles, and with --limits the read
/// bandwidth it is measured against.
std::function<BenchSuite()> add_sum_bench(CLI::App& bench) {
  auto size = std::make_shared<std::string>("2^25");
  bench.add_option("--n", *size, "sum: elements")->capture_default_str();
  return [size] {
    const std::uint64_t n = parse_count(*size, "--n");
    if (n == 0) throw UsageError("--n must be at least 1");
    BenchSuite suite;
    suite.names = {"sum"};
    suite.in_all = {"sum"};
    suite.references = [](const std::string&) { return std::vector<std::string>{"sum-probe"}; };
    suite.make = [n](const std::string& name, const Scaling& scaling) {
      const bool probe = name == "sum-probe";
      BenchWorkload w{
          name,
          [=](Team& team, int p) {
            if (probe) return read_probe_seconds(team, scaling.grown(n, p));
            workloads::SumOptions o;
            o.n = scaling.grown(n, p);
            o.dist = data::Dist::uniform;
            o.mode = workloads::SumMode::fast;
            return workloads::run_sum(team, o).seconds;
          },
          [=](int p) { return "n=" + std::to_string(scaling.grown(n, p)) + " doubles"; }};
      if (!probe) {
        w.limit = BenchLimit{
            "sum-probe", 0, [](int p, double seconds, double probe_seconds) {
              const double fraction = probe_seconds / seconds;
              std::string line;
              appendf(line,
                      "sum at p = %d: %.2f of the measured read bandwidth "
                      "(sum-probe)",
                      p, fraction);
              return std::pair{nlohmann::json{{"fraction_of_bandwidth", fraction}}, line};
            }};
      }
      return w;
    };
    return suite;
  };
}

std::function<TeamRun()> add_sum_options(CLI::App& command, const CommonOptions& /*common*/) {
  auto args = std::make_shared<SumArgs>();
  command.add_option("--n", args->n, "elements to generate: 1000000, 1e9, 2^26")
      ->capture_default_str();
  command.add_option("--dist", args->dist, "ones|uniform|normal|cancel")->capture_default_str();
  command.add_option("--seed", args->seed, "generator seed")
      ->capture_default_str()
      ->check(non_negative());
  auto* input = command.add_option(
      "--input", args->input,
      "sum a file instead: .npy (float64/float32, any shape), raw float64 .bin, HDF5 (.h5) or "
      "CSV; each rank reads only its own part");
  command
      .add_option("--dataset", args->dataset,
                  "the dataset of an HDF5 --input (default: the file's only one)")
      ->needs(input);
  command
      .add_option("--memory-budget", args->memory_budget,
                  "bytes of the file a rank may load (e.g. 512MiB); a larger share is streamed "
                  "through bounded buffers and timed end to end (default: half the node's "
                  "available memory over its ranks)")
      ->check(non_negative())
      ->transform(CLI::AsSizeValue(false))
      ->needs(input);
  command.add_option("--mode", args->mode, "fast (vectorised) or exact (correctly rounded)")
      ->capture_default_str();
  command.add_option("--repeat", args->repeat, "kernel repetitions; seconds is the median")
      ->capture_default_str();
  command.add_option("--save-data", args->save_data,
                     "also write the generated array to this .npy file (one process only)");
  add_progress_options(command, args->progress,
                       "shown for a streamed --input (bytes read, GB/s); under MPI it is rank "
                       "0's own part of the file (the parts are equal)");

  return [args] {
    auto options = std::make_shared<workloads::SumOptions>();
    options->mode = workloads::parse_sum_mode(args->mode);
    options->dist = data::parse_dist(args->dist);
    options->seed = args->seed;
    options->input = args->input;
    options->dataset = args->dataset;
    options->memory_budget = args->memory_budget;
    if (args->repeat < 1) throw UsageError("--repeat must be at least 1");
    options->repeat = args->repeat;
    options->progress = progress_options(args->progress);
    if (options->input.empty()) options->n = parse_count(args->n, "--n");
    if (!args->save_data.empty() && !options->input.empty()) {
      throw UsageError("--save-data writes generated data; it cannot be used with --input");
    }
    return TeamRun([args, options](Team& team) {
      collectively(team.comm(), [&] {
        if (!args->save_data.empty() && team.ranks() > 1) {
          throw UsageError("--save-data needs a single process (use --backend threads)");
        }
      });
      workloads::SumOptions run_options = *options;
      run_options.progress.enabled = options->progress.enabled && is_output_rank(team);
      const workloads::SumResult result = workloads::run_sum(team, run_options);
      if (!args->save_data.empty()) {
        std::vector<double> values(result.n);
        data::generate(options->dist, options->seed, 0, values);
        io::write_npy(args->save_data, values);
      }
      const auto peak_rss = team.comm().gather(peak_rss_bytes(), 0);
      Report report;
      if (!is_output_rank(team)) return report;
      report.json = to_json(*options, result, team, peak_rss);
      report.text = summary(*options, result, team);
      return report;
    });
  };
}

}  // namespace

WorkloadSpec sum_workload() {
  return {"sum", "sum a large array (reduce pattern)", add_sum_options, add_sum_bench};
}

}  // namespace parakit::cli
