#include "parakit/backend/comm.hpp"

#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>

#include "parakit/core/error.hpp"

namespace parakit {

const boost::mpi::communicator& Comm::mpi() const {
  if (!mpi_) throw InternalError("Comm::mpi() called on a communicator without MPI");
  return *mpi_;
}

MPI_Comm Comm::native() const noexcept {
  return mpi_ ? static_cast<MPI_Comm>(*mpi_) : MPI_COMM_NULL;
}

void Comm::barrier() const {
  if (mpi_) mpi_->barrier();
}

std::optional<Comm> Comm::split(int color, int key) const {
  if (!mpi_) {
    if (color < 0) return std::nullopt;
    return Comm::self();
  }
  boost::mpi::communicator part = mpi_->split(color < 0 ? MPI_UNDEFINED : color, key);
  if (!part) return std::nullopt;
  return Comm(part);
}

Comm::NodeShare Comm::node_share() const {
  if (!mpi_) return {};
  MPI_Comm node = MPI_COMM_NULL;
  check(MPI_Comm_split_type(native(), MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node),
        "MPI_Comm_split_type");
  NodeShare share;
  MPI_Comm_size(node, &share.ranks_on_node);
  MPI_Comm_rank(node, &share.node_rank);
  MPI_Comm_free(&node);
  return share;
}

void Comm::abort(int exit_code) const noexcept {
  std::fflush(stdout);
  std::fflush(stderr);
  int finalized = 0;
  MPI_Finalized(&finalized);
  // Without a communicator this process is alone; if it is an MPI rank nevertheless, its
  // launcher ends the job when it exits.
  if (mpi_ && !finalized) MPI_Abort(native(), exit_code);
  std::_Exit(exit_code);
}

namespace {
int byte_count(const MPI_Status& status) {
  int count = 0;
  MPI_Get_count(&status, MPI_BYTE, &count);
  return count;
}
}  // namespace

std::optional<Comm::Envelope> Comm::try_receive(std::vector<std::byte>& out, int source,
                                                int tag) const {
  int flag = 0;
  MPI_Message message = MPI_MESSAGE_NULL;
  MPI_Status status;
  check(MPI_Improbe(source, tag, mpi().operator MPI_Comm(), &flag, &message, &status),
        "MPI_Improbe");
  if (!flag) return std::nullopt;
  out.resize(static_cast<std::size_t>(byte_count(status)));
  check(MPI_Mrecv(out.data(), static_cast<int>(out.size()), MPI_BYTE, &message, MPI_STATUS_IGNORE),
        "MPI_Mrecv");
  return Envelope{status.MPI_SOURCE, status.MPI_TAG};
}

Comm::Envelope Comm::receive(std::vector<std::byte>& out, int source, int tag) const {
  MPI_Message message = MPI_MESSAGE_NULL;
  MPI_Status status;
  check(MPI_Mprobe(source, tag, mpi().operator MPI_Comm(), &message, &status), "MPI_Mprobe");
  out.resize(static_cast<std::size_t>(byte_count(status)));
  check(MPI_Mrecv(out.data(), static_cast<int>(out.size()), MPI_BYTE, &message, MPI_STATUS_IGNORE),
        "MPI_Mrecv");
  return Envelope{status.MPI_SOURCE, status.MPI_TAG};
}

MPI_Request Comm::start_send(std::span<const std::byte> data, int dest, int tag) const {
  if (data.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    throw InternalError("message of " + std::to_string(data.size()) + " bytes is too large");
  }
  MPI_Request request = MPI_REQUEST_NULL;
  check(MPI_Isend(data.data(), static_cast<int>(data.size()), MPI_BYTE, dest, tag,
                  mpi().operator MPI_Comm(), &request),
        "MPI_Isend");
  return request;
}

void Comm::all_reduce_raw(const void* in, void* out, int count, MPI_Datatype type,
                          MPI_Op op) const {
  check(MPI_Allreduce(in, out, count, type, op, native()), "MPI_Allreduce");
}

void Comm::broadcast_raw(void* data, int count, MPI_Datatype type, int root) const {
  check(MPI_Bcast(data, count, type, root, native()), "MPI_Bcast");
}

void Comm::gatherv_raw(const void* in, int count, MPI_Datatype type, void* out, const int* counts,
                       const int* displs, int root) const {
  if (root < 0) {
    check(MPI_Allgatherv(in, count, type, out, counts, displs, type, native()), "MPI_Allgatherv");
  } else {
    check(MPI_Gatherv(in, count, type, out, counts, displs, type, root, native()), "MPI_Gatherv");
  }
}

void Comm::all_to_all_v_raw(const void* send, std::span<const std::uint64_t> send_counts,
                            void* recv, std::span<const std::uint64_t> recv_counts,
                            MPI_Datatype type) const {
  const auto ranks = static_cast<std::size_t>(size_);
  std::vector<int> sc(ranks), sd(ranks), rc(ranks), rd(ranks);
  auto fill = [](std::span<const std::uint64_t> counts, std::vector<int>& c, std::vector<int>& d) {
    std::uint64_t at = 0;
    for (std::size_t r = 0; r < c.size(); ++r) {
      if (counts[r] > INT_MAX || at > INT_MAX) too_large("all_to_all_v");
      c[r] = static_cast<int>(counts[r]);
      d[r] = static_cast<int>(at);
      at += counts[r];
    }
  };
  fill(send_counts, sc, sd);
  fill(recv_counts, rc, rd);
  check(MPI_Alltoallv(send, sc.data(), sd.data(), type, recv, rc.data(), rd.data(), type, native()),
        "MPI_Alltoallv");
}

void Comm::start_exchange_raw(const void* send, int send_count, int dest, void* recv,
                              int recv_count, int source, MPI_Datatype type, int tag,
                              Exchange& exchange) const {
  check(MPI_Irecv(recv, recv_count, type, source, tag, native(), &exchange.requests_[1]),
        "MPI_Irecv");
  check(MPI_Isend(send, send_count, type, dest, tag, native(), &exchange.requests_[0]),
        "MPI_Isend");
}

Comm::Exchange::~Exchange() {
  if (requests_[0] != MPI_REQUEST_NULL || requests_[1] != MPI_REQUEST_NULL) {
    MPI_Waitall(2, requests_.data(), MPI_STATUSES_IGNORE);
  }
}

Comm::Exchange::Exchange(Exchange&& other) noexcept : requests_(other.requests_) {
  other.requests_ = {MPI_REQUEST_NULL, MPI_REQUEST_NULL};
}

Comm::Exchange& Comm::Exchange::operator=(Exchange&& other) noexcept {
  if (this != &other) {
    Exchange old(std::move(*this));
    requests_ = other.requests_;
    other.requests_ = {MPI_REQUEST_NULL, MPI_REQUEST_NULL};
  }
  return *this;
}

bool Comm::Exchange::test() {
  int done = 1;
  if (requests_[0] != MPI_REQUEST_NULL || requests_[1] != MPI_REQUEST_NULL) {
    check(MPI_Testall(2, requests_.data(), &done, MPI_STATUSES_IGNORE), "MPI_Testall");
  }
  return done != 0;
}

void Comm::Exchange::wait() {
  if (requests_[0] != MPI_REQUEST_NULL || requests_[1] != MPI_REQUEST_NULL) {
    check(MPI_Waitall(2, requests_.data(), MPI_STATUSES_IGNORE), "MPI_Waitall");
  }
}

namespace {

/// An MPI datatype of absolute addresses (use with MPI_BOTTOM), freed on scope exit.
class PiecesType {
 public:
  PiecesType(const std::vector<const void*>& addresses, const std::vector<std::size_t>& lengths,
             MPI_Datatype element) {
    std::vector<MPI_Aint> displacements(addresses.size());
    std::vector<int> blocks(lengths.size());
    for (std::size_t i = 0; i < addresses.size(); ++i) {
      MPI_Get_address(addresses[i], &displacements[i]);
      if (lengths[i] > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
        throw InternalError("a message piece holds more than INT_MAX elements");
      }
      blocks[i] = static_cast<int>(lengths[i]);
    }
    if (addresses.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
      throw InternalError("a message has more than INT_MAX pieces");
    }
    MPI_Type_create_hindexed(static_cast<int>(addresses.size()), blocks.data(),
                             displacements.data(), element, &type_);
    MPI_Type_commit(&type_);
  }
  ~PiecesType() { MPI_Type_free(&type_); }
  PiecesType(const PiecesType&) = delete;
  PiecesType& operator=(const PiecesType&) = delete;
  MPI_Datatype get() const noexcept { return type_; }

