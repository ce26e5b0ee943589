#include "parakit/io/csv_shard.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <system_error>

#include "parakit/core/error.hpp"
#include "parakit/core/parse.hpp"
#include "read_support.hpp"

namespace parakit::io {
namespace {

constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";
constexpr std::size_t kMaxCellChars = 40;             // cell text quoted in messages
constexpr std::size_t kBlock = std::size_t{1} << 20;  // bytes read per pread

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

/// Calls f(cell) for every ',' separated cell of `line`, trimmed; stops when f returns false.
template <class F>
void for_each_cell(std::string_view line, F&& f) {
  std::size_t start = 0;
  while (true) {
    const auto comma = line.find(',', start);
    const std::string_view cell = trim_blanks(line.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    if (!f(cell)) return;
    if (comma == std::string_view::npos) return;
    start = comma + 1;
  }
}

/// True if `line` (trimmed, non-empty) is a header: a cell that is non-empty and not a number.
bool is_header(std::string_view line) {
  bool header = false;
  for_each_cell(line, [&](std::string_view cell) {
    double v = 0;
    header = !cell.empty() && parse_cell(cell, v) == Cell::not_number;
    return !header;
  });
  return header;
}

std::uint64_t cell_count(std::string_view line) {
  return 1 + static_cast<std::uint64_t>(std::count(line.begin(), line.end(), ','));
}

/// Appends the cells of one data row to out; returns the problem, if any (the row is then
/// not appended). `expected` is the required cell count (0: any).
std::optional<CsvProblem> parse_row(std::string_view line, std::uint64_t line_index,
                                    std::uint64_t expected, std::vector<double>& out) {
  const std::size_t mark = out.size();
  std::optional<CsvProblem> problem;
  std::uint64_t col = 0;
  for_each_cell(line, [&](std::string_view cell) {
    ++col;
    if (expected != 0 && col > expected) {
      problem = CsvProblem{line_index, 0, 0,
                           "expected " + std::to_string(expected) + " values, found " +
                               std::to_string(cell_count(line)) + " (ragged row)"};
      return false;
    }
    double v = 0;
    switch (parse_cell(cell, v)) {
      case Cell::ok:
        out.push_back(v);
        return true;
      case Cell::empty:
        problem = CsvProblem{line_index, col, 0, "empty value"};
        break;
      case Cell::not_number:
        problem = CsvProblem{line_index, col, 0, "not a number: " + quote_cell(cell)};
        break;
      case Cell::not_finite:
        problem = CsvProblem{line_index, col, 0, "not finite: " + quote_cell(cell)};
        break;
      case Cell::overflow:
        problem = CsvProblem{line_index, col, 0, "out of range for a double: " + quote_cell(cell)};
        break;
    }
    return false;
  });
  if (!problem && expected != 0 && col != expected) {
    problem = CsvProblem{line_index, 0, 0,
                         "expected " + std::to_string(expected) + " values, found " +
                             std::to_string(col) + " (ragged row)"};
  }
  if (problem) {
    out.resize(mark);
    problem->cells = cell_count(line);
  }
  return problem;
}

/// Reads bytes [offset, offset + n) into dst; returns how many (fewer only at end of data).
using ReadAt = std::function<std::uint64_t(std::uint64_t offset, char* dst, std::uint64_t n)>;

/// The lines starting in [begin, end) of data of `size` bytes, one at a time, from blocks.
class LineReader {
 public:
  LineReader(ReadAt read, std::uint64_t size, std::uint64_t begin, std::uint64_t end)
      : read_(std::move(read)), size_(size), end_(std::min(end, size)) {
    if (begin >= end_) {
      pos_ = end_;
      return;
    }
    if (begin == 0) {
      pos_ = 0;
      // A byte order mark opens the file only; the first line still starts at byte 0.
      fill_until(kUtf8Bom.size());
      strip_bom_ = view().starts_with(kUtf8Bom);
      return;
    }
    // Skip to just after the first newline at or after begin - 1.
    pos_ = begin - 1;
    buf_start_ = pos_;
    for (;;) {
      const auto nl = view().find('\n', static_cast<std::size_t>(pos_ - buf_start_));
      if (nl != std::string_view::npos) {
        pos_ = buf_start_ + nl + 1;
        return;
      }
      pos_ = buf_start_ + buf_.size();
      if (pos_ >= end_ || !more()) {
        pos_ = end_;
        return;
      }
    }
  }

  /// The next line owned by this range (without its '\n'), or nothing.
  std::optional<std::string_view> next() {
    if (pos_ >= end_) return std::nullopt;
    for (;;) {
      const auto nl = view().find('\n', static_cast<std::size_t>(pos_ - buf_start_));
      if (nl != std::string_view::npos || at_eof()) {
        const std::size_t from = static_cast<std::size_t>(pos_ - buf_start_);
        const std::size_t to = nl == std::string_view::npos ? buf_.size() : nl;
        pos_ = buf_start_ + to + 1;
        std::string_view line = view().substr(from, to - from);
        if (strip_bom_) {
          line.remove_prefix(kUtf8Bom.size());
          strip_bom_ = false;
        }
        return line;
      }
      more();
    }
  }

 private:
  std::string_view view() const noexcept { return {buf_.data(), buf_.size()}; }
  bool at_eof() const { return buf_start_ + buf_.size() >= size_; }
  void fill_until(std::uint64_t n) {
    while (buf_start_ + buf_.size() < std::min(n, size_) && more()) {
    }
  }
  /// Appends the next block, first dropping what lies before pos_.
  bool more() {
    if (at_eof()) return false;
    const auto keep_from = static_cast<std::size_t>(
        std::min<std::uint64_t>(pos_ > buf_start_ ? pos_ - buf_start_ : 0, buf_.size()));
    if (keep_from > 0) {
      std::copy(buf_.begin() + static_cast<std::ptrdiff_t>(keep_from), buf_.end(), buf_.begin());
      buf_.resize(buf_.size() - keep_from);
    }
    buf_start_ += keep_from;
    const std::uint64_t at = buf_start_ + buf_.size();
    const std::size_t old = buf_.size();
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(kBlock, size_ - at));
    buf_.resize(old + n);
    const std::uint64_t got = read_(at, buf_.data() + old, n);
    buf_.resize(old + static_cast<std::size_t>(got));
    if (got == 0) size_ = at;  // the data ended early (a file that shrank)
    return got > 0;
  }

  ReadAt read_;
  std::uint64_t size_;
  std::uint64_t end_;
  std::uint64_t pos_ = 0;
  std::uint64_t buf_start_ = 0;
  std::vector<char> buf_;
  bool strip_bom_ = false;
};

CsvPiece parse_piece(LineReader& reader) {
  CsvPiece piece;
  for (std::uint64_t index = 0;; ++index) {
    const auto raw = reader.next();
    if (!raw) break;
    piece.lines = index + 1;
    if (piece.problem) continue;  // keep counting lines for the others' numbering
    const std::string_view line = trim_blanks(*raw);
    if (line.empty() || line.front() == '#') continue;
    if (!piece.first_content) {
      piece.first_content = std::string(line);
      piece.first_content_line = index;
      continue;
    }
    if (piece.rows == 0) {
      piece.first_row_line = index;
      piece.problem = parse_row(line, index, 0, piece.values);
      if (!piece.problem) {
        piece.cols = piece.values.size();
        piece.rows = 1;
      }
      continue;
    }
    piece.problem = parse_row(line, index, piece.cols, piece.values);
    if (!piece.problem) ++piece.rows;
  }
  return piece;
}

std::string located(const std::string& path, std::uint64_t line, std::uint64_t column) {
  std::string out = path;
  out += ':';
  out += std::to_string(line);
  if (column != 0) {
    out += ':';
    out += std::to_string(column);
  }
  return out;
}

std::uint64_t lines_before(std::span<const CsvPieceSummary> all, std::size_t me) {
  std::uint64_t lines = 0;
  for (std::size_t k = 0; k < me; ++k) lines += all[k].lines;
  return lines;
}

}  // namespace

CsvPiece read_csv_piece(const std::string& path, std::uint64_t begin, std::uint64_t end) {
  const sys::UniqueFd file = detail::open_for_reading(path);
  const std::uint64_t size = detail::regular_file_size(path, file.get());
  const int fd = file.get();
  LineReader reader([&](std::uint64_t offset, char* dst,
                        std::uint64_t n) { return detail::pread_full(path, fd, dst, n, offset); },
                    size, begin, end);
  return parse_piece(reader);
}

CsvPiece parse_csv_piece(std::string_view text, std::uint64_t begin, std::uint64_t end) {
  LineReader reader(
      [&](std::uint64_t offset, char* dst, std::uint64_t n) {
        const auto count = std::min<std::uint64_t>(n, text.size() - offset);
        std::memcpy(dst, text.data() + offset, static_cast<std::size_t>(count));
        return count;
      },
      text.size(), begin, end);
  return parse_piece(reader);
}

CsvPieceSummary summarize(const CsvPiece& piece) noexcept {
  return {piece.lines, piece.first_content ? 1u : 0u, piece.problem ? 1u : 0u};
}

void settle_csv_piece(CsvPiece& piece, std::span<const CsvPieceSummary> all, std::size_t me) {
  if (!piece.first_content) return;
  bool first_in_file = true;
  for (std::size_t k = 0; k < me; ++k) first_in_file = first_in_file && all[k].has_content == 0;
  if (!(first_in_file && is_header(*piece.first_content))) {
    std::vector<double> row;
    auto bad = parse_row(*piece.first_content, piece.first_content_line, 0, row);
    if (!bad && piece.rows > 0 && row.size() != piece.cols) {
      // The deferred line is the piece's first data row: the rows after it disagree with it
      // (or it disagrees with the file, which csv_piece_error checks first).
      bad = CsvProblem{piece.first_row_line, 0, 0,
                       "expected " + std::to_string(row.size()) + " values, found " +
                           std::to_string(piece.cols) + " (ragged row)"};
    }
    if (!bad || bad->line != piece.first_content_line) {
      piece.values.insert(piece.values.begin(), row.begin(), row.end());
      piece.cols = row.size();
      piece.first_row_line = piece.first_content_line;
      ++piece.rows;
    }
    if (bad && (!piece.problem || bad->line < piece.problem->line)) piece.problem = std::move(bad);
  }
  piece.first_content.reset();
}

std::array<std::uint64_t, 3> csv_piece_shape(const CsvPiece& piece) noexcept {
  return {piece.rows, piece.cols, piece.first_row_line};
}

CsvFileShape csv_file_shape(std::span<const std::uint64_t> shapes,
                            std::span<const CsvPieceSummary> all) {
  for (std::size_t k = 0; k < all.size() && 3 * k + 2 < shapes.size(); ++k) {
    if (shapes[3 * k] > 0) return {shapes[3 * k + 1], lines_before(all, k) + shapes[3 * k + 2]};
  }
  return {};
}

std::optional<std::string> csv_piece_error(const CsvPiece& piece, const CsvFileShape& file,
                                           std::span<const CsvPieceSummary> all, std::size_t me,
                                           const std::string& path) {
  std::optional<CsvProblem> problem = piece.problem;
  const std::uint64_t before = lines_before(all, me);
  // A first data row with the wrong count comes first unless a problem precedes it (a bad
  // first content line, parsed after the piece's other rows).
  if (piece.rows > 0 && piece.cols != file.cols &&
      (!problem || piece.first_row_line < problem->line)) {
    problem = CsvProblem{piece.first_row_line, 0, 0,
                         "expected " + std::to_string(file.cols) + " values, found " +
                             std::to_string(piece.cols) + " (ragged row)"};
  }
  if (!problem) return std::nullopt;
  // A cell beyond the count of a data row above it: read as one file, the row is ragged
  // before that cell is read.
  if (file.cols != 0 && problem->column > file.cols &&
      before + problem->line > file.first_row_line) {
    problem = CsvProblem{problem->line, 0, problem->cells,
                         "expected " + std::to_string(file.cols) + " values, found " +
                             std::to_string(problem->cells) + " (ragged row)"};
  }
  return located(path, before + problem->line + 1, problem->column) + ": " + problem->message;
}

}  // namespace parakit::io
