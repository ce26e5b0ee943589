// Tables distributed by rows: every rank holds only its own rows (its shard), and every rank
// knows where every shard starts (RowLayout), so nothing computed from the rows needs to
// depend on how they were split.
//
// read_rows() reads a table of doubles from a file, each rank touching only its own part:
// .npy (float64/float32, 1-D or 2-D, C order) and raw float64 .bin files by positioned reads
// of the rank's byte range; HDF5 datasets (float64/float32, 1-D or 2-D, any layout) by
// collective hyperslab reads of the rank's rows (io/hdf5_file.hpp); CSV by byte range
// (io/csv_shard.hpp: a line belongs to the rank whose range holds its first byte), after which
// the rows move to the requested layout.
#pragma once

#include <Eigen/Core>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "parakit/backend/comm.hpp"
#include "parakit/backend/team.hpp"
#include "parakit/core/partition.hpp"
#include "parakit/io/array_file.hpp"

namespace parakit {

/// Which rows each rank holds: rank r holds [begin(r), begin(r + 1)) of [0, rows()).
class RowLayout {
 public:
  RowLayout() = default;
  /// Rank r holds counts[r] rows, in rank order.
  static RowLayout from_counts(std::span<const std::uint64_t> counts);
  /// Collective: each rank says how many rows it holds (one all-gather).
  static RowLayout gather(const Comm& comm, std::uint64_t my_rows);
  /// Balanced blocks of whole `align`-row chunks: the chunks of [0, rows) split as
  /// block_range does, so every shard starts at a multiple of `align`.
  static RowLayout aligned_blocks(std::uint64_t rows, int ranks, std::uint64_t align);

  int ranks() const noexcept { return static_cast<int>(start_.size()) - 1; }
  std::uint64_t rows() const noexcept { return start_.empty() ? 0 : start_.back(); }
  IndexRange of(int rank) const noexcept {
    return {start_[static_cast<std::size_t>(rank)], start_[static_cast<std::size_t>(rank) + 1]};
  }
  std::uint64_t max_rows() const noexcept;
  friend bool operator==(const RowLayout&, const RowLayout&) = default;

 private:
  std::vector<std::uint64_t> start_;  // ranks + 1 entries
};

/// A dense row-major matrix of doubles (the same type as kde::Samples).
using RowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// One rank's rows of a table with `cols` columns: values holds rows mine() of the table.
struct RowShard {
  RowLayout layout;
  int rank = 0;
  std::uint64_t cols = 0;
  RowMatrix values;

