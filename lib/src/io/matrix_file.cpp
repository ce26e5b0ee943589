#include "parakit/io/matrix_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <new>
#include <span>
#include <system_error>

#include "parakit/core/error.hpp"
#include "parakit/core/parse.hpp"
#include "parakit/io/array_file.hpp"
#include "parakit/io/csv_shard.hpp"
#include "read_support.hpp"

namespace parakit::io {

namespace {

using detail::fail;
using detail::pread_full;

constexpr std::string_view kNpyMagic = "\x93NUMPY";

/// Physical memory in bytes, or 0 if unknown.
std::uint64_t physical_memory() {
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long page_size = ::sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page_size <= 0) return 0;
  return static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page_size);
}

std::string gib(std::uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f GiB",
                static_cast<double>(bytes) / static_cast<double>(std::uint64_t{1} << 30));
  return buf;
}

/// Refuses to load something needing `bytes` of memory if that exceeds the machine's.
void check_memory(const std::string& path, std::uint64_t bytes, const std::string& thing) {
  const std::uint64_t phys = physical_memory();
  if (phys != 0 && bytes > phys) {
    fail(path,
         thing + " needs " + gib(bytes) + ", more than this machine's memory (" + gib(phys) + ")");
  }
}

bool has_npy_extension(const std::string& path) {
  if (path.size() < 4) return false;
  std::string ext = path.substr(path.size() - 4);
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext == ".npy";
}

// ---------------------------------------------------------------- .npy

Matrix read_npy_matrix(const std::string& path) {
  const ArrayFileInfo info = probe_array_file(path);
  Matrix m;
  if (info.shape.size() == 2) {
    m.rows = static_cast<std::size_t>(info.shape[0]);
    m.cols = static_cast<std::size_t>(info.shape[1]);
  } else if (info.shape.size() == 1) {
    m.rows = static_cast<std::size_t>(info.shape[0]);
    m.cols = 1;
  } else {
    fail(path, "shape " + shape_to_string(info.shape) +
                   " is not 2-D (expected (n, d), or (n,) for one column)");
  }
  if (m.rows == 0) fail(path, "no data rows");
  if (m.cols == 0) fail(path, "shape " + shape_to_string(info.shape) + " has no columns");
  if (info.count > m.values.max_size()) fail(path, "too many values to load");
  check_memory(path, info.count * sizeof(double),
               "a " + std::to_string(m.rows) + " x " + std::to_string(m.cols) + " matrix");
  m.values.resize(static_cast<std::size_t>(info.count));
  read_elements(info, 0, std::span<double>(m.values));
  for (std::size_t i = 0; i < m.values.size(); ++i) {
    const double v = m.values[i];
    if (!std::isfinite(v)) {
      fail(path, "row " + std::to_string(i / m.cols) + " column " + std::to_string(i % m.cols) +
                     " is " +
                     (std::isnan(v) ? "nan"
                      : v > 0       ? "inf"
                                    : "-inf"));
    }
  }
  return m;
}

Matrix read_matrix_impl(const std::string& path) {
  {
    const sys::UniqueFd file = detail::open_for_reading(path);
    const std::uint64_t size = detail::regular_file_size(path, file.get());
    if (size == 0) fail(path, "no data rows");

    char magic[kNpyMagic.size()] = {};
    const std::size_t got = pread_full(path, file.get(), magic, sizeof magic, 0);
    if ((got == sizeof magic && std::string_view(magic, sizeof magic) == kNpyMagic) ||
        has_npy_extension(path)) {
      return read_npy_matrix(path);
    }

    check_memory(path, size, "the file");
  }
  CsvPiece piece = read_csv_piece(path, 0, std::numeric_limits<std::uint64_t>::max());
  const CsvPieceSummary summary = summarize(piece);
  settle_csv_piece(piece, {&summary, 1}, 0);
  const auto shape = csv_piece_shape(piece);
  const CsvFileShape file = csv_file_shape(shape, {&summary, 1});
  if (auto message = csv_piece_error(piece, file, {&summary, 1}, 0, path)) {
    throw InputError(*message);
  }
  if (piece.rows == 0) fail(path, "no data rows");
  Matrix m;
  m.rows = static_cast<std::size_t>(piece.rows);
  m.cols = static_cast<std::size_t>(piece.cols);
  m.values = std::move(piece.values);
  return m;
}

}  // namespace

Matrix read_matrix(const std::string& path, std::string_view what) {
  try {
    return read_matrix_impl(path);
  } catch (const InputError& e) {
    if (what.empty()) throw;
    throw InputError(std::string(e.what()) + " (" + std::string(what) + ")");
  } catch (const std::bad_alloc&) {
    std::string message = path + ": not enough memory to load it";
    if (!what.empty()) message += " (" + std::string(what) + ")";
    throw InputError(message);
  }
}

}  // namespace parakit::io