 private:
  MPI_Datatype type_ = MPI_DATATYPE_NULL;
};

}  // namespace

void Comm::send_pieces_raw(const std::vector<const void*>& addresses,
                           const std::vector<std::size_t>& lengths, MPI_Datatype type, int dest,
                           int tag) const {
  const PiecesType pieces(addresses, lengths, type);
  check(MPI_Send(MPI_BOTTOM, 1, pieces.get(), dest, tag, native()), "MPI_Send");
}

void Comm::receive_pieces_raw(const std::vector<const void*>& addresses,
                              const std::vector<std::size_t>& lengths, MPI_Datatype type,
                              int source, int tag) const {
  const PiecesType pieces(addresses, lengths, type);
  check(MPI_Recv(MPI_BOTTOM, 1, pieces.get(), source, tag, native(), MPI_STATUS_IGNORE),
        "MPI_Recv");
}

void Comm::too_large(const char* what) {
  throw InternalError(std::string(what) + ": more than INT_MAX elements in one message");
}

void Comm::check(int code, const char* what) {
  if (code != MPI_SUCCESS) {
    char text[MPI_MAX_ERROR_STRING] = {};
    int length = 0;
    MPI_Error_string(code, text, &length);
    throw InternalError(std::string(what) + " failed: " + text);
  }
}

}  // namespace parakit
