#include "parakit/patterns/rows.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <exception>
#include <numeric>
#include <optional>
#include <tuple>
#include <type_traits>

#include "parakit/backend/collective.hpp"
#include "parakit/core/error.hpp"
#include "parakit/core/system.hpp"
#include "parakit/io/array_file.hpp"
#include "parakit/io/csv_shard.hpp"
#include "parakit/io/hdf5_file.hpp"
#include "parakit/patterns/reduce.hpp"
#include "parakit/sys/error_text.hpp"
#include "parakit/sys/unique_fd.hpp"

namespace parakit {
namespace {

/// Runs f; an InputError gets " (role)" appended, as read_matrix does.
template <class F>
void naming_role(const TableSource& source, F&& f) {
  try {
    f();
  } catch (const InputError& error) {
    if (source.role.empty()) throw;
    throw InputError(std::string(error.what()) + " (" + source.role + ")");
  }
}

/// Rows `first`.. of values must be finite: "PATH: row 12 column 1 is nan" (0-based, global).
void check_finite(const TableSource& source, std::span<const double> values, std::uint64_t cols,
                  std::uint64_t first_row) {
  if (!source.finite) return;
  const std::string& path = source.path;
  for (std::size_t i = 0; i < values.size(); ++i) {
    const double v = values[i];
    if (std::isfinite(v)) continue;
    throw InputError(path + ": row " + std::to_string(first_row + i / cols) + " column " +
                     std::to_string(i % cols) + " is " +
                     (std::isnan(v) ? "nan"
                      : v > 0       ? "inf"
                                    : "-inf"));
  }
}

void allocate(const Comm& comm, RowShard& shard, const std::string& what) {
  const auto share = comm.node_share();
  require_memory(static_cast<long double>(shard.rows()) * static_cast<long double>(shard.cols) * 8 *
                     share.ranks_on_node,
                 what);
  shard.values.resize(static_cast<Eigen::Index>(shard.rows()),
                      static_cast<Eigen::Index>(shard.cols));
}

/// The HDF5 reader of `info`, opened collectively over comm (alone on Comm::self()).
io::Hdf5Reader open_hdf5(const Comm& comm, const io::Hdf5DatasetInfo& info) {
  return io::Hdf5Reader(info, comm.is_mpi() ? comm.native() : MPI_COMM_NULL);
}

/// Values per collective HDF5 read: bounded transfers (MPI-IO counts are ints).
constexpr std::uint64_t kHdf5BlockValues = std::uint64_t{1} << 24;

/// Calls read(at, count) over [0, mine) in blocks of `block` values, the same number of
/// times on every rank (enough for `most` values; a rank that is done reads empty ranges), so
/// a collective read inside never waits for a rank that stopped. The first error is kept and
/// agreed on after the last round.
template <class Read>
void read_in_rounds(const Comm& comm, std::uint64_t most, std::uint64_t mine, Read&& read,
                    std::uint64_t block = kHdf5BlockValues) {
  const std::uint64_t rounds = (most + block - 1) / block;
  std::exception_ptr failure;
  for (std::uint64_t round = 0; round < rounds; ++round) {
    const std::uint64_t at = std::min(mine, round * block);
    const std::uint64_t count = std::min(mine - at, block);
    try {
      read(failure ? mine : at, failure ? 0 : count);
    } catch (...) {
      if (!failure) failure = std::current_exception();
    }
  }
  collectively(comm, [&] {
    if (failure) std::rethrow_exception(failure);
  });
}

/// Rows and columns of an array file or dataset of `shape`, checked against TableSource::cols.
std::pair<std::uint64_t, std::uint64_t> table_shape(const TableSource& source,
                                                    const std::vector<std::uint64_t>& shape) {
  if (shape.size() != 1 && shape.size() != 2) {
    throw InputError(source.path + ": shape " + io::shape_to_string(shape) +
                     " is not 2-D (expected (n, d), or (n,) for one column)");
  }
  const std::uint64_t rows = shape[0];
  const std::uint64_t cols = shape.size() == 2 ? shape[1] : 1;
  if (source.cols != 0 && source.cols != cols) {
    throw UsageError(source.path + ": the file has " + std::to_string(cols) +
                     " columns, not TableSource::cols " + std::to_string(source.cols));
  }
  if (cols == 0) {
    throw InputError(source.path + ": shape " + io::shape_to_string(shape) + " has no columns");
  }
  if (rows == 0) throw InputError(source.path + ": no data rows");
  return {rows, cols};
}

RowShard empty_shard(const Comm& comm, std::uint64_t rows, std::uint64_t cols,
                     const RowAlign& align) {
  RowShard shard;
  shard.rank = comm.rank();
  shard.cols = cols;
  shard.layout = RowLayout::aligned_blocks(rows, comm.size(), align(rows));
  return shard;
}

std::span<double> values_of(RowShard& shard) {
  return {shard.values.data(), static_cast<std::size_t>(shard.values.size())};
}

RowShard read_binary(const Comm& comm, const TableSource& source, const RowAlign& align) {
  std::optional<io::ArrayFileInfo> info;
  std::uint64_t rows = 0, cols = 0;
  collectively(comm, [&] {
    naming_role(source, [&] {
      info = io::probe_array_file(source.path);
      if (info->data_offset == 0 && info->shape.size() == 1) {  // raw float64
        if (source.cols == 0) {
          throw UsageError(source.path +
                           ": a raw float64 file has no shape: set TableSource::cols (the "
                           "values per row)");
        }
        if (info->count % source.cols != 0) {
          throw InputError(source.path + ": " + std::to_string(info->count) +
                           " values are not a whole number of rows of " +
                           std::to_string(source.cols));
        }
        std::tie(rows, cols) = table_shape(source, {info->count / source.cols, source.cols});
      } else {
        std::tie(rows, cols) = table_shape(source, info->shape);
      }
    });
  });
  RowShard shard = empty_shard(comm, rows, cols, align);
  collectively(comm, [&] {
    naming_role(source, [&] {
      allocate(comm, shard, source.path);
      const IndexRange mine = shard.mine();
      io::read_elements(*info, mine.begin * cols, values_of(shard));
      check_finite(source, values_of(shard), cols, mine.begin);
    });
  });
  return shard;
}

/// An HDF5 dataset: every rank probes it on its own (so a bad file is agreed on before any
/// collective HDF5 call), then all read their rows in the same number of collective reads of
/// at most kHdf5BlockValues each; an error in one read is agreed on after the last.
RowShard read_hdf5(const Comm& comm, const TableSource& source, const RowAlign& align) {
  io::Hdf5DatasetInfo info;
  std::uint64_t rows = 0, cols = 0;
  collectively(comm, [&] {
    naming_role(source, [&] {
      info = io::probe_hdf5_dataset(source.path, source.dataset);
      std::tie(rows, cols) = table_shape(source, info.shape);
    });
  });
  RowShard shard = empty_shard(comm, rows, cols, align);
  std::optional<io::Hdf5Reader> reader;
  collectively(comm, [&] {
    naming_role(source, [&] {
      allocate(comm, shard, source.path);
      reader.emplace(open_hdf5(comm, info));
    });
  });
  const std::uint64_t first = shard.mine().begin * cols;
  const std::span<double> values = values_of(shard);
  read_in_rounds(comm, shard.layout.max_rows() * cols, values.size(),
                 [&](std::uint64_t at, std::uint64_t count) {
                   reader->read(first + at, values.subspan(at, count));
                 });
  collectively(comm, [&] {
    naming_role(source, [&] {
      reader.reset();
      check_finite(source, values, cols, shard.mine().begin);
    });
  });
  return shard;
}

RowShard read_csv(const Comm& comm, const TableSource& source, const RowAlign& align) {
  io::CsvPiece piece;
  collectively(comm, [&] {
    naming_role(source, [&] {
      const sys::UniqueFd file = sys::open_fd(source.path, O_RDONLY);
      if (!file) {
        const int err = errno;
        throw InputError(source.path + ": cannot open: " + sys::errno_text(err));
      }
      struct stat st {};
      if (::fstat(file.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
        throw InputError(source.path +
                         (S_ISDIR(st.st_mode) ? ": is a directory" : ": is not a regular file"));
      }
      const auto size = static_cast<std::uint64_t>(st.st_size);
      const IndexRange range = block_range(size, static_cast<std::uint64_t>(comm.size()),
                                           static_cast<std::uint64_t>(comm.rank()));
      piece = io::read_csv_piece(source.path, range.begin, range.end);
    });
  });
  const io::CsvPieceSummary mine = io::summarize(piece);
  const std::uint64_t fields[3] = {mine.lines, mine.has_content, mine.has_problem};
  const auto flat = comm.gather_concat(std::span<const std::uint64_t>(fields), -1);
  std::vector<io::CsvPieceSummary> all(static_cast<std::size_t>(comm.size()));
  for (std::size_t r = 0; r < all.size(); ++r)
    all[r] = {flat[3 * r], flat[3 * r + 1], flat[3 * r + 2]};
  const auto me = static_cast<std::size_t>(comm.rank());
  io::settle_csv_piece(piece, all, me);
  const auto shape = io::csv_piece_shape(piece);
  const auto shapes = comm.gather_concat(std::span<const std::uint64_t>(shape), -1);
  const io::CsvFileShape file = io::csv_file_shape(shapes, all);
  const std::uint64_t cols = file.cols;
  std::uint64_t rows = 0;
  std::vector<std::uint64_t> counts(all.size());
  for (std::size_t r = 0; r < all.size(); ++r) {
    counts[r] = shapes[3 * r];
    rows += counts[r];
  }
  collectively(comm, [&] {
    naming_role(source, [&] {
      if (auto message = io::csv_piece_error(piece, file, all, me, source.path)) {
        throw InputError(*message);
      }
      if (rows == 0) throw InputError(source.path + ": no data rows");
      if (source.cols != 0 && source.cols != cols) {
        throw UsageError(source.path + ": the file has " + std::to_string(cols) +
                         " columns, not TableSource::cols " + std::to_string(source.cols));
      }
    });
  });
  RowShard shard;
  shard.rank = comm.rank();
  shard.cols = cols;
  shard.layout = RowLayout::from_counts(counts);
  collectively(comm, [&] {
    shard.values =
        Eigen::Map<const RowMatrix>(piece.values.data(), static_cast<Eigen::Index>(piece.rows),
                                    static_cast<Eigen::Index>(cols));
    piece.values = {};
    redistribute_rows(comm, shard, RowLayout::aligned_blocks(rows, comm.size(), align(rows)));
  });
  return shard;
}

}  // namespace

RowLayout RowLayout::from_counts(std::span<const std::uint64_t> counts) {
  RowLayout layout;
  layout.start_.assign(1, 0);
  for (const auto c : counts) layout.start_.push_back(layout.start_.back() + c);
  return layout;
}

RowLayout RowLayout::gather(const Comm& comm, std::uint64_t my_rows) {
  const auto counts = comm.all_gather(my_rows);
  return from_counts(counts);
}

RowLayout RowLayout::aligned_blocks(std::uint64_t rows, int ranks, std::uint64_t align) {
  if (align == 0) align = 1;
  const std::uint64_t chunks = (rows + align - 1) / align;
  RowLayout layout;
  layout.start_.assign(1, 0);
  for (int r = 0; r < ranks; ++r) {
    const IndexRange block =
        block_range(chunks, static_cast<std::uint64_t>(ranks), static_cast<std::uint64_t>(r));
    layout.start_.push_back(std::min(rows, block.end * align));
  }
  return layout;
}

std::uint64_t RowLayout::max_rows() const noexcept {
  std::uint64_t most = 0;
  for (std::size_t r = 0; r + 1 < start_.size(); ++r)
    most = std::max(most, start_[r + 1] - start_[r]);
  return most;
}

std::vector<double> balanced_splitters(const Comm& comm, const RowMatrix& rows, Eigen::Index column,
                                       double lo, double hi) {
  constexpr std::size_t kBins = std::size_t{1} << 16;
  std::vector<std::uint64_t> histogram(kBins, 0);
  const double scale = hi > lo ? static_cast<double>(kBins) / (hi - lo) : 0.0;
  for (Eigen::Index i = 0; i < rows.rows(); ++i) {
    const double at = std::max(0.0, (rows(i, column) - lo) * scale);
    ++histogram[std::min(kBins - 1, static_cast<std::size_t>(at))];
  }
  comm.all_reduce_in_place(std::span<std::uint64_t>(histogram), ops::plus{});
  std::uint64_t total = 0;
  for (const auto c : histogram) total += c;
  std::vector<double> splitters;
  std::uint64_t below = 0;  // rows in bins [0, bin)
  std::size_t bin = 0;
  for (int r = 1; r < comm.size(); ++r) {
    const auto want = static_cast<std::uint64_t>(static_cast<long double>(total) * r / comm.size());
    while (bin < kBins && below < want) below += histogram[bin++];
    splitters.push_back(scale > 0 ? lo + static_cast<double>(bin) / scale : hi);
  }
  return splitters;
}

void split_rows_by_column(const Comm& comm, RowMatrix& rows, Eigen::Index column,
                          std::span<const double> splitters, std::uint64_t message_bytes) {
  const int ranks = comm.size(), me = comm.rank();
  if (splitters.size() + 1 != static_cast<std::size_t>(ranks)) {
    throw InternalError("split_rows_by_column: ranks - 1 splitters expected");
  }
  if (ranks == 1) return;
  const Eigen::Index d = rows.cols();
  // Rows grouped in place by their owner's distance after this rank: its own rows first, the
  // rows for rank me + k in segment k (American flag sort: swaps, no copy of the rows).
  auto segment = [&](Eigen::Index i) {
    const auto owner = static_cast<int>(
        std::upper_bound(splitters.begin(), splitters.end(), rows(i, column)) - splitters.begin());
    return static_cast<std::size_t>((owner - me + ranks) % ranks);
  };
  std::vector<std::uint64_t> start(static_cast<std::size_t>(ranks) + 1, 0);
  for (Eigen::Index i = 0; i < rows.rows(); ++i) ++start[segment(i) + 1];
  for (std::size_t k = 0; k < static_cast<std::size_t>(ranks); ++k) start[k + 1] += start[k];
  std::vector<std::uint64_t> next(start.begin(), start.end() - 1);
  for (std::size_t k = 0; k < static_cast<std::size_t>(ranks); ++k) {
    while (next[k] < start[k + 1]) {
      const auto i = static_cast<Eigen::Index>(next[k]);
      const std::size_t home = segment(i);
      if (home == k) {
        ++next[k];
      } else {
        rows.row(i).swap(rows.row(static_cast<Eigen::Index>(next[home]++)));
      }
    }
  }
  // Row counts, by rank: sent to and received from.
  std::vector<std::uint64_t> send(static_cast<std::size_t>(ranks)), receive(send.size());
  for (int k = 0; k < ranks; ++k) {
    send[static_cast<std::size_t>((me + k) % ranks)] =
        start[static_cast<std::size_t>(k) + 1] - start[static_cast<std::size_t>(k)];
  }
  const std::vector<std::uint64_t> ones(send.size(), 1);
  comm.all_to_all_v(std::span<const std::uint64_t>(send), ones, std::span<std::uint64_t>(receive),
                    ones);
  // Step k (from the last segment back): send segment k to rank me + k from the end of the
  // rows, message by message, releasing each; receive from rank me - k into `incoming`.
  constexpr int kSplitTag = 0x5b1;
  const auto per_message = static_cast<Eigen::Index>(std::max<std::uint64_t>(
      1,
      message_bytes / (sizeof(double) * static_cast<std::uint64_t>(std::max<Eigen::Index>(d, 1)))));
  RowMatrix incoming(0, d);
  for (int k = ranks - 1; k >= 1; --k) {
    const int dest = (me + k) % ranks, source = (me - k + ranks) % ranks;
    auto to_send = static_cast<Eigen::Index>(send[static_cast<std::size_t>(dest)]);
    auto to_receive = static_cast<Eigen::Index>(receive[static_cast<std::size_t>(source)]);
    while (to_send > 0 || to_receive > 0) {
      const Eigen::Index s = std::min(to_send, per_message), r = std::min(to_receive, per_message);
      const Eigen::Index at = incoming.rows();
      if (r > 0) incoming.conservativeResize(at + r, d);
      const Eigen::Index from = rows.rows() - s;
      Comm::Exchange exchange = comm.start_exchange(
          std::span<const double>(rows.data() + from * d, static_cast<std::size_t>(s * d)),
          s > 0 ? dest : Comm::kNobody,
          std::span<double>(incoming.data() + at * d, static_cast<std::size_t>(r * d)),
          r > 0 ? source : Comm::kNobody, kSplitTag);
      exchange.wait();
      if (s > 0) rows.conservativeResize(from, d);
      to_send -= s;
      to_receive -= r;
    }
  }
  // This rank's own rows, then the received ones, moved over message by message.
  const Eigen::Index kept = rows.rows();
  rows.conservativeResize(kept + incoming.rows(), d);
  for (Eigen::Index left = incoming.rows(); left > 0;) {
    const Eigen::Index n = std::min(left, per_message);
    rows.middleRows(kept + left - n, n) = incoming.middleRows(left - n, n);
    left -= n;
    incoming.conservativeResize(left, d);
  }
}

std::uint64_t morton_key(const double* row, std::span<const double> lo,
                         std::span<const double> hi) noexcept {
  const auto d = static_cast<int>(lo.size());
  const int bits = 52 / std::max(d, 1);
  const double top = std::ldexp(1.0, bits);
  std::uint64_t key = 0;
  std::uint64_t q[64];  // d <= 52 contributes; wider rows use their first 52 coordinates
  const int used = std::min(d, 52);
  for (int t = 0; t < used; ++t) {
    const double span = hi[static_cast<std::size_t>(t)] - lo[static_cast<std::size_t>(t)];
    const double at = span > 0 ? (row[t] - lo[static_cast<std::size_t>(t)]) / span * top : 0.0;
    q[t] = static_cast<std::uint64_t>(std::clamp(at, 0.0, top - 1));
  }
  for (int b = bits - 1; b >= 0; --b) {
    for (int t = 0; t < used; ++t) key = (key << 1) | ((q[t] >> b) & 1U);
  }
  return key;
}

void sort_rows_spatially(const Comm& comm, RowShard& shard, std::span<const double> lo,
                         std::span<const double> hi, std::uint64_t align) {
  const auto d = static_cast<Eigen::Index>(shard.cols);
  const std::uint64_t n = shard.layout.rows();
  // Each row travels with its key and global index (both exact as doubles, below 2^53).
  RowMatrix keyed(shard.values.rows(), d + 2);
  keyed.leftCols(d) = shard.values;
  shard.values = RowMatrix();
  const std::uint64_t first = shard.mine().begin;
  for (Eigen::Index i = 0; i < keyed.rows(); ++i) {
    keyed(i, d) = static_cast<double>(morton_key(keyed.row(i).data(), lo, hi));
    keyed(i, d + 1) = static_cast<double>(first + static_cast<std::uint64_t>(i));
  }
  if (comm.size() > 1) {
    split_rows_by_column(comm, keyed, d,
                         balanced_splitters(comm, keyed, d, 0.0, std::ldexp(1.0, 52)));
  }
  std::vector<Eigen::Index> order(static_cast<std::size_t>(keyed.rows()));
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<Eigen::Index>(i);
  std::sort(order.begin(), order.end(), [&](Eigen::Index a, Eigen::Index b) {
    return std::pair(keyed(a, d), keyed(a, d + 1)) < std::pair(keyed(b, d), keyed(b, d + 1));
  });
  // This rank holds sorted positions [first_sorted, + rows). Each goes to its place in the
  // final order, where the whole chunks of the Z-order are interleaved (interleaved_chunk), so
  // that any run of chunks, such as one rank's share, samples the whole space: work that
  // depends on where the rows are (pruned sums) is then balanced over ranks.
  const RowLayout sorted = RowLayout::gather(comm, static_cast<std::uint64_t>(keyed.rows()));
  const RowLayout target = RowLayout::aligned_blocks(n, comm.size(), align);
  const std::uint64_t first_sorted = sorted.of(comm.rank()).begin;
  const std::uint64_t full = n / align;  // whole chunks (a partial last chunk stays last)
  auto place = [&](std::uint64_t at) {
    const std::uint64_t c = at / align;
    return c < full ? interleaved_chunk(c, full) * align + at % align : at;
  };
  const auto ranks = static_cast<std::size_t>(comm.size());
  std::vector<int> owner(order.size());
  std::vector<std::uint64_t> send(ranks, 0), receive(ranks, 0);
  for (std::size_t i = 0; i < order.size(); ++i) {
    const std::uint64_t to = place(first_sorted + i);
    int r = 0;
    while (target.of(r).end <= to) ++r;
    owner[i] = r;
    send[static_cast<std::size_t>(r)] += static_cast<std::uint64_t>(d) + 1;
  }
  std::vector<std::uint64_t> start(ranks + 1, 0);
  for (std::size_t r = 0; r < ranks; ++r) start[r + 1] = start[r] + send[r];
  std::vector<double> out(start.back());
  for (std::size_t i = 0; i < order.size(); ++i) {
    double* row = &out[start[static_cast<std::size_t>(owner[i])]];
    start[static_cast<std::size_t>(owner[i])] += static_cast<std::uint64_t>(d) + 1;
    for (Eigen::Index t = 0; t < d; ++t) row[t] = keyed(order[i], t);
    row[d] = static_cast<double>(place(first_sorted + i));  // exact: below 2^53
  }
  keyed = RowMatrix();
  const std::vector<std::uint64_t> ones(ranks, 1);
  comm.all_to_all_v(std::span<const std::uint64_t>(send), ones, std::span<std::uint64_t>(receive),
                    ones);
  std::uint64_t total = 0;
  for (const auto c : receive) total += c;
  std::vector<double> in(total);
  comm.all_to_all_v(std::span<const double>(out), send, std::span<double>(in), receive);
  out = std::vector<double>();
  const IndexRange mine = target.of(comm.rank());
  shard.values.resize(static_cast<Eigen::Index>(mine.size()), d);
  for (std::uint64_t at = 0; at < in.size(); at += static_cast<std::uint64_t>(d) + 1) {
    const auto row = static_cast<Eigen::Index>(
        static_cast<std::uint64_t>(in[at + static_cast<std::uint64_t>(d)]) - mine.begin);
    for (Eigen::Index t = 0; t < d; ++t)
      shard.values(row, t) = in[at + static_cast<std::uint64_t>(t)];
  }
  shard.layout = target;
}

std::uint64_t interleaved_chunk(std::uint64_t c, std::uint64_t count) noexcept {
  // c * s mod count for a stride s near count / golden ratio and coprime with it: a bijection
  // whose consecutive values are spread evenly over [0, count).
  if (count < 3) return c;
  std::uint64_t s = std::max<std::uint64_t>(
      1, static_cast<std::uint64_t>(static_cast<double>(count) * 0.6180339887498949));
  while (std::gcd(s, count) != 1) ++s;
  __extension__ using Wide = unsigned __int128;  // the product of two 64-bit values
  return static_cast<std::uint64_t>(static_cast<Wide>(c) * s % count);
}

void redistribute_rows(const Comm& comm, RowShard& shard, const RowLayout& target) {
  if (shard.layout == target) return;
  if (target.rows() != shard.layout.rows() || target.ranks() != comm.size()) {
    throw InternalError("redistribute_rows: layouts of different tables");
  }
  const auto ranks = static_cast<std::size_t>(comm.size());
  const IndexRange from = shard.mine();
  const IndexRange to = target.of(comm.rank());
  auto overlap = [](IndexRange a, IndexRange b) -> std::uint64_t {
    const std::uint64_t lo = std::max(a.begin, b.begin), hi = std::min(a.end, b.end);
    return hi > lo ? hi - lo : 0;
  };
  std::vector<std::uint64_t> send(ranks), receive(ranks);
  for (std::size_t r = 0; r < ranks; ++r) {
    send[r] = overlap(from, target.of(static_cast<int>(r))) * shard.cols;
    receive[r] = overlap(to, shard.layout.of(static_cast<int>(r))) * shard.cols;
  }
  RowMatrix values(static_cast<Eigen::Index>(to.size()), static_cast<Eigen::Index>(shard.cols));
  comm.all_to_all_v(
      std::span<const double>(shard.values.data(), static_cast<std::size_t>(shard.values.size())),
      send, std::span<double>(values.data(), static_cast<std::size_t>(values.size())), receive);
  shard.values = std::move(values);
  shard.layout = target;
}

namespace {

TableFormat detect_format(const Comm& comm, const TableSource& source) {
  TableFormat format = TableFormat::csv;
  collectively(comm, [&] {
    naming_role(source, [&] {
      if (io::is_array_file(source.path)) {
        format = TableFormat::array;
      } else if (io::is_hdf5_file(source.path)) {
        format = TableFormat::hdf5;
      }
      if (format != TableFormat::hdf5 && !source.dataset.empty()) {
        throw UsageError(source.path + ": TableSource::dataset names a dataset, but the file is " +
                         "not HDF5");
      }
    });
  });
  return format;
}

/// stream_table's optional report of the bytes read.
using ReadBytes = std::function<void(std::uint64_t bytes)>;

template <class T>
void visit_block(const TableVisitor& visit, Worker worker, std::span<const T> values,
                 const ReadBytes& read) {
  if constexpr (std::is_same_v<T, float>) {
    visit.floats(worker, values);
  } else {
    visit.doubles(worker, values);
  }
  if (read) read(values.size_bytes());
}

/// An array file: every worker maps its own elements a window at a time and visits them in
/// place (the page cache's pages, no copy), unmapping each window before the next.
template <class T>
void stream_array(Team& team, const io::ArrayFileInfo& info, std::uint64_t block_bytes,
                  const TableVisitor& visit, const ReadBytes& read) {
  const std::uint64_t block = std::max<std::uint64_t>(1, block_bytes / sizeof(T));
  collectively(team.comm(), [&] {
    for_each_block(team, info.count, [&](Worker worker, IndexRange mine) {
      for (std::uint64_t at = mine.begin; at < mine.end; at += block) {
        const io::ElementMap window = io::map_elements(info, at, std::min(block, mine.end - at));
        visit_block<T>(visit, worker, window.values<T>(), read);
      }
    });
  });
}

/// An HDF5 dataset: the main thread reads the rank's elements in collective rounds of one block
/// per worker, and the workers visit their parts of each.
template <class T>
void stream_hdf5(Team& team, const io::Hdf5DatasetInfo& info, std::uint64_t block_bytes,
                 const TableVisitor& visit, const ReadBytes& read) {
  const Comm& comm = team.comm();
  std::optional<io::Hdf5Reader> reader;
  collectively(comm, [&] { reader.emplace(open_hdf5(comm, info)); });
  const IndexRange mine = team.rank_block(info.count);
  const auto threads = static_cast<std::uint64_t>(team.threads());
  const std::uint64_t block = std::max<std::uint64_t>(threads, threads * block_bytes / sizeof(T));
  std::vector<T> buffer(static_cast<std::size_t>(std::min(block, mine.size())));
  read_in_rounds(
      comm, comm.all_reduce(mine.size(), ops::max{}), mine.size(),
      [&](std::uint64_t at, std::uint64_t count) {
        const std::span<T> values(buffer.data(), count);
        reader->read(mine.begin + at, values);
        team.for_each_worker([&](Worker worker) {
          const IndexRange part =
              block_range(count, threads, static_cast<std::uint64_t>(worker.tid));
          visit_block<T>(visit, worker, std::span<const T>(values.subspan(part.begin, part.size())),
                         read);
        });
      },
      block);
  collectively(comm, [&] { reader.reset(); });
}

/// A CSV file: the rank's byte range in pieces of block_bytes, parsed by the workers (each
/// piece's values visited, then dropped); then the pieces of every rank settle the header,
/// the column count and the first error, as read_csv does for whole ranges.
std::uint64_t stream_csv(Team& team, const TableSource& source, std::uint64_t file_bytes,
                         std::uint64_t block_bytes, const TableVisitor& visit,
                         const ReadBytes& read) {
  const Comm& comm = team.comm();
  const IndexRange range = block_range(file_bytes, static_cast<std::uint64_t>(comm.size()),
                                       static_cast<std::uint64_t>(comm.rank()));
  const std::uint64_t step = std::max<std::uint64_t>(block_bytes, 1);
  const std::uint64_t count = (range.size() + step - 1) / step;
  std::vector<io::CsvPiece> pieces(static_cast<std::size_t>(count));
  collectively(comm, [&] {
    naming_role(source, [&] {
      for_each_item(team, count, [&](std::uint64_t item, Worker worker) {
        const std::uint64_t begin = range.begin + item * step;
        io::CsvPiece piece =
            io::read_csv_piece(source.path, begin, std::min(range.end, begin + step));
        visit.doubles(worker, piece.values);
        if (read) read(std::min(range.end, begin + step) - begin);
        piece.values = {};
        pieces[static_cast<std::size_t>(item)] = std::move(piece);
      });
    });
  });
  std::vector<std::uint64_t> fields;
  for (const auto& piece : pieces) {
    const io::CsvPieceSummary summary = io::summarize(piece);
    fields.insert(fields.end(), {summary.lines, summary.has_content, summary.has_problem});
  }
  const auto flat = comm.gather_concat(std::span<const std::uint64_t>(fields), -1);
  std::vector<io::CsvPieceSummary> all(flat.size() / 3);
  for (std::size_t k = 0; k < all.size(); ++k)
    all[k] = {flat[3 * k], flat[3 * k + 1], flat[3 * k + 2]};
  const auto counts = comm.all_gather(count);
  std::uint64_t first = 0;
  for (int r = 0; r < comm.rank(); ++r) first += counts[static_cast<std::size_t>(r)];
  std::vector<std::uint64_t> shapes;
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    io::settle_csv_piece(pieces[i], all, first + i);
    // A deferred first line that turned out to be data is all that values holds now.
    visit.doubles(Worker{team.first_worker(), 0}, pieces[i].values);
    const auto shape = io::csv_piece_shape(pieces[i]);
    shapes.insert(shapes.end(), shape.begin(), shape.end());
  }
  const auto all_shapes = comm.gather_concat(std::span<const std::uint64_t>(shapes), -1);
  const io::CsvFileShape file = io::csv_file_shape(all_shapes, all);
  std::uint64_t rows = 0;
  for (std::size_t k = 0; k < all.size(); ++k) rows += all_shapes[3 * k];
  collectively(comm, [&] {
    naming_role(source, [&] {
      for (std::size_t i = 0; i < pieces.size(); ++i) {
        if (auto message = io::csv_piece_error(pieces[i], file, all, first + i, source.path)) {
          throw InputError(*message);
        }
      }
      if (rows == 0) throw InputError(source.path + ": no data rows");
    });
  });
  return rows * file.cols;
}

}  // namespace

namespace {

/// probe_table's findings with the reader's own description of the file, so that streaming
/// probes the file once.
struct ProbedTable {
  TableProbe probe;
  std::optional<io::ArrayFileInfo> array;
  std::optional<io::Hdf5DatasetInfo> dataset;
};

ProbedTable probe_file(const Comm& comm, const TableSource& source) {
  ProbedTable out;
  TableProbe& probe = out.probe;
  probe.format = detect_format(comm, source);
  collectively(comm, [&] {
    naming_role(source, [&] {
      if (probe.format == TableFormat::array) {
        out.array = io::probe_array_file(source.path);
        probe.dtype = out.array->dtype;
        probe.values = out.array->count;
      } else if (probe.format == TableFormat::hdf5) {
        out.dataset = io::probe_hdf5_dataset(source.path, source.dataset);
        probe.dtype = out.dataset->dtype;
        probe.values = out.dataset->count;
      }
      struct stat st {};
      if (::stat(source.path.c_str(), &st) != 0) {
        const int err = errno;
        throw InputError(source.path + ": cannot open: " + sys::errno_text(err));
      }
      probe.file_bytes = static_cast<std::uint64_t>(st.st_size);
    });
  });
  return out;
}

}  // namespace

TableProbe probe_table(const Comm& comm, const TableSource& source) {
  return probe_file(comm, source).probe;
}

std::uint64_t stream_table(Team& team, const TableSource& source, std::uint64_t block_bytes,
                           const TableVisitor& visit, const ReadBytes& read) {
  const ProbedTable table = probe_file(team.comm(), source);
  const bool f32 = table.probe.dtype == io::DType::f32;
  if (table.array) {
    if (f32) {
      stream_array<float>(team, *table.array, block_bytes, visit, read);
    } else {
      stream_array<double>(team, *table.array, block_bytes, visit, read);
    }
    return table.probe.values;
  }
  if (table.dataset) {
    if (f32) {
      stream_hdf5<float>(team, *table.dataset, block_bytes, visit, read);
    } else {
      stream_hdf5<double>(team, *table.dataset, block_bytes, visit, read);
    }
    return table.probe.values;
  }
  return stream_csv(team, source, table.probe.file_bytes, block_bytes, visit, read);
}

RowShard read_rows(const Comm& comm, const TableSource& source, const RowAlign& align) {
  switch (detect_format(comm, source)) {
    case TableFormat::array:
      return read_binary(comm, source, align);
    case TableFormat::hdf5:
      return read_hdf5(comm, source, align);
    case TableFormat::csv:
      break;
  }
  return read_csv(comm, source, align);
}

}  // namespace parakit
