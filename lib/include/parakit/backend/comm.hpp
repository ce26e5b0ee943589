// The rank-level communicator every pattern talks to. It wraps a Boost.MPI communicator
// that the caller passes in, or stands for a single process with no MPI at all
// (Comm::self()), so patterns are written once for the serial, thread and MPI backends.
#pragma once

#include <climits>

#include <mpi.h>

#include <algorithm>
#include <array>
#include <boost/mpi/collectives.hpp>
#include <boost/mpi/communicator.hpp>
#include <boost/mpi/datatype.hpp>
#include <boost/mpi/operations.hpp>
#include <boost/serialization/string.hpp>
#include <boost/serialization/utility.hpp>
#include <boost/serialization/vector.hpp>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

namespace parakit {

namespace detail {
template <class T>
struct IsStdArray : std::false_type {};
template <class T, std::size_t N>
struct IsStdArray<std::array<T, N>> : std::true_type {};

/// Types that travel as a built-in MPI datatype (no serialization).
template <class T>
concept MpiScalar = std::is_arithmetic_v<T> && boost::mpi::is_mpi_datatype<T>::value;

/// Whether an operation is one of the built-in reductions we map onto MPI's own ops.
/// Wraps a user op to tell Boost.MPI that it commutes.
template <class Op>
struct CommutativeOp : Op {};

}  // namespace detail

/// Built-in reductions. They map to MPI_SUM / MPI_MIN / MPI_MAX on arithmetic values and on
/// std::array of arithmetic values (elementwise).
namespace ops {
using plus = std::plus<>;
struct min {
  template <class T>
  const T& operator()(const T& a, const T& b) const {
    return b < a ? b : a;
  }
};
struct max {
  template <class T>
  const T& operator()(const T& a, const T& b) const {
    return a < b ? b : a;
  }
};
}  // namespace ops

namespace detail {
template <class Op>
inline constexpr bool kIsBuiltinOp =
    std::is_same_v<Op, ops::plus> || std::is_same_v<Op, ops::min> || std::is_same_v<Op, ops::max>;
}  // namespace detail

/// States how a user reduction may be reordered. Never assumed: say it at the call site.
enum class Commutativity { commutative, non_commutative };

class Comm {
 public:
  /// A single process without MPI: rank 0 of 1. Collectives are local no-ops.
  static Comm self() { return Comm(); }
  /// Shares `comm` (a Boost.MPI handle keeps its own ownership). Library code never assumes
  /// MPI_COMM_WORLD.
  static Comm from_mpi(const boost::mpi::communicator& comm) { return Comm(comm); }
  /// Duplicates `comm` (collective) and owns the duplicate, so parakit's messages never mix
  /// with the caller's.
  static Comm from_mpi(MPI_Comm comm) {
    return Comm(boost::mpi::communicator(comm, boost::mpi::comm_duplicate));
  }

  int rank() const noexcept { return rank_; }
  int size() const noexcept { return size_; }
  bool is_mpi() const noexcept { return mpi_.has_value(); }
  /// The Boost.MPI communicator; only valid when is_mpi().
  const boost::mpi::communicator& mpi() const;
  /// The raw handle, MPI_COMM_NULL for Comm::self().
  MPI_Comm native() const noexcept;

  void barrier() const;

  /// Reduces `value` over all ranks and returns the result on every rank. Built-in ops on
  /// arithmetic values and std::arrays of them use MPI's own ops; any other callable goes
  /// through Boost.MPI with the stated commutativity.
  template <class T, class Op>
  requires detail::kIsBuiltinOp<Op> T all_reduce(const T& value, Op op)
  const {
    if (!is_mpi()) return value;
    if constexpr (detail::MpiScalar<T>) {
      T out{};
      all_reduce_raw(&value, &out, 1, boost::mpi::get_mpi_datatype<T>(value), mpi_op(op));
      return out;
    } else {
      static_assert(detail::IsStdArray<T>::value, "built-in ops need arithmetic or std::array");
      using Elem = typename T::value_type;
      T out{};
      all_reduce_raw(value.data(), out.data(), static_cast<int>(value.size()),
                     boost::mpi::get_mpi_datatype<Elem>(Elem{}), mpi_op(op));
      return out;
    }
  }

  template <class T, class Op>
  T all_reduce(const T& value, Op op, Commutativity commutativity) const {
    if (!is_mpi()) return value;
    if (commutativity == Commutativity::commutative) {
      return boost::mpi::all_reduce(*mpi_, value, detail::CommutativeOp<Op>{op});
    }
    return boost::mpi::all_reduce(*mpi_, value, op);
  }

  /// Elementwise in-place reduction of a contiguous buffer of arithmetic values.
  template <detail::MpiScalar T, class Op>
  requires detail::kIsBuiltinOp<Op>
  void all_reduce_in_place(std::span<T> values, Op op) const {
    if (!is_mpi() || values.empty()) return;
    all_reduce_raw(MPI_IN_PLACE, values.data(), static_cast<int>(values.size()),
                   boost::mpi::get_mpi_datatype<T>(T{}), mpi_op(op));
  }

