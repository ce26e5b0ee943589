// Reading a CSV table of numbers in byte ranges, so that P readers together parse every line
// exactly once and none of them reads the whole file.
//
// A line belongs to the piece whose byte range [begin, end) holds its first byte. A piece
// that does not start the file skips to just after the first newline at or after begin - 1
// (so a line starting exactly at begin is its own), and reads past end to finish its last
// line. Text rules are those of read_matrix (io/matrix_file.hpp): ',' separated cells, LF or
// CRLF, a UTF-8 byte order mark at the start of the file, blank lines and '#' comments
// skipped, and a header when the file's first other line has a cell that is not a number.
//
// Which line is the file's first content line, and so the header, is known only once every
// piece is read: read_csv_piece keeps its piece's first content line aside, and
// settle_csv_piece decides about it from every piece's CsvPieceSummary (a fixed-size record
// that ranks exchange with one all-gather). Line numbers in messages are global: a piece
// counts its lines, and the lines of the pieces before it are summed.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace parakit::io {

/// A problem found in a piece, located by the piece's own 0-based line index.
struct CsvProblem {
  std::uint64_t line = 0;    ///< index among the lines of the piece
  std::uint64_t column = 0;  ///< 1-based cell, or 0 when the problem is the whole line
  std::uint64_t cells = 0;   ///< cells on the line
  std::string message;       ///< e.g. "not a number: 'abc'"
};

struct CsvPiece {
  std::uint64_t lines = 0;           ///< lines whose first byte lies in the range
  std::uint64_t rows = 0;            ///< data rows in `values` (the deferred line not included)
  std::uint64_t cols = 0;            ///< cells per row of `values` (0 when rows == 0)
  std::vector<double> values;        ///< row-major
  std::uint64_t first_row_line = 0;  ///< line index of values' first row
  /// The piece's first non-blank, non-comment line: maybe the file's header, decided later.
  std::optional<std::string> first_content;
  std::uint64_t first_content_line = 0;
  std::optional<CsvProblem> problem;  ///< the first problem; parsing stopped there
};

/// Reads and parses the lines of `path` that start in [begin, end) (end is clamped to the
/// file size). Throws InputError for a file that cannot be opened or read; problems in the
/// text are returned in CsvPiece::problem instead, so the pieces can agree on line numbers.
CsvPiece read_csv_piece(const std::string& path, std::uint64_t begin, std::uint64_t end);
/// The same for text already in memory (tests, fuzzing).
CsvPiece parse_csv_piece(std::string_view text, std::uint64_t begin, std::uint64_t end);

/// What every piece tells the others (trivially copyable, for one all-gather).
struct CsvPieceSummary {
  std::uint64_t lines = 0;
  std::uint64_t has_content = 0;  ///< 1 if the piece has a content line
  std::uint64_t has_problem = 0;
};
CsvPieceSummary summarize(const CsvPiece& piece) noexcept;

/// Settles piece `me` given every piece's summary, in file order: its deferred first content
/// line becomes a data row unless it is the file's header (the first content line of the whole
/// file, when one of its cells is not a number). A problem in that line, or a row count that
/// differs from the piece's other rows, goes to CsvPiece::problem (the earliest one stays).
void settle_csv_piece(CsvPiece& piece, std::span<const CsvPieceSummary> all, std::size_t me);

/// After settling: what a piece tells the others about its rows (3 values: rows, cells per
/// row, line index of its first data row), for one all-gather.
std::array<std::uint64_t, 3> csv_piece_shape(const CsvPiece& piece) noexcept;

/// The file's first data row: its cell count (every row must have as many) and its global line
/// index, from every settled piece's csv_piece_shape in file order (cols 0: no data row).
struct CsvFileShape {
  std::uint64_t cols = 0;
  std::uint64_t first_row_line = 0;
};
CsvFileShape csv_file_shape(std::span<const std::uint64_t> shapes,
                            std::span<const CsvPieceSummary> all);

/// The first problem of a settled piece as a one-line message "PATH:LINE[:COL]: ..." with the
/// global 1-based line number, as a reader of the whole file would report it (a row whose cell
/// count differs from the file's, once that is known, is ragged before any of its cells is
/// read); nothing if the piece is fine. The pieces' first problems in file order are the
/// file's.
std::optional<std::string> csv_piece_error(const CsvPiece& piece, const CsvFileShape& file,
                                           std::span<const CsvPieceSummary> all, std::size_t me,
                                           const std::string& path);

}  // namespace parakit::io
