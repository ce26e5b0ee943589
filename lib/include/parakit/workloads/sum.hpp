// The reduce-based sum workload: sum a large array, generated from a counter-based generator
// or read from a file (.npy/.bin, an HDF5 dataset or CSV, through the input layer of
// patterns/rows.hpp), on any backend. `fast` is vectorised and bandwidth-bound; `exact` is
// correctly rounded and therefore bitwise identical for every worker count. A file whose share
// per rank fits SumOptions::memory_budget is loaded, then the kernel is timed alone; a larger
// one is streamed through bounded buffers and timed end to end.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "parakit/backend/team.hpp"
#include "parakit/core/progress.hpp"
#include "parakit/data/generate.hpp"

namespace parakit::workloads {

enum class SumMode { fast, exact };
SumMode parse_sum_mode(std::string_view name);
std::string_view to_string(SumMode mode) noexcept;

struct SumOptions {
  SumMode mode = SumMode::fast;
  std::string input;    ///< .npy, raw float64 .bin, HDF5 or CSV; empty means generated data
  std::string dataset;  ///< the dataset of an HDF5 `input`; empty: its only dataset
  /// Bytes a rank may hold of a file's values before it streams them instead of loading
  /// them; 0 means half the node's available memory shared by the ranks on the node.
  std::uint64_t memory_budget = 0;
  data::Dist dist = data::Dist::ones;
  std::uint64_t seed = 1;
  std::uint64_t n = 0;  ///< generated elements (ignored for files)
  int repeat = 1;       ///< kernel repetitions; `seconds` is their median
  /// A streamed file's progress (bytes read of this process's part, GB/s, time left). Enable
  /// it on one process only: the line reports that process's own part of the file.
  ProgressOptions progress;
};

struct SumResult {
  double sum = 0;
  std::uint64_t n = 0;
  std::string dtype;        ///< "float64" or "float32"
  std::uint64_t bytes = 0;  ///< bytes the kernel reads (all ranks)
  double seconds = 0;       ///< kernel time after a barrier, max over ranks (median of repeats);
                            ///< for a streamed file, reading and summing together
  double seconds_min = 0;   ///< fastest repeat
  double load_seconds = 0;  ///< generation or file reading, max over ranks
  bool from_file = false;
  bool streamed = false;  ///< the file was summed block by block as it was read
};

/// The kernel alone: sums the values that every rank holds in `mine` (any split over ranks;
/// this rank's threads take contiguous blocks of it). Collective; the result is on every rank.
/// Exact mode gives the same bits for every split. Instantiated for double and float.
template <class T>
double sum_distributed(Team& team, SumMode mode, std::span<const T> mine);

/// Collective over the team. Bad input (a missing, truncated or malformed file, a wrong dtype,
/// generated data too large for the node's memory) raises AgreedError on every rank. Result
/// on every rank.
SumResult run_sum(Team& team, const SumOptions& options);

}  // namespace parakit::workloads
