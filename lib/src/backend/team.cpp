#include "parakit/backend/team.hpp"

#include <numeric>

#include "parakit/backend/collective.hpp"

namespace parakit {

std::string_view to_string(BackendKind kind) noexcept {
  switch (kind) {
    case BackendKind::serial:
      return "serial";
    case BackendKind::threads:
      return "threads";
    case BackendKind::mpi:
      return "mpi";
  }
  return "unknown";
}

Team::Team(const Comm& comm, int threads)
    : Team(Reported{comm.is_mpi() ? BackendKind::mpi : BackendKind::threads}, Comm(comm), threads) {
}

Team Team::serial() {
  return Team(Reported{BackendKind::serial}, Comm::self(), 1);
}

Team::Team(BackendKind kind, Comm comm, int threads)
    : Team(Reported{kind}, std::move(comm), threads) {}

Team::Team(Reported reported, Comm comm, int threads)
    : kind_(reported.kind), comm_(std::move(comm)) {
  // A failure on one rank (a bad count, threads refused) must reach every rank.
  collectively(comm_, [&] { pool_ = std::make_unique<ThreadPool>(threads); });
  const std::vector<int> counts = comm_.all_gather(threads);
  workers_ = std::accumulate(counts.begin(), counts.end(), 0);
  first_worker_ = std::accumulate(counts.begin(), counts.begin() + comm_.rank(), 0);
}

std::optional<Team> first_workers(const Comm& world, int p, bool over_ranks) {
  if (!over_ranks) return std::optional<Team>(std::in_place, Comm::self(), p);
  auto comm = world.split(world.rank() < p ? 0 : -1, world.rank());
  if (!comm) return std::nullopt;
  return std::optional<Team>(std::in_place, *comm, 1);
}

}  // namespace parakit
