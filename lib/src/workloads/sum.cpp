#include "parakit/workloads/sum.hpp"

#include <algorithm>
#include <limits>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "parakit/backend/collective.hpp"
#include "parakit/core/buffer.hpp"
#include "parakit/core/error.hpp"
#include "parakit/core/fault.hpp"
#include "parakit/core/parse.hpp"
#include "parakit/core/system.hpp"
#include "parakit/core/timer.hpp"
#include "parakit/io/array_file.hpp"
#include "parakit/numeric/exact_sum.hpp"
#include "parakit/numeric/fast_sum.hpp"
#include "parakit/patterns/reduce.hpp"
#include "parakit/patterns/rows.hpp"

namespace parakit::workloads {
namespace {

using numeric::ExactAccumulator;

/// Refuses an array that cannot fit before touching it: the ranks sharing this node together
/// need ranks_on_node x (this rank's share).
void check_memory(std::uint64_t count_per_rank, std::size_t element_size, int ranks_on_node,
                  std::string_view what) {
  require_memory(static_cast<long double>(count_per_rank) * static_cast<long double>(element_size) *
                     ranks_on_node,
                 what);
}

double max_over_ranks(const Comm& comm, double seconds) {
  return comm.all_reduce(seconds, ops::max{});
}

}  // namespace

/// One worker's running sum in the mode's accumulator.
struct alignas(64) SumPartial {
  double fast = 0;
  ExactAccumulator exact;

