// Reading floating-point datasets from HDF5 files through the parallel HDF5 library (Debian's
// libhdf5-openmpi-dev): a float64 or float32 dataset of rank 1 or 2, contiguous or chunked and
// compressed. Probing uses no MPI (any rank may probe on its own, so ranks can agree on a bad
// file before any collective call); Hdf5Reader reads with MPI-IO and collective transfers
// when given an MPI communicator. The HDF5 library is not thread-safe: call all of this from
// one thread (parakit calls it from the main thread).
#pragma once

#include <mpi.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "parakit/io/array_file.hpp"

namespace parakit::io {

/// What probe_hdf5_dataset found out about a dataset.
struct Hdf5DatasetInfo {
  std::string path;                  ///< the file
  std::string dataset;               ///< absolute name in the file, e.g. "/samples/x"
  DType dtype = DType::f64;          ///< the values as stored
  std::vector<std::uint64_t> shape;  ///< {rows} or {rows, cols}
  std::uint64_t count = 0;           ///< product of shape
  bool chunked = false;              ///< chunked layout (possibly compressed)
};

/// True if `path` is named *.h5, *.hdf5, *.he5 or *.hdf (probe_hdf5_dataset then says if it is
/// not HDF5) or holds the HDF5 signature (at byte 0 or a user-block offset 512, 1024, ...).
/// Throws InputError "PATH: cannot open: ..." if the name does not decide and the file cannot
/// be read.
bool is_hdf5_file(const std::string& path);

/// Opens the file and the dataset named `dataset` (a path inside the file; empty: the file's
/// only dataset) without MPI and reads its type and shape. Throws InputError with a one-line
/// message starting with the path for: a missing or unreadable file, a file that is not HDF5,
/// no object of that name (naming the missing group), a group instead of a dataset, a dataset
/// of rank other than 1 or 2, a non-floating-point type (integers are named as such), or a
/// float wider than 8 bytes; UsageError when `dataset` is empty and the file does not hold
/// exactly one dataset (the message lists up to 8 of them).
Hdf5DatasetInfo probe_hdf5_dataset(const std::string& path, const std::string& dataset);

/// An open dataset, read in element ranges. With an MPI communicator the file is opened with
/// MPI-IO (collective metadata operations) and every read is a collective transfer: all ranks
/// of `comm` construct the reader together and call read() the same number of times (a rank
/// with nothing left reads an empty range). With MPI_COMM_NULL the file is opened by this
/// process alone.
class Hdf5Reader {
 public:
  /// Collective over `comm` unless it is MPI_COMM_NULL. Throws InputError if the file or the
  /// dataset cannot be opened.
  Hdf5Reader(const Hdf5DatasetInfo& info, MPI_Comm comm);
  ~Hdf5Reader();
  Hdf5Reader(Hdf5Reader&&) noexcept;
  Hdf5Reader& operator=(Hdf5Reader&&) noexcept;
  Hdf5Reader(const Hdf5Reader&) = delete;
  Hdf5Reader& operator=(const Hdf5Reader&) = delete;

  /// Reads the elements [first, first + out.size()) of the dataset in C (row-major) order into
  /// `out`, converting to the element type of `out` (float32 values widen exactly to double;
  /// reading a float64 dataset into floats is an InternalError). Collective (see above).
  /// Throws InputError if HDF5 fails (a corrupt chunk, say) or the range is out of bounds.
  void read(std::uint64_t first, std::span<double> out);
  void read(std::uint64_t first, std::span<float> out);

  const Hdf5DatasetInfo& info() const noexcept { return info_; }

 private:
  struct Handles;
  void read_into(std::uint64_t first, std::uint64_t count, void* out, bool as_double);

  Hdf5DatasetInfo info_;
  std::unique_ptr<Handles> handles_;
};

}  // namespace parakit::io
