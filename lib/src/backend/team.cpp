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
    : Team(comm.is_mpi() ? BackendKind::mpi : BackendKind::threads, Comm(comm), threads) {}

Team::Team(BackendKind kind, Comm comm, int threads) : kind_(kind), comm_(std::move(comm)) {
  // A failure on one rank (a bad count, threads refused) must reach every rank.
  collectively(comm_, [&] { pool_ = std::make_unique<ThreadPool>(threads); });
  const std::vector<int> counts = comm_.all_gather(threads);
  workers_ = std::accumulate(counts.begin(), counts.end(), 0);
  first_worker_ = std::accumulate(counts.begin(), counts.begin() + comm_.rank(), 0);
}

std::optional<Team> first_workers(const Comm& world, int p, bool over_ranks) {
  if (!over_ranks) return std::optional<Team>(std::in_place, BackendKind::threads, Comm::self(), p);
  auto comm = world.split(world.rank() < p ? 0 : -1, world.rank());
  if (!comm) return std::nullopt;
  return std::optional<Team>(std::in_place, BackendKind::mpi, *comm, 1);
}

}  // namespace parakit
