// A farm over a task type of your own, with a journal, so a killed run resumes where it
// stopped: each task counts the primes in one segment of [0, LIMIT). Tasks go out in guided
// chunks to every executor (threads, or MPI ranks with rank 0 as the master); each result is
// journaled as it arrives, and --resume skips what the journal holds.
//
//   prime_farm JOURNAL [LIMIT] [SEGMENT] [--resume]                (threads)
//   mpirun -np 4 prime_farm JOURNAL [LIMIT] [SEGMENT] [--resume]   (ranks)
//
// Rank 0 prints "TASKS OK RESUMED PRIMES CHECKSUM": the primes below LIMIT, and the farm's
// order-independent checksum of the results, the same however the run was split or resumed.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>

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
  std::size_t size() const { return static_cast<std::size_t>((limit + length - 1) / length); }
  Segment operator[](std::size_t k) const {
    const std::uint64_t first = k * length;
    return {first, std::min(length, limit - first)};
  }
};

std::uint64_t count_primes(const Segment& s) {
  std::uint64_t count = 0;
  for (std::uint64_t x = s.first; x < s.first + s.count; ++x) {
    bool prime = x >= 2;
    for (std::uint64_t d = 2; prime && d * d <= x; ++d) prime = x % d != 0;
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
      std::size_t at = 0;
      for (const char* arg : args) {
        const std::string text = arg;
        if (text == "--resume") {
          options.journal.resume = true;
        } else if (at == 0) {
          options.journal.path = text;
          ++at;
        } else {
          (at++ == 1 ? limit : segment) = parakit::parse_count(text, "LIMIT or SEGMENT");
        }
      }
      if (options.journal.path.empty()) throw parakit::UsageError("give a JOURNAL file");
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
    if (team.rank() == 0) {
      std::printf("%llu %llu %llu %llu %016llx\n", static_cast<unsigned long long>(report.tasks),
                  static_cast<unsigned long long>(report.ok),
                  static_cast<unsigned long long>(report.resumed),
                  static_cast<unsigned long long>(primes),
                  static_cast<unsigned long long>(report.checksum));
    }
    return report.failed == 0 ? 0 : 1;
  });
}
