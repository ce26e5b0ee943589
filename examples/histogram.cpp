// A distributed histogram of a table file (.npy, raw float64 .bin, an HDF5 dataset or CSV):
// each rank streams only its own part of the file, each worker counts into its own bins, and
// the counts are added across threads and then across ranks by one integer all-reduce.
//
//   histogram FILE LO HI BINS [DATASET]                  (threads)
//   mpirun -np 4 histogram FILE LO HI BINS [DATASET]     (ranks; parallel HDF5 for .h5)
//
// Bins as NumPy's histogram: BINS equal bins over [LO, HI], the last one closed; values outside
// are not counted. Rank 0 prints one count per line.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "parakit/backend/collective.hpp"
#include "parakit/core/parse.hpp"
#include "parakit/patterns/rows.hpp"
#include "parakit/runtime/program.hpp"

int main(int argc, char** argv) {
  return parakit::run_program("histogram", argc, argv, [](parakit::Team& team, auto args) {
    parakit::TableSource source;
    double lo = 0, hi = 0;
    std::uint64_t bins = 0;
    parakit::collectively(team.comm(), [&] {
      if (args.size() < 4) throw parakit::UsageError("usage: histogram FILE LO HI BINS [DATASET]");
      source = {args[0], 0, args.size() > 4 ? args[4] : "", "FILE"};
      auto number = [](const char* text) {
        char* end = nullptr;
        const double x = std::strtod(text, &end);
        if (end == text || *end != '\0' || !std::isfinite(x))
          throw parakit::UsageError(std::string("not a finite number: '") + text + "'");
        return x;
      };
      lo = number(args[1]);
      hi = number(args[2]);
      bins = parakit::parse_count(args[3], "BINS");
      if (!(hi > lo) || bins == 0 || bins > (1U << 24))
        throw parakit::UsageError("need LO < HI and 1 <= BINS <= 2^24");
    });
    // Edge k is lo + k (hi - lo) / bins (the last exactly hi), as numpy.linspace makes them.
    const double step = (hi - lo) / static_cast<double>(bins);
    auto edge = [&](std::uint64_t k) {
      return k == bins ? hi : lo + static_cast<double>(k) * step;
    };
    std::vector<std::vector<std::uint64_t>> counts(static_cast<std::size_t>(team.threads()),
                                                   std::vector<std::uint64_t>(bins, 0));
    // float32 values are compared with float32 edges, as NumPy does for a float32 array
    auto count = [&](parakit::Worker w, auto values) {
      using T = typename decltype(values)::value_type;
      auto& mine = counts[static_cast<std::size_t>(w.tid)];
      for (const T x : values) {
        if (!(x >= static_cast<T>(lo) && x <= static_cast<T>(hi))) continue;
        auto k = std::min(bins - 1, static_cast<std::uint64_t>((double{x} - lo) / step));
        if (k > 0 && x < static_cast<T>(edge(k))) --k;  // rounding, settled by the edges
        if (k + 1 < bins && x >= static_cast<T>(edge(k + 1))) ++k;
        ++mine[k];
      }
    };
    const parakit::TableVisitor visit{
        [&](parakit::Worker w, std::span<const double> values) { count(w, values); },
        [&](parakit::Worker w, std::span<const float> values) { count(w, values); }};
    parakit::stream_table(team, source, std::uint64_t{1} << 20, visit);
    std::vector<std::uint64_t> total(bins, 0);
    for (const auto& mine : counts)
      for (std::uint64_t k = 0; k < bins; ++k) total[k] += mine[k];
    team.comm().all_reduce_in_place(std::span<std::uint64_t>(total), parakit::ops::plus{});
    if (team.rank() == 0)
      for (const auto c : total) std::printf("%llu\n", static_cast<unsigned long long>(c));
    return 0;
  });
}
