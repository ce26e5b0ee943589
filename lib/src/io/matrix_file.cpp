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
#include <new>
#include <span>
#include <system_error>

#include "parakit/core/error.hpp"
#include "parakit/core/parse.hpp"
#include "parakit/io/array_file.hpp"
#include "read_support.hpp"

namespace parakit::io {

namespace {

using detail::fail;
using detail::pread_full;

constexpr std::string_view kNpyMagic = "\x93NUMPY";
constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";
constexpr std::size_t kMaxCellChars = 40;  // cell text quoted in messages

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

// ---------------------------------------------------------------- CSV

/// The cell text quoted for a message: cut to kMaxCellChars, control bytes as \xNN.
std::string quote_cell(std::string_view cell) {
  const bool cut = cell.size() > kMaxCellChars;
  if (cut) cell = cell.substr(0, kMaxCellChars);
  std::string out = "'";
  for (const char ch : cell) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned>(c));
      out += buf;
    } else {
      out += ch;
    }
  }
  return out + (cut ? "...'" : "'");
}

enum class Cell { ok, empty, not_number, not_finite, overflow };

/// After from_chars reported result_out_of_range for the number text [first, last):
/// true if its magnitude is too large (overflow), false if too small (underflow).
bool is_overflow(const char* first, const char* last) {
  const char* p = first;
  if (p != last && (*p == '-' || *p == '+')) ++p;
  bool seen_nonzero = false, seen_point = false;
  long long int_digits = 0, zeros_after_point = 0;
  for (; p != last && ((*p >= '0' && *p <= '9') || *p == '.'); ++p) {
    if (*p == '.') {
      seen_point = true;
      continue;
    }
    if (seen_nonzero) {
      if (!seen_point) ++int_digits;
      continue;
    }
    if (*p != '0') {
      seen_nonzero = true;
      if (!seen_point) int_digits = 1;
    } else if (seen_point) {
      ++zeros_after_point;
    }
  }
  // Decimal exponent of the first non-zero mantissa digit, before the e-part.
  const long long lead = int_digits > 0 ? int_digits - 1 : -(zeros_after_point + 1);
  long long exp = 0;
  if (p != last && (*p == 'e' || *p == 'E')) {
    ++p;
    bool neg = false;
    if (p != last && (*p == '-' || *p == '+')) neg = *p++ == '-';
    for (; p != last && *p >= '0' && *p <= '9'; ++p) {
      if (exp < 1'000'000'000) exp = exp * 10 + (*p - '0');
    }
    if (neg) exp = -exp;
  }
  return lead + exp > 0;
}

Cell parse_cell(std::string_view s, double& out) {
  if (s.empty()) return Cell::empty;
  const char* first = s.data();
  const char* const last = first + s.size();
  if (*first == '+') {
    ++first;
    if (first == last || *first == '-' || *first == '+') return Cell::not_number;
  }
  const auto [ptr, ec] = std::from_chars(first, last, out);
  if (ec == std::errc::invalid_argument || ptr != last) return Cell::not_number;
  if (ec == std::errc::result_out_of_range) {
    if (is_overflow(first, last)) return Cell::overflow;
    out = *first == '-' ? -0.0 : 0.0;  // underflow: rounds to zero
    return Cell::ok;
  }
  if (!std::isfinite(out)) return Cell::not_finite;
  return Cell::ok;
}

/// True if `line` (trimmed, non-empty) is a header: a cell that is non-empty and not a number.
bool is_header(std::string_view line) {
  std::size_t start = 0;
  while (true) {
    const auto comma = line.find(',', start);
    const std::string_view cell = trim_blanks(line.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    double v = 0;
    if (!cell.empty() && parse_cell(cell, v) == Cell::not_number) return true;
    if (comma == std::string_view::npos) return false;
    start = comma + 1;
  }
}

class CsvParser {
 public:
  CsvParser(const std::string& path, std::string_view text) : path_(path), text_(text) {}

  Matrix parse() {
    if (text_.starts_with(kUtf8Bom)) text_.remove_prefix(kUtf8Bom.size());
    bool first_line = true;
    std::size_t line_no = 0;
    for (std::size_t pos = 0; pos < text_.size();) {
      const auto nl = text_.find('\n', pos);
      const std::size_t end = nl == std::string_view::npos ? text_.size() : nl;
      const std::string_view line = trim_blanks(text_.substr(pos, end - pos));
      pos = end + 1;
      ++line_no;
      if (line.empty() || line.front() == '#') continue;
      if (first_line) {
        first_line = false;
        if (is_header(line)) continue;
      }
      parse_row(line, line_no, pos);
    }
    if (m_.rows == 0) fail(path_, "no data rows");
    return std::move(m_);
  }

 private:
  std::string where(std::size_t line_no) const { return path_ + ":" + std::to_string(line_no); }
  std::string where(std::size_t line_no, std::size_t col) const {
    return where(line_no) + ":" + std::to_string(col);
  }

  [[noreturn]] void ragged(std::string_view line, std::size_t line_no) const {
    const auto found = 1 + static_cast<std::size_t>(std::count(line.begin(), line.end(), ','));
    throw InputError(where(line_no) + ": expected " + std::to_string(m_.cols) + " values, found " +
                     std::to_string(found) + " (ragged row)");
  }

  /// Appends the cells of one data row; `next` is where the rest of the text starts.
  void parse_row(std::string_view line, std::size_t line_no, std::size_t next) {
    std::size_t col = 0;
    std::size_t start = 0;
    while (true) {
      const auto comma = line.find(',', start);
      ++col;
      if (m_.cols != 0 && col > m_.cols) ragged(line, line_no);
      const std::string_view cell = trim_blanks(line.substr(
          start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
      double v = 0;
      switch (parse_cell(cell, v)) {
        case Cell::ok:
          break;
        case Cell::empty:
          throw InputError(where(line_no, col) + ": empty value");
        case Cell::not_number:
          throw InputError(where(line_no, col) + ": not a number: " + quote_cell(cell));
        case Cell::not_finite:
          throw InputError(where(line_no, col) + ": not finite: " + quote_cell(cell));
        case Cell::overflow:
          throw InputError(where(line_no, col) +
                           ": out of range for a double: " + quote_cell(cell));
      }
      m_.values.push_back(v);
      if (comma == std::string_view::npos) break;
      start = comma + 1;
    }
    if (m_.cols == 0) {
      m_.cols = col;
      // Room for as many rows again as there are lines left.
      const std::string_view rest = next < text_.size() ? text_.substr(next) : std::string_view{};
      // Room for the values the rest of the text can hold: one per line left,
      // and at most one per two bytes (a digit and a separator).
      const auto lines_left =
          1 + static_cast<std::size_t>(std::count(rest.begin(), rest.end(), '\n'));
      m_.values.reserve(m_.values.size() + std::min(m_.cols * lines_left, rest.size() / 2 + 1));
    } else if (col != m_.cols) {
      ragged(line, line_no);
    }
    ++m_.rows;
  }

  const std::string& path_;
  std::string_view text_;
  Matrix m_;
};

Matrix read_matrix_impl(const std::string& path) {
  std::string text;
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

    if (size > text.max_size()) fail(path, "file too large");
    check_memory(path, size, "the file");
    text.resize(static_cast<std::size_t>(size));
    text.resize(pread_full(path, file.get(), text.data(), text.size(), 0));
  }
  return CsvParser(path, text).parse();
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