  IndexRange mine() const noexcept { return layout.of(rank); }
  std::uint64_t rows() const noexcept { return mine().size(); }
};

/// Collective: moves the rows of `shard` (laid out as shard.layout) so that they are laid out
/// as `target` (one MPI_Alltoallv). The rows keep their global order.
void redistribute_rows(const Comm& comm, RowShard& shard, const RowLayout& target);

/// Collective: ranks - 1 increasing values of column `column` that split the rows of all
/// ranks into ranges of about equal counts (from a global histogram of 2^16 bins over [lo, hi],
/// the column's range over all ranks). Rank r's range is [splitters[r - 1], splitters[r]), the
/// first open below and the last open above. Many equal values stay together, in one range.
std::vector<double> balanced_splitters(const Comm& comm, const RowMatrix& rows, Eigen::Index column,
                                       double lo, double hi);

/// Collective: moves rows between ranks so that each rank holds the rows whose value in
/// `column` lies in its range of `splitters` (balanced_splitters'), in no particular order: a
/// spatial split, after which each rank's rows are a slab of that column. Memory stays bounded:
/// rows travel in messages of at most `message_bytes`, the rows sent are released as they go
/// and those received grow in place (realloc), so a rank holds about the larger of its rows
/// before and after, plus one message.
void split_rows_by_column(const Comm& comm, RowMatrix& rows, Eigen::Index column,
                          std::span<const double> splitters,
                          std::uint64_t message_bytes = std::uint64_t{16} << 20);

/// The key of a row on a Z-order (Morton) curve: each coordinate quantised to 52 / d bits over
/// [lo, hi] (the columns' range over all rows), the bits interleaved from the most significant.
/// Below 2^52, so it is exact as a double. Rows close in key are close in space.
std::uint64_t morton_key(const double* row, std::span<const double> lo,
                         std::span<const double> hi) noexcept;

/// Collective: puts the rows of all ranks in one order that depends on the rows alone, not on
/// how they were split: sorted by morton_key, ties by their global row index, cut into chunks
/// of `align` rows, and the whole chunks interleaved (chunk c of the sorted rows goes to
/// position interleaved_chunk(c, whole chunks); a partial last chunk stays last). Afterwards
/// the shard holds rows layout.of(rank) of that order, laid out as aligned_blocks(rows, ranks,
/// align): each chunk is compact in space, the same rows in the same order at any rank count,
/// and each rank's chunks are spread over the whole space. Rows move twice: by key range
/// (split_rows_by_column over a histogram of keys: each rank holds about its share, plus the
/// rows of one key bin), then to their places (one all-to-all).
void sort_rows_spatially(const Comm& comm, RowShard& shard, std::span<const double> lo,
                         std::span<const double> hi, std::uint64_t align);

/// A bijection of [0, count): c times a stride near count / golden ratio, coprime with count,
/// modulo count, so that consecutive chunks land far apart and any run of positions holds
/// chunks from all over the sorted order.
std::uint64_t interleaved_chunk(std::uint64_t c, std::uint64_t count) noexcept;

/// What to read: a table file and how to interpret it.
struct TableSource {
  std::string path;
  std::uint64_t cols = 0;  ///< columns of a raw .bin file (required there), else 0
  std::string dataset;     ///< the dataset in an HDF5 file; empty: the file's only one
  std::string role;        ///< names the file in messages, e.g. "KdeOptions::input"
  /// read_rows refuses NaN and infinities in array files and datasets (CSV text always does)
  bool finite = true;
};

/// The chunk size shards align to, as a function of the table's row count.
using RowAlign = std::function<std::uint64_t(std::uint64_t rows)>;

/// Collective: reads `source` laid out as aligned_blocks(rows, comm.size(), align(rows)). Every
/// value must be finite unless TableSource::finite is false. Bad input (a missing or malformed
/// file, a malformed CSV line seen by one rank only, a .bin file without TableSource::cols, no
/// rows) raises AgreedError on every rank, with a one-line message naming the file and the line,
/// row or byte.
RowShard read_rows(const Comm& comm, const TableSource& source, const RowAlign& align);

/// How a table file is read.
enum class TableFormat { array, hdf5, csv };  ///< .npy/.bin, HDF5 dataset, CSV text

/// What probe_table found out, the same on every rank.
struct TableProbe {
  TableFormat format = TableFormat::csv;
  io::DType dtype = io::DType::f64;  ///< the stored values (CSV: parsed as float64)
  std::uint64_t values = 0;          ///< values in the table (CSV: unknown until parsed, 0)
  std::uint64_t file_bytes = 0;      ///< the file's size
};

/// Collective: which reader `source` needs, its element type and size. Bad input (a missing
/// or malformed array file or dataset, TableSource::dataset on a file that is not HDF5) raises
/// AgreedError on every rank.
TableProbe probe_table(const Comm& comm, const TableSource& source);

/// Receives blocks of a table's values on the team's workers (see stream_table); float32 arrays
/// and datasets arrive as floats, everything else as doubles.
struct TableVisitor {
  std::function<void(Worker, std::span<const double>)> doubles;
  std::function<void(Worker, std::span<const float>)> floats;
};

/// Collective over the team: passes every value of `source` (an array file, an HDF5 dataset or
/// a CSV file, as probe_table says) to `visit` exactly once, in blocks on the team's workers,
/// each rank its own part: the elements Team::rank_block(values) of an array or dataset, the
/// lines starting in the rank's byte range of a CSV file. At most about `block_bytes` of
/// values per worker are in memory at a time, however large the file. Blocks arrive in no
/// particular order and need not hold whole rows. Returns the table's value count (the same on
/// every rank). Bad input raises AgreedError on every rank once the pass is over (a CSV line is
/// known to be malformed only when every piece is read), so what was visited must then be
/// dropped; non-finite values are passed on (the caller decides).
/// `read`, if given, is called (on the visiting worker) after each block with the bytes of the
/// file it came from: an array's or dataset's elements, a CSV piece's text; a rank's calls add
/// up to its part of the file (for a progress line).
std::uint64_t stream_table(Team& team, const TableSource& source, std::uint64_t block_bytes,
                           const TableVisitor& visit,
                           const std::function<void(std::uint64_t bytes)>& read = {});

}  // namespace parakit
