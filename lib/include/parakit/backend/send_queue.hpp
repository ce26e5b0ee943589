// Non-blocking sends that own their buffers. A protocol where both sides send whenever they
// have something (a farm master and its workers) must never block in MPI_Send: two large
// messages crossing each other would deadlock under the rendezvous protocol.
#pragma once

#include <mpi.h>

#include <cstddef>
#include <vector>

#include "parakit/backend/comm.hpp"

namespace parakit {

class SendQueue {
 public:
  explicit SendQueue(const Comm& comm) : comm_(comm) {}
  /// Never blocks: sends still pending (only on an error path, where the job is about to
  /// abort) are released to MPI and their buffers deliberately leaked.
  ~SendQueue();
  SendQueue(const SendQueue&) = delete;
  SendQueue& operator=(const SendQueue&) = delete;

  /// A cleared buffer to encode the next message into (recycled from completed sends).
  std::vector<std::byte> buffer();
  /// Starts sending `data` to `dest`; the queue keeps the buffer until the send completes.
  void send(std::vector<std::byte>&& data, int dest, int tag);
  /// Completes what has finished (MPI_Testsome) and recycles those buffers. Cheap when empty.
  void progress();
  /// Waits for every pending send.
  void wait_all() noexcept;
  std::size_t pending() const noexcept { return requests_.size(); }

 private:
  const Comm& comm_;
  std::vector<MPI_Request> requests_;
  std::vector<std::vector<std::byte>> buffers_;  // parallel to requests_
  std::vector<std::vector<std::byte>> spare_;
  std::vector<int> done_;
};

}  // namespace parakit
