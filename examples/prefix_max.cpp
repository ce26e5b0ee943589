// map_chunks with an ordered fold: the highest point of a random walk. Chunks of the walk's
// steps are summarised anywhere in the team (each chunk: its total and its highest prefix),
// and rank 0 folds the summaries in chunk order, as a prefix computation must:
// best = max(best, before + chunk's highest prefix), before += chunk total.
//
//   prefix_max [STEPS] [CHUNK]                    (threads)
//   mpirun -np 4 prefix_max [STEPS] [CHUNK]       (ranks)
//
// Step i is +1 or -1 by the top bit of splitmix64(i) (a 64-bit mixing function). Rank 0 prints
// "STEPS FINAL HIGHEST AT": the walk's end, its highest position and the step count reaching
// it first. Integers: the same for any split.
#include <cstdint>
#include <cstdio>
#include <vector>

#include "parakit/backend/collective.hpp"
#include "parakit/core/parse.hpp"
#include "parakit/patterns/chunks.hpp"
#include "parakit/runtime/program.hpp"

namespace {

std::uint64_t splitmix64(std::uint64_t z) {
  z += 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

}  // namespace

int main(int argc, char** argv) {
  return parakit::run_program("prefix_max", argc, argv, [](parakit::Team& team, auto args) {
    std::uint64_t steps = 10'000'000, chunk = 65536;
    parakit::collectively(team.comm(), [&] {
      if (args.size() > 0) steps = parakit::parse_count(args[0], "STEPS");
      if (args.size() > 1) chunk = parakit::parse_count(args[1], "CHUNK");
      if (steps == 0 || chunk == 0) throw parakit::UsageError("STEPS and CHUNK must be >= 1");
    });
    // Per chunk: {total, highest prefix (after >= 1 step), steps to reach it}.
    const auto summaries =
        parakit::map_chunks<std::int64_t>(team, steps, chunk, [](parakit::IndexRange range) {
          std::int64_t position = 0, highest = INT64_MIN, at = 0;
          for (std::uint64_t i = range.begin; i < range.end; ++i) {
            position += splitmix64(i) >> 63 ? 1 : -1;
            if (position > highest) {
              highest = position;
              at = static_cast<std::int64_t>(i - range.begin + 1);
            }
          }
          return std::vector<std::int64_t>{position, highest, at};
        });
    if (team.rank() != 0) return 0;
    std::int64_t before = 0, best = INT64_MIN, best_at = 0;
    for (std::size_t c = 0; c < summaries.chunks(); ++c) {  // in chunk order
      const auto s = summaries.chunk(c);
      if (before + s[1] > best) {
        best = before + s[1];
        best_at = static_cast<std::int64_t>(c * chunk) + s[2];
      }
      before += s[0];
    }
    std::printf("%llu %lld %lld %lld\n", static_cast<unsigned long long>(steps),
                static_cast<long long>(before), static_cast<long long>(best),
                static_cast<long long>(best_at));
    return 0;
  });
}
