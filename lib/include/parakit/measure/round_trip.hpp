// The farm's latency reference: the time one 8-byte message takes there and back. A
// chunk-1 farm worker that waits for its next task after each result needs one round trip
// per task, so 1/RTT tasks/s is what one such worker can reach; the farm's prefetch
// (FarmOptions::in_flight) and several workers are how it goes past that.
#pragma once

#include "parakit/backend/comm.hpp"

namespace parakit::measure {

/// Seconds per 8-byte ping-pong between ranks 0 and 1 of `comm` (blocking MPI_Send /
/// MPI_Recv): the median of 5 timed blocks of `iterations` after one warm-up block, the same
/// on every rank. Collective over `comm`, which needs at least 2 ranks (InternalError).
double mpi_round_trip(const Comm& comm, int iterations = 10000);

/// Seconds per hand-off there and back between two threads through a mutex and a condition
/// variable, the primitives the thread farm's queues use; the median of 5 timed blocks.
double thread_round_trip(int iterations = 10000);

}  // namespace parakit::measure
