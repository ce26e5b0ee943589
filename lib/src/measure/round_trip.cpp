#include "parakit/measure/round_trip.hpp"

#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "parakit/core/error.hpp"
#include "parakit/core/timer.hpp"
#include "parakit/measure/stats.hpp"

namespace parakit::measure {

namespace {
constexpr int kBlocks = 6;  // the first warms up
}

double mpi_round_trip(const Comm& comm, int iterations) {
  if (!comm.is_mpi() || comm.size() < 2) {
    throw InternalError("mpi_round_trip needs a communicator of at least 2 ranks");
  }
  const MPI_Comm c = comm.native();
  constexpr int kTag = 99;
  double value = 0;
  std::vector<double> blocks;
  for (int block = 0; block < kBlocks; ++block) {
    comm.barrier();
    Stopwatch watch;
    for (int i = 0; i < iterations; ++i) {
      if (comm.rank() == 0) {
        MPI_Send(&value, 1, MPI_DOUBLE, 1, kTag, c);
        MPI_Recv(&value, 1, MPI_DOUBLE, 1, kTag, c, MPI_STATUS_IGNORE);
      } else if (comm.rank() == 1) {
        MPI_Recv(&value, 1, MPI_DOUBLE, 0, kTag, c, MPI_STATUS_IGNORE);
        MPI_Send(&value, 1, MPI_DOUBLE, 0, kTag, c);
      }
    }
    if (block > 0) blocks.push_back(watch.seconds() / iterations);
  }
  return comm.broadcast(median(blocks), 0);
}

double thread_round_trip(int iterations) {
  std::mutex mutex;
  std::condition_variable changed;
  long turn = 0;  // even: the main thread's move, odd: the partner's
  const long total = 2L * iterations * kBlocks;
  std::thread partner([&] {
    std::unique_lock lock(mutex);
    for (long t = 1; t < total; t += 2) {
      changed.wait(lock, [&] { return turn == t; });
      ++turn;
      changed.notify_one();
    }
  });
  std::vector<double> blocks;
  {
    std::unique_lock lock(mutex);
    for (int block = 0; block < kBlocks; ++block) {
      Stopwatch watch;
      for (int i = 0; i < iterations; ++i) {
        ++turn;
        changed.notify_one();
        const long mine = turn + 1;
        changed.wait(lock, [&] { return turn == mine; });
      }
      if (block > 0) blocks.push_back(watch.seconds() / iterations);
    }
  }
  partner.join();
  return median(blocks);
}

}  // namespace parakit::measure
