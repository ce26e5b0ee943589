// parakit sum: the reduce-based sum of a generated or file-backed array.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli.hpp"
#include "parakit/backend/collective.hpp"
#include "parakit/core/error.hpp"
#include "parakit/core/parse.hpp"
#include "parakit/core/system.hpp"
#include "parakit/io/array_file.hpp"
#include "parakit/workloads/sum.hpp"

namespace parakit::cli {
namespace {

struct SumArgs {
  CommonOptions common;
  std::string n = "2^26";
  std::string dist = "uniform";
  std::uint64_t seed = 1;
  std::string input;
  std::string dataset;
  std::uint64_t memory_budget = 0;
  std::string mode = "fast";
  int repeat = 1;
  std::string save_data;
};

void print_summary(const workloads::SumOptions& options, const workloads::SumResult& result,
                   const Team& team) {
  const std::string source = result.from_file ? options.input
                                              : std::string(data::to_string(options.dist)) +
                                                    ", seed " + std::to_string(options.seed);
  std::printf("parakit sum (%s)\n", std::string(workloads::to_string(options.mode)).c_str());
  std::printf("  sum       %s\n", format_double(result.sum).c_str());
  std::printf("  n         %llu %s (%s)\n", static_cast<unsigned long long>(result.n),
              result.dtype.c_str(), source.c_str());
  std::printf("  backend   %s: %d rank%s x %d thread%s = %d workers\n",
              std::string(to_string(team.kind())).c_str(), team.ranks(),
              team.ranks() == 1 ? "" : "s", team.threads(), team.threads() == 1 ? "" : "s",
              team.workers());
  const double gbps =
      result.seconds > 0 ? static_cast<double>(result.bytes) / result.seconds / 1e9 : 0;
  if (result.streamed) {
    std::printf("  streamed  %.6f s  %.2f GB/s (read and summed block by block)\n", result.seconds,
                gbps);
    return;
  }
  std::printf("  kernel    %.6f s  %.2f GB/s\n", result.seconds, gbps);
  std::printf("  %-9s %.6f s\n", result.from_file ? "read" : "generate", result.load_seconds);
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

}  // namespace

Subcommand add_sum_command(CLI::App& root) {
  auto args = std::make_shared<SumArgs>();
  CLI::App* command = root.add_subcommand("sum", "sum a large array (reduce pattern)");
  command->add_option("--n", args->n, "elements to generate: 1000000, 1e9, 2^26")
      ->capture_default_str();
  command->add_option("--dist", args->dist, "ones|uniform|normal|cancel")->capture_default_str();
  command->add_option("--seed", args->seed, "generator seed")->capture_default_str();
  auto* input = command->add_option(
      "--input", args->input,
      "sum a file instead: .npy (float64/float32, any shape), raw float64 .bin, HDF5 (.h5) or "
      "CSV; each rank reads only its own part");
  command
      ->add_option("--dataset", args->dataset,
                   "the dataset of an HDF5 --input (default: the file's only one)")
      ->needs(input);
  command
      ->add_option("--memory-budget", args->memory_budget,
                   "bytes of the file a rank may load (e.g. 512MiB); a larger share is streamed "
                   "through bounded buffers and timed end to end (default: half the node's "
                   "available memory over its ranks)")
      ->transform(CLI::AsSizeValue(false))
      ->needs(input);
  command->add_option("--mode", args->mode, "fast (vectorised) or exact (correctly rounded)")
      ->capture_default_str();
  command->add_option("--repeat", args->repeat, "kernel repetitions; seconds is the median")
      ->capture_default_str();
  command->add_option("--save-data", args->save_data,
                      "also write the generated array to this .npy file (one process only)");
  add_common_options(*command, args->common);

  return {command, [args] {
            workloads::SumOptions options;
            options.mode = workloads::parse_sum_mode(args->mode);
            options.dist = data::parse_dist(args->dist);
            options.seed = args->seed;
            options.input = args->input;
            options.dataset = args->dataset;
            options.memory_budget = args->memory_budget;
            if (args->repeat < 1) throw UsageError("--repeat must be at least 1");
            options.repeat = args->repeat;
            if (options.input.empty()) options.n = parse_count(args->n, "--n");
            if (!args->save_data.empty() && !options.input.empty()) {
              throw UsageError("--save-data writes generated data; it cannot be used with --input");
            }
            return run_with_environment(args->common, [&](Environment& env) {
              Team team = env.make_team();
              collectively(team.comm(), [&] {
                if (!args->save_data.empty() && team.ranks() > 1) {
                  throw UsageError("--save-data needs a single process (use --backend threads)");
                }
              });
              const workloads::SumResult result = workloads::run_sum(team, options);
              if (!args->save_data.empty()) {
                std::vector<double> values(result.n);
                data::generate(options.dist, options.seed, 0, values);
                io::write_npy(args->save_data, values);
              }
              const auto peak_rss = team.comm().gather(peak_rss_bytes(), 0);
              if (is_output_rank(team)) {
                if (args->common.json) {
                  print_json(to_json(options, result, team, peak_rss));
                } else {
                  print_summary(options, result, team);
                }
              }
              return 0;
            });
          }};
}

}  // namespace parakit::cli
