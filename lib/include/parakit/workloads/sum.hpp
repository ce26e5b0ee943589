// The reduce-based sum workload: sum a large array, generated from a counter-based generator
// or read from a .npy/.bin file, on any backend. `fast` is vectorised and bandwidth-bound;
// `exact` is correctly rounded and therefore bitwise identical for every worker count.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "parakit/backend/team.hpp"
#include "parakit/data/generate.hpp"

namespace parakit::workloads {

enum class SumMode { fast, exact };
SumMode parse_sum_mode(std::string_view name);
std::string_view to_string(SumMode mode) noexcept;

struct SumOptions {
  SumMode mode = SumMode::fast;
  std::string input;  ///< .npy or raw float64 .bin; empty means generated data
  data::Dist dist = data::Dist::ones;
  std::uint64_t seed = 1;
  std::uint64_t n = 0;  ///< generated elements (ignored for files)
  int repeat = 1;       ///< kernel repetitions; `seconds` is their median
};

struct SumResult {
  double sum = 0;
  std::uint64_t n = 0;
  std::string dtype;        ///< "float64" or "float32"
  std::uint64_t bytes = 0;  ///< bytes the kernel reads (all ranks)
  double seconds = 0;       ///< kernel time after a barrier, max over ranks (median of repeats)
  double seconds_min = 0;   ///< fastest repeat
  double load_seconds = 0;  ///< generation or file reading, max over ranks
  bool from_file = false;
};

/// The kernel alone: sums [0, n) whose block team.rank_block(n) this rank holds in
/// `rank_slice`. Collective; the result is on every rank. Instantiated for double and float.
template <class T>
double sum_distributed(Team& team, SumMode mode, std::uint64_t n, std::span<const T> rank_slice);

/// Collective over the team. Bad input (missing/truncated/wrong-dtype file, an array too
/// large for the node's memory) raises AgreedError on every rank. Result on every rank.
SumResult run_sum(Team& team, const SumOptions& options);

}  // namespace parakit::workloads
