#include "parakit/workloads/sum.hpp"

#include <algorithm>
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

template <class T>
double sum_distributed(Team& team, SumMode mode, std::uint64_t n, std::span<const T> rank_slice) {
  const T* local = rank_slice.data();
  const std::uint64_t offset = team.rank_block(n).begin;
  auto slice = [&](IndexRange block) {
    return std::span<const T>(local + (block.begin - offset), block.size());
  };
  if (mode == SumMode::fast) {
    return reduce_blocks<double>(
        team, n, 0.0, [&](Worker, IndexRange block) { return numeric::fast_sum(slice(block)); },
        [](double a, double b) { return a + b; }, ops::plus{});
  }
  // Exact partials travel in the accumulator's wire form: int64 limbs whose elementwise sum is
  // exact, so the thread join and MPI_Allreduce(MPI_SUM) need no custom operation.
  const auto wire = reduce_blocks<ExactAccumulator::Wire>(
      team, n, ExactAccumulator::Wire{},
      [&](Worker, IndexRange block) {
        ExactAccumulator accumulator;
        accumulator.add(slice(block));
        return accumulator.to_wire();
      },
      ExactAccumulator::add_wires, ops::plus{});
  return ExactAccumulator::from_wire(wire).round();
}

template double sum_distributed<double>(Team&, SumMode, std::uint64_t, std::span<const double>);
template double sum_distributed<float>(Team&, SumMode, std::uint64_t, std::span<const float>);

namespace {

template <class T>
SumResult run_typed(Team& team, const SumOptions& options, std::uint64_t n,
                    const io::ArrayFileInfo* file) {
  const Comm& comm = team.comm();
  const IndexRange mine = team.rank_block(n);
  const auto share = comm.node_share();
  LargeBuffer<T> buffer;
  collectively(comm, [&] {
    const std::string what = file ? file->path : "SumOptions::n " + std::to_string(n);
    check_memory(mine.size(), sizeof(T), share.ranks_on_node, what);
    buffer = LargeBuffer<T>(mine.size());
  });

  // Each worker fills its own block (first touch places its pages near it).
  SumResult result;
  comm.barrier();
  Stopwatch load_clock;
  collectively(comm, [&] {
    for_each_block(team, n, [&](Worker worker, IndexRange block) {
      if (worker.tid == 0) inject_fault("load", comm.rank());
      std::span<T> out(buffer.data() + (block.begin - mine.begin), block.size());
      if (file) {
        io::read_elements(*file, block.begin, out);
      } else if constexpr (std::is_same_v<T, double>) {
        data::generate(options.dist, options.seed, block.begin, out);
      }
    });
  });
  result.load_seconds = max_over_ranks(comm, load_clock.seconds());

  std::vector<double> times;
  for (int rep = 0; rep < std::max(options.repeat, 1); ++rep) {
    comm.barrier();
    Stopwatch clock;
    result.sum = sum_distributed<T>(team, options.mode, n, std::as_const(buffer).span());
    times.push_back(max_over_ranks(comm, clock.seconds()));
  }
  std::sort(times.begin(), times.end());
  result.seconds = times[times.size() / 2];
  result.seconds_min = times.front();
  result.n = n;
  result.dtype = std::is_same_v<T, double> ? "float64" : "float32";
  result.bytes = n * sizeof(T);
  result.from_file = file != nullptr;
  return result;
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
  if (options.input.empty()) return run_typed<double>(team, options, options.n, nullptr);
  // Every rank reads the header (a few hundred bytes) and only its own byte range after it.
  std::optional<io::ArrayFileInfo> info;
  collectively(team.comm(), [&] { info = io::probe_array_file(options.input); });
  if (info->dtype == io::DType::f32) return run_typed<float>(team, options, info->count, &*info);
  return run_typed<double>(team, options, info->count, &*info);
}

}  // namespace parakit::workloads