  /// Broadcasts `value` from `root` and returns it on every rank.
  template <class T>
  T broadcast(T value, int root) const {
    if (is_mpi()) boost::mpi::broadcast(*mpi_, value, root);
    return value;
  }

  /// Broadcasts `values` from `root` into the same-sized buffer of every rank (MPI_Bcast, no
  /// serialisation). Throws InternalError past INT_MAX elements.
  template <detail::MpiScalar T>
  void broadcast_in_place(std::span<T> values, int root) const {
    if (!is_mpi() || values.empty()) return;
    if (values.size() > static_cast<std::size_t>(INT_MAX)) too_large("broadcast_in_place");
    broadcast_raw(values.data(), static_cast<int>(values.size()),
                  boost::mpi::get_mpi_datatype<T>(T{}), root);
  }

  /// Gathers one value per rank, in rank order, on every rank.
  template <class T>
  std::vector<T> all_gather(const T& value) const {
    if (!is_mpi()) return {value};
    std::vector<T> out;
    boost::mpi::all_gather(*mpi_, value, out);
    return out;
  }

  /// Gathers one value per rank, in rank order, on `root`; other ranks get an empty vector.
  template <class T>
  std::vector<T> gather(const T& value, int root) const {
    if (!is_mpi()) return {value};
    std::vector<T> out;
    if (rank_ == root) {
      boost::mpi::gather(*mpi_, value, out, root);
    } else {
      boost::mpi::gather(*mpi_, value, root);
    }
    return out;
  }

  /// Concatenates every rank's `local` in rank order on `root`, or on every rank when
  /// root < 0; other ranks get an empty vector (MPI_Gatherv / MPI_Allgatherv, no
  /// serialisation). Throws InternalError if one rank's part exceeds INT_MAX elements.
  template <detail::MpiScalar T>
  std::vector<T> gather_concat(std::span<const T> local, int root) const {
    if (!is_mpi()) return {local.begin(), local.end()};
    if (local.size() > static_cast<std::size_t>(INT_MAX)) too_large("gather_concat");
    const int count = static_cast<int>(local.size());
    const std::vector<int> counts = all_gather(count);
    std::vector<int> displs(counts.size(), 0);
    long long total = 0;
    for (std::size_t r = 0; r < counts.size(); ++r) {
      displs[r] = static_cast<int>(total);
      total += counts[r];
      if (total > INT_MAX) too_large("gather_concat");
    }
    const bool receives = root < 0 || root == rank_;
    std::vector<T> out(receives ? static_cast<std::size_t>(total) : 0);
    gatherv_raw(local.data(), count, boost::mpi::get_mpi_datatype<T>(T{}), out.data(),
                counts.data(), displs.data(), root);
    return out;
  }

  /// Personalised all-to-all (MPI_Alltoallv): this rank sends send_counts[r] elements of
  /// `send` (in rank order) to rank r and receives recv_counts[r] elements from rank r into
  /// `recv` (in rank order). Throws InternalError if a count or offset exceeds INT_MAX.
  template <detail::MpiScalar T>
  void all_to_all_v(std::span<const T> send, std::span<const std::uint64_t> send_counts,
                    std::span<T> recv, std::span<const std::uint64_t> recv_counts) const {
    if (!is_mpi()) {
      std::copy(send.begin(), send.end(), recv.begin());
      return;
    }
    all_to_all_v_raw(send.data(), send_counts, recv.data(), recv_counts,
                     boost::mpi::get_mpi_datatype<T>(T{}));
  }

  /// A send and a receive in flight (start_exchange). MPI runs MPI_THREAD_FUNNELED: call
  /// test() and wait() from the thread that started it; test() lets MPI move large messages
  /// along while that thread computes. The destructor waits, so the buffers must outlive it.
  class Exchange {
   public:
    Exchange() = default;
    ~Exchange();
    Exchange(Exchange&& other) noexcept;
    Exchange& operator=(Exchange&& other) noexcept;
    Exchange(const Exchange&) = delete;
    Exchange& operator=(const Exchange&) = delete;
    /// True once both are done (MPI_Testall).
    bool test();
    /// Completes both (MPI_Waitall). Throws InternalError if MPI fails.
    void wait();

   private:
    friend class Comm;
    std::array<MPI_Request, 2> requests_{MPI_REQUEST_NULL, MPI_REQUEST_NULL};
  };

  /// Starts sending `send` to `dest` and receiving recv.size() elements from `source` into
  /// `recv` (MPI_Isend, MPI_Irecv): a ring step whose transfer overlaps computing on `send`
  /// (which must not change until the exchange is done). On Comm::self() it copies at once.
  template <detail::MpiScalar T>
  Exchange start_exchange(std::span<const T> send, int dest, std::span<T> recv, int source,
                          int tag) const {
    if (!is_mpi()) {
      std::copy_n(send.begin(), std::min(send.size(), recv.size()), recv.begin());
      return {};
    }
    if (send.size() > static_cast<std::size_t>(INT_MAX) ||
        recv.size() > static_cast<std::size_t>(INT_MAX)) {
      too_large("start_exchange");
    }
    Exchange exchange;
    start_exchange_raw(send.data(), static_cast<int>(send.size()), dest, recv.data(),
                       static_cast<int>(recv.size()), source, boost::mpi::get_mpi_datatype<T>(T{}),
                       tag, exchange);
    return exchange;
  }

