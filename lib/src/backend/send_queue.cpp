#include "parakit/backend/send_queue.hpp"

#include <string>
#include <utility>

#include "parakit/core/error.hpp"

namespace parakit {

SendQueue::~SendQueue() {
  if (requests_.empty()) return;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized) return;
  for (MPI_Request& request : requests_) {
    if (request != MPI_REQUEST_NULL) MPI_Request_free(&request);
  }
  // MPI may still read the buffers; they must outlive this object.
  new std::vector<std::vector<std::byte>>(std::move(buffers_));  // NOLINT: intentional leak
}

std::vector<std::byte> SendQueue::buffer() {
  if (spare_.empty()) return {};
  std::vector<std::byte> out = std::move(spare_.back());
  spare_.pop_back();
  out.clear();
  return out;
}

void SendQueue::send(std::vector<std::byte>&& data, int dest, int tag) {
  // The vector's heap buffer does not move with the vector, so start the send first and
  // keep the two lists in step even if it throws.
  const MPI_Request request = comm_.start_send(data, dest, tag);
  buffers_.push_back(std::move(data));
  requests_.push_back(request);
}

void SendQueue::progress() {
  if (requests_.empty()) return;
  done_.resize(requests_.size());
  int count = 0;
  const int code = MPI_Testsome(static_cast<int>(requests_.size()), requests_.data(), &count,
                                done_.data(), MPI_STATUSES_IGNORE);
  if (code != MPI_SUCCESS) throw InternalError("MPI_Testsome failed");
  if (count <= 0) return;
  // Compact: keep the requests still pending, recycle the finished buffers.
  std::size_t keep = 0;
  for (std::size_t i = 0; i < requests_.size(); ++i) {
    if (requests_[i] == MPI_REQUEST_NULL) {
      if (spare_.size() < 16) spare_.push_back(std::move(buffers_[i]));
      continue;
    }
    if (keep != i) {
      requests_[keep] = requests_[i];
      buffers_[keep] = std::move(buffers_[i]);
    }
    ++keep;
  }
  requests_.resize(keep);
  buffers_.resize(keep);
}

void SendQueue::wait_all() noexcept {
  if (requests_.empty()) return;
  MPI_Waitall(static_cast<int>(requests_.size()), requests_.data(), MPI_STATUSES_IGNORE);
  requests_.clear();
  buffers_.clear();
}

}  // namespace parakit
