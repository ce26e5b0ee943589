// Reading 2-D sample matrices (n rows of d values) from a text CSV file or a
// NumPy .npy file, e.g. the KDE's samples (KdeOptions::input) and query points.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace parakit::io {

/// A dense row-major matrix of doubles read from a file.
struct Matrix {
  std::size_t rows = 0, cols = 0;
  std::vector<double> values;  ///< row-major: element (i, j) is values[i * cols + j]
};

/// Reads the matrix in `path`. The result always has rows >= 1, cols >= 1 and
/// only finite values.
///
/// A file starting with the `\x93NUMPY` magic (or named *.npy) is read as .npy
/// through probe_array_file / read_elements: float64, or float32 widened
/// exactly; shape (n, d) gives n rows of d columns and shape (n,) n rows of 1
/// column; any other shape is rejected (named), as are n == 0 ("no data
/// rows"), d == 0, and NaN/Inf ("x.npy: row 12 column 1 is nan", indices
/// 0-based as in NumPy).
///
/// Any other file is CSV text, read whole and parsed with std::from_chars:
///  - cells are separated by ','; spaces and tabs around a cell are ignored;
///  - lines end with LF or CRLF; a UTF-8 byte order mark is skipped;
///  - blank lines and lines whose first non-blank character is '#' are skipped;
///  - the first other line is a header (skipped) if any of its cells is
///    non-empty and not a number; otherwise it is the first data row;
///  - numbers are decimal floating point as from_chars reads them ("1", "-2.5",
///    ".5", "5.", "1e-3"), plus an optional leading '+'; values too small for a
///    double become 0 (with their sign);
///  - every data row has as many cells as the first one.
/// Errors name the 1-based line and, for a cell, its 1-based column (cell
/// index): "data.csv:7: expected 2 values, found 3 (ragged row)",
/// "data.csv:3:2: not a number: 'abc'" (cell text cut to 40 characters),
/// "data.csv:3:2: empty value", "data.csv:3:2: not finite: 'nan'",
/// "data.csv:3:2: out of range for a double: '1e999'", "data.csv: no data rows"
/// (also for an empty file or one with only a header and comments).
///
/// Every error is an InputError with a one-line message starting with `path`;
/// a non-empty `what` (the role of the file, e.g. "KdeOptions::input") is appended as
/// " (KdeOptions::input)". Besides the above: "PATH: cannot open: <strerror>", "PATH: is a
/// directory", "PATH: is not a regular file", any .npy error of
/// probe_array_file, and a file or matrix larger than the machine's physical
/// memory (or an allocation failure) is refused rather than half-loaded.
Matrix read_matrix(const std::string& path, std::string_view what);

}  // namespace parakit::io