  /// Scattered point-to-point transfer without packing: send_pieces sends the pieces (in
  /// order) as one message described by an MPI datatype of their addresses, and
  /// receive_pieces stores that message's pieces at base + offsets[i], sizes[i] elements each.
  /// Both sides must agree on the sizes.
  template <detail::MpiScalar T>
  void send_pieces(std::span<const std::span<const T>> pieces, int dest, int tag) const {
    std::vector<const void*> addresses;
    std::vector<std::size_t> lengths;
    for (const auto& piece : pieces) {
      addresses.push_back(piece.data());
      lengths.push_back(piece.size());
    }
    send_pieces_raw(addresses, lengths, boost::mpi::get_mpi_datatype<T>(T{}), dest, tag);
  }
  template <detail::MpiScalar T>
  void receive_pieces(T* base, std::span<const std::size_t> offsets,
                      std::span<const std::size_t> sizes, int source, int tag) const {
    std::vector<const void*> addresses;
    for (const std::size_t offset : offsets) addresses.push_back(base + offset);
    receive_pieces_raw(addresses, {sizes.begin(), sizes.end()},
                       boost::mpi::get_mpi_datatype<T>(T{}), source, tag);
  }

  /// Point-to-point byte messages: one MPI message (MPI_BYTE) each, for protocols that
  /// encode their own payloads (io/codec.hpp). Only valid when is_mpi().
  struct Envelope {
    int source = 0;
    int tag = 0;
  };
  /// As start_exchange's dest or source: no send, or no receive (MPI_PROC_NULL).
  static constexpr int kNobody = MPI_PROC_NULL;
  static constexpr int kAnySource = MPI_ANY_SOURCE;
  static constexpr int kAnyTag = MPI_ANY_TAG;
  /// If a matching message has arrived, receives it into `out` (resized to fit) and returns
  /// its envelope; otherwise returns at once with nothing (MPI_Improbe + MPI_Mrecv).
  std::optional<Envelope> try_receive(std::vector<std::byte>& out, int source = kAnySource,
                                      int tag = kAnyTag) const;
  /// Blocks until a matching message arrives and receives it into `out`.
  Envelope receive(std::vector<std::byte>& out, int source = kAnySource, int tag = kAnyTag) const;
  /// Starts a non-blocking send of `data`, which must stay alive and unchanged until the
  /// returned request completes (see SendQueue).
  MPI_Request start_send(std::span<const std::byte> data, int dest, int tag) const;

  /// MPI_Comm_split; on Comm::self() returns self (or an empty optional for a negative color).
  std::optional<Comm> split(int color, int key) const;

  /// Number of ranks of this communicator on this rank's node, and this rank's index among them.
  struct NodeShare {
    int ranks_on_node = 1;
    int node_rank = 0;
  };
  NodeShare node_share() const;

  /// Ends every rank of this communicator's job now (MPI_Abort), or just this process for
  /// Comm::self().
  [[noreturn]] void abort(int exit_code) const noexcept;

 private:
  Comm() = default;
  explicit Comm(const boost::mpi::communicator& comm)
      : mpi_(comm), rank_(comm.rank()), size_(comm.size()) {}

  template <class Op>
  static MPI_Op mpi_op(Op) {
    if constexpr (std::is_same_v<Op, ops::min>) return MPI_MIN;
    if constexpr (std::is_same_v<Op, ops::max>) return MPI_MAX;
    return MPI_SUM;
  }
  void all_reduce_raw(const void* in, void* out, int count, MPI_Datatype type, MPI_Op op) const;
  void broadcast_raw(void* data, int count, MPI_Datatype type, int root) const;
  void gatherv_raw(const void* in, int count, MPI_Datatype type, void* out, const int* counts,
                   const int* displs, int root) const;
  [[noreturn]] static void too_large(const char* what);
  void all_to_all_v_raw(const void* send, std::span<const std::uint64_t> send_counts, void* recv,
                        std::span<const std::uint64_t> recv_counts, MPI_Datatype type) const;
  void start_exchange_raw(const void* send, int send_count, int dest, void* recv, int recv_count,
                          int source, MPI_Datatype type, int tag, Exchange& exchange) const;
  void send_pieces_raw(const std::vector<const void*>& addresses,
                       const std::vector<std::size_t>& lengths, MPI_Datatype type, int dest,
                       int tag) const;
  void receive_pieces_raw(const std::vector<const void*>& addresses,
                          const std::vector<std::size_t>& lengths, MPI_Datatype type, int source,
                          int tag) const;
  static void check(int code, const char* what);

  std::optional<boost::mpi::communicator> mpi_;
  int rank_ = 0;
  int size_ = 1;
};

}  // namespace parakit

namespace boost::mpi {
template <class Op, class T>
struct is_commutative<parakit::detail::CommutativeOp<Op>, T> : mpl::true_ {};
}  // namespace boost::mpi
