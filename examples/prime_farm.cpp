// A farm over a task type of your own, with a journal: each task counts the primes in one
// segment of [0, LIMIT); each result is journaled as it arrives, so a killed run resumes
// (--resume) where it stopped, on threads or MPI ranks (rank 0 the master):
//   [mpirun -np 4] prime_farm JOURNAL [LIMIT] [SEGMENT] [--resume]
// Rank 0 prints "TASKS OK RESUMED PRIMES CHECKSUM": the primes below LIMIT, and the farm's
// order-independent checksum, the same however the run was split or resumed.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "parakit/backend/collective.hpp"
#include "parakit/core/parse.hpp"
#include "parakit/patterns/farm.hpp"
#include "parakit/runtime/program.hpp"

namespace {

struct Segment {  // a task: trivially copyable, so messages and journal copy its bytes
  std::uint64_t first, count;
};

/// The tasks: segments of [0, limit), made on demand (the farm indexes them on rank 0).
struct Segments {
  std::uint64_t limit, length;
  std::size_t size() const { return limit / length + (limit % length != 0 ? 1 : 0); }
  Segment operator[](std::size_t k) const {
    const std::uint64_t first = k * length;
    return {first, std::min(length, limit - first)};
  }
};

std::uint64_t count_primes(const Segment& s) {
  std::uint64_t count = 0;
  for (std::uint64_t x = s.first; x < s.first + s.count; ++x) {
    bool prime = x >= 2;
    for (std::uint64_t d = 2; prime && d <= x / d; ++d) prime = x % d != 0;
    count += prime ? 1 : 0;
  }
  return count;
}

}  // namespace

int main(int argc, char** argv) {
  return parakit::run_program("prime_farm", argc, argv, [](parakit::Team& team, auto args) {
    parakit::FarmOptions options;
    std::uint64_t limit = 2'000'000, segment = 5000;
    parakit::collectively(team.comm(), [&] {
      std::vector<std::string> given;  // positional arguments
      for (const std::string arg : args) {
        if (arg == "--resume") options.journal.resume = true;
        if (arg != "--resume") given.push_back(arg);
      }
      if (given.empty() || given.size() > 3)
        throw parakit::UsageError("give JOURNAL [LIMIT] [SEGMENT]");
      options.journal.path = given[0];
      if (given.size() > 1) limit = parakit::parse_count(given[1], "LIMIT");
      if (given.size() > 2) segment = parakit::parse_count(given[2], "SEGMENT");
      if (segment == 0) throw parakit::UsageError("SEGMENT must be at least 1");
    });
    options.journal.kind = "prime_farm";
    std::uint64_t primes = 0;  // rank 0: from every result, run now or read from the journal
    const auto report = parakit::farm(
        team, Segments{limit, segment}, count_primes,
        [&](const parakit::FarmItem<std::uint64_t>& item) {
          if (item.result) primes += *item.result;
        },
        options);
    using ull = unsigned long long;
    if (team.rank() == 0) {
      std::printf("%llu %llu %llu %llu %016llx\n", ull{report.tasks}, ull{report.ok},
                  ull{report.resumed}, ull{primes}, ull{report.checksum});
    }
    return report.failed == 0 ? 0 : 1;
  });
}