  template <class T>
  void add(SumMode mode, std::span<const T> values) {
    if (mode == SumMode::fast) {
      fast += numeric::fast_sum(values);
    } else {
      exact.add(values);
    }
  }
};

/// Folds the workers' partials in worker order, then over ranks. Exact partials travel in the
/// accumulator's wire form: int64 limbs whose elementwise sum is exact, so MPI_Allreduce
/// (MPI_SUM) needs no custom operation.
double finish_sum(const Comm& comm, SumMode mode, std::span<const SumPartial> partials) {
  if (mode == SumMode::fast) {
    double rank_value = 0;
    for (const auto& partial : partials) rank_value += partial.fast;
    return comm.all_reduce(rank_value, ops::plus{});
  }
  ExactAccumulator::Wire wire{};
  for (const auto& partial : partials) {
    wire = ExactAccumulator::add_wires(wire, partial.exact.to_wire());
  }
  return ExactAccumulator::from_wire(comm.all_reduce(wire, ops::plus{})).round();
}

template <class T>
double sum_distributed(Team& team, SumMode mode, std::span<const T> mine) {
  std::vector<SumPartial> partials(static_cast<std::size_t>(team.threads()));
  const auto threads = static_cast<std::uint64_t>(team.threads());
  team.for_each_worker([&](Worker worker) {
    const IndexRange block =
        block_range(mine.size(), threads, static_cast<std::uint64_t>(worker.tid));
    partials[static_cast<std::size_t>(worker.tid)].add(mode,
                                                       mine.subspan(block.begin, block.size()));
  });
  return finish_sum(team.comm(), mode, partials);
}

template double sum_distributed<double>(Team&, SumMode, std::span<const double>);
template double sum_distributed<float>(Team&, SumMode, std::span<const float>);

namespace {

/// Times `repeat` runs of the kernel over the loaded values (median and fastest) into result.
template <class T>
void time_kernel(Team& team, const SumOptions& options, std::uint64_t n, std::span<const T> mine,
                 SumResult& result) {
  std::vector<double> times;
  for (int rep = 0; rep < std::max(options.repeat, 1); ++rep) {
    team.comm().barrier();
    Stopwatch clock;
    result.sum = sum_distributed<T>(team, options.mode, mine);
    times.push_back(max_over_ranks(team.comm(), clock.seconds()));
  }
  std::sort(times.begin(), times.end());
  result.seconds = times[times.size() / 2];
  result.seconds_min = times.front();
  result.n = n;
  result.dtype = std::is_same_v<T, double> ? "float64" : "float32";
  result.bytes = n * sizeof(T);
}

/// Allocates this rank's block team.rank_block(n), fills it with load(values, mine) (on the
/// main thread, collectively; `what` names the data in a memory error), then times the kernel.
template <class T, class Load>
SumResult run_loaded(Team& team, const SumOptions& options, std::uint64_t n,
                     const std::string& what, Load&& load) {
  const Comm& comm = team.comm();
  const IndexRange mine = team.rank_block(n);
  const auto share = comm.node_share();
  LargeBuffer<T> buffer;
  collectively(comm, [&] {
    check_memory(mine.size(), sizeof(T), share.ranks_on_node, what);
    buffer = LargeBuffer<T>(mine.size());
  });
  SumResult result;
  comm.barrier();
  Stopwatch load_clock;
  collectively(comm, [&] { load(buffer.span(), mine); });
  result.load_seconds = max_over_ranks(comm, load_clock.seconds());
  time_kernel<T>(team, options, n, std::as_const(buffer).span(), result);
  return result;
}

/// Fills each worker's own block (first touch places its pages near it) with fill(block, out).
template <class T, class Fill>
void fill_by_workers(Team& team, std::uint64_t n, std::span<T> values, IndexRange mine,
                     Fill&& fill) {
  for_each_block(team, n, [&](Worker worker, IndexRange block) {
    if (worker.tid == 0) inject_fault("load", team.rank());
    fill(block, values.subspan(block.begin - mine.begin, block.size()));
  });
}

SumResult run_generated(Team& team, const SumOptions& options) {
  const std::uint64_t n = options.n;
  return run_loaded<double>(team, options, n, "SumOptions::n " + std::to_string(n),
                            [&](std::span<double> values, IndexRange mine) {
                              fill_by_workers<double>(team, n, values, mine,
                                                      [&](IndexRange block, std::span<double> out) {
                                                        data::generate(options.dist, options.seed,
                                                                       block.begin, out);
                                                      });
                            });
}

template <class T>
SumResult run_array(Team& team, const SumOptions& options, const io::ArrayFileInfo& info) {
  return run_loaded<T>(
      team, options, info.count, info.path, [&](std::span<T> values, IndexRange mine) {
        fill_by_workers<T>(team, info.count, values, mine, [&](IndexRange block, std::span<T> out) {
          io::read_elements(info, block.begin, out);
        });
      });
}

/// An HDF5 dataset or a CSV file that fits: read as doubles by the input layer (a dataset's
/// float32 values widen exactly), then the kernel is timed over the rank's rows.
SumResult run_table(Team& team, const SumOptions& options, const TableSource& source) {
  SumResult result;
  team.comm().barrier();
  Stopwatch load_clock;
  const RowShard shard = read_rows(team.comm(), source, [](std::uint64_t) { return 1; });
  result.load_seconds = max_over_ranks(team.comm(), load_clock.seconds());
  const std::span<const double> mine(shard.values.data(),
                                     static_cast<std::size_t>(shard.values.size()));
  time_kernel<double>(team, options, shard.layout.rows() * shard.cols, mine, result);
  return result;
}

/// The bytes of the file this rank streams (what stream_table's read calls add up to).
std::uint64_t streamed_share(const Team& team, const TableProbe& probe) {
  if (probe.format == TableFormat::csv) {
    return block_range(probe.file_bytes, static_cast<std::uint64_t>(team.comm().size()),
                       static_cast<std::uint64_t>(team.comm().rank()))
        .size();
  }
  return team.rank_block(probe.values).size() * io::dtype_size(probe.dtype);
}

/// A file larger than the budget: streamed through bounded buffers, each block summed by the
/// worker that read it; every repeat reads the file again and is timed end to end.
SumResult run_streamed(Team& team, const SumOptions& options, const TableSource& source,
                       const TableProbe& probe) {
  // Blocks per worker: an array file is mapped in windows of 16 MiB (summed in place from the
  // page cache: no copy, and few enough page faults); HDF5 rounds and CSV pieces of 8 MiB.
  const std::uint64_t block_bytes =
      probe.format == TableFormat::array ? std::uint64_t{16} << 20 : std::uint64_t{8} << 20;
  SumResult result;
  std::vector<double> times;
  const int repeats = std::max(options.repeat, 1);
  Progress progress(options.progress, "sum",
                    streamed_share(team, probe) * static_cast<std::uint64_t>(repeats), "bytes",
                    ProgressUnit::bytes);
  for (int rep = 0; rep < repeats; ++rep) {
    std::vector<SumPartial> partials(static_cast<std::size_t>(team.threads()));
    auto add = [&](Worker worker, auto values) {
      partials[static_cast<std::size_t>(worker.tid)].add(options.mode, values);
    };
    if (repeats > 1)
      progress.stage("repeat " + std::to_string(rep + 1) + "/" + std::to_string(repeats));
    team.comm().barrier();
    Stopwatch clock;
    result.n =
        stream_table(team, source, block_bytes,
                     {[&](Worker worker, std::span<const double> values) { add(worker, values); },
                      [&](Worker worker, std::span<const float> values) { add(worker, values); }},
                     [&](std::uint64_t bytes) { progress.advance(bytes); });
    result.sum = finish_sum(team.comm(), options.mode, partials);
    times.push_back(max_over_ranks(team.comm(), clock.seconds()));
  }
  progress.finish("finished streaming " + options.input);
  std::sort(times.begin(), times.end());
  result.seconds = times[times.size() / 2];
  result.seconds_min = times.front();
  result.load_seconds = result.seconds;
  const bool f32 = probe.dtype == io::DType::f32 && probe.format != TableFormat::csv;
  result.dtype = f32 ? "float32" : "float64";
  result.bytes = probe.format == TableFormat::csv ? probe.file_bytes : result.n * (f32 ? 4 : 8);
  result.streamed = true;
  return result;
}

/// SumOptions::memory_budget, or half the node's available memory over the ranks on it.
std::uint64_t memory_budget(const Comm& comm, const SumOptions& options) {
  if (options.memory_budget > 0) return options.memory_budget;
  const auto available = available_memory_bytes();
  if (!available) return std::numeric_limits<std::uint64_t>::max();
  // The same on every rank of a node, and the smallest node decides for all.
  const std::uint64_t mine =
      *available / 2 / static_cast<std::uint64_t>(comm.node_share().ranks_on_node);
  return comm.all_reduce(mine, ops::min{});
}

}  // namespace

SumMode parse_sum_mode(std::string_view name) {
  if (name == "fast") return SumMode::fast;
  if (name == "exact") return SumMode::exact;
  throw UsageError("unknown SumOptions::mode '" + std::string(name) + "' (expected fast or exact)");
}

std::string_view to_string(SumMode mode) noexcept {
  return mode == SumMode::fast ? "fast" : "exact";
}

SumResult run_sum(Team& team, const SumOptions& options) {
  collectively(team.comm(), [&] { options.progress.check(); });
  if (options.input.empty()) return run_generated(team, options);
  const Comm& comm = team.comm();
  const TableSource source{options.input, 0, options.dataset, "SumOptions::input", false};
  const TableProbe probe = probe_table(comm, source);
  // What this rank would hold: its share of the values (of the text, for CSV).
  const auto ranks = static_cast<std::uint64_t>(comm.size());
  const std::uint64_t share =
      probe.format == TableFormat::csv
          ? (probe.file_bytes + ranks - 1) / ranks
          : (probe.values + ranks - 1) / ranks * io::dtype_size(probe.dtype);
  if (share > memory_budget(comm, options)) {
    SumResult result = run_streamed(team, options, source, probe);
    result.from_file = true;
    return result;
  }
  SumResult result;
  if (probe.format == TableFormat::array) {
    // Every rank reads the header (a few hundred bytes) and only its own byte range after it.
    std::optional<io::ArrayFileInfo> info;
    collectively(comm, [&] { info = io::probe_array_file(options.input); });
    result = info->dtype == io::DType::f32 ? run_array<float>(team, options, *info)
                                           : run_array<double>(team, options, *info);
  } else {
    result = run_table(team, options, source);
  }
  result.from_file = true;
  return result;
}

}  // namespace parakit::workloads
