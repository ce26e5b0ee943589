// The libFuzzer targets' bodies, one function per input format. Each fuzz_<name>.cpp wraps
// one in LLVMFuzzerTestOneInput; tests/unit/test_fuzz_corpus.cpp runs every file of
// fuzz/corpus/<name>/ and fuzz/regressions/<name>/ through the same function in the normal
// build, so a crash once found stays a test. Only parakit::Error (reported bad input) may
// leave a reader; anything else escapes as a crash.
#pragma once

#include <algorithm>
#include <cstdio>
#include <string_view>
#include <vector>
#include "fuzz_support.hpp"
#include "parakit/core/error.hpp"
#include "parakit/core/parse.hpp"
#include "parakit/io/array_file.hpp"
#include "parakit/io/csv_shard.hpp"
#include "parakit/io/journal.hpp"
#include "parakit/io/matrix_file.hpp"
#include "parakit/patterns/farm_options.hpp"
#include "parakit/workloads/commands.hpp"
#include "parakit/workloads/farm_demos.hpp"
#include "parakit/workloads/kde.hpp"

namespace parakit::fuzz {

template <class F>
void accepts_or_rejects(F&& parse) {
  try {
    parse();
  } catch (const parakit::Error&) {
  }
}

// The CSV reader (kde --input/--points): numbers, headers, comments, CRLF, ragged rows.
inline int fuzz_csv(const std::uint8_t* data, std::size_t size) {
  const std::string path = as_file(data, size, ".csv");
  try {
    const auto matrix = parakit::io::read_matrix(path, "--input");
    // rows must have cells, and the values must be all of them
    if ((matrix.rows > 0 && matrix.cols == 0) || matrix.values.size() != matrix.rows * matrix.cols)
      std::abort();
  } catch (const parakit::Error&) {
  }
  return 0;
}

/// The CSV text split into `parts` byte ranges, each parsed and settled as one rank would:
/// the rows in order, or the first problem's message.
struct CsvSplit {
  std::vector<double> values;
  std::uint64_t rows = 0, cols = 0;
  std::string problem;
  friend bool operator==(const CsvSplit&, const CsvSplit&) = default;
};
inline CsvSplit parse_csv_split(std::string_view text, std::uint64_t parts) {
  std::vector<parakit::io::CsvPiece> pieces;
  std::vector<parakit::io::CsvPieceSummary> all;
  for (std::uint64_t p = 0; p < parts; ++p) {
    const std::uint64_t begin = text.size() * p / parts, end = text.size() * (p + 1) / parts;
    pieces.push_back(parakit::io::parse_csv_piece(text, begin, end));
    all.push_back(parakit::io::summarize(pieces.back()));
  }
  CsvSplit out;
  std::vector<std::uint64_t> shapes;
  for (std::size_t p = 0; p < pieces.size(); ++p) {
    parakit::io::settle_csv_piece(pieces[p], all, p);
    const auto shape = parakit::io::csv_piece_shape(pieces[p]);
    shapes.insert(shapes.end(), shape.begin(), shape.end());
  }
  const auto file = parakit::io::csv_file_shape(shapes, all);
  out.cols = file.cols;
  for (std::size_t p = 0; p < pieces.size() && out.problem.empty(); ++p) {
    if (auto message = parakit::io::csv_piece_error(pieces[p], file, all, p, "f.csv")) {
      out.problem = *message;
    }
    out.values.insert(out.values.end(), pieces[p].values.begin(), pieces[p].values.end());
    out.rows += pieces[p].rows;
  }
  if (!out.problem.empty()) out = CsvSplit{{}, 0, 0, out.problem};
  return out;
}

// The CSV shard reader (kde --input on several ranks): any split into byte ranges gives the
// rows, or the first error with its line, of the whole text read as one piece.
inline int fuzz_csv_shards(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const CsvSplit whole = parse_csv_split(text, 1);
  if (whole.problem.empty() && whole.values.size() != whole.rows * whole.cols) std::abort();
  for (std::uint64_t parts = 2; parts <= 5; ++parts) {
    if (!(parse_csv_split(text, parts) == whole)) std::abort();
  }
  return 0;
}

// The .npy reader (sum --input, kde --input): header parsing, then the elements it promises.
inline int fuzz_npy(const std::uint8_t* data, std::size_t size) {
  const std::string path = as_file(data, size, ".npy");
  try {
    const auto info = parakit::io::probe_array_file(path);
    const std::uint64_t n = std::min<std::uint64_t>(info.count, 1 << 16);
    std::vector<double> out(n);
    parakit::io::read_elements(info, 0, out);
  } catch (const parakit::Error&) {
  }
  try {
    (void)parakit::io::read_matrix(path, "--input");
  } catch (const parakit::Error&) {
  }
  return 0;
}

// The farm journal: header checks and the record scan a --resume trusts.
inline int fuzz_journal(const std::uint8_t* data, std::size_t size) {
  const std::string path = as_file(data, size, ".journal");
  for (const bool force : {false, true}) {
    try {
      const auto scan = parakit::io::scan_journal(path, force, [](const auto&) {});
      if (scan.valid_bytes > size) std::abort();  // never trusts bytes that are not there
    } catch (const parakit::Error&) {
    }
  }
  return 0;
}

// The commands file (farm --commands): lines, comments, NUL bytes, very long lines.
inline int fuzz_commands(const std::uint8_t* data, std::size_t size) {
  const std::string path = as_file(data, size, ".txt");
  try {
    (void)parakit::workloads::read_commands_file(path);
  } catch (const parakit::Error&) {
  }
  return 0;
}

// The option parsers: counts (1e6, 2^26), durations, --cost, --widths, --grid, --chunk.
inline int fuzz_specs(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  accepts_or_rejects([&] { (void)parse_count(text, "--n"); });
  accepts_or_rejects([&] { (void)parse_seconds(text, "--timeout"); });
  accepts_or_rejects([&] { (void)workloads::parse_cost_spec(text); });
  accepts_or_rejects([&] {
    const auto widths = workloads::parse_widths(text);
    for (const double h : widths) {
      if (!(h > 0)) std::abort();  // accepted widths are positive and finite
    }
  });
  accepts_or_rejects([&] { (void)workloads::parse_grid(text); });
  accepts_or_rejects([&] { (void)parse_chunking(text); });
  return 0;
}

/// Removes this process's scratch files.
inline void remove_scratch_files() {
  for (const char* extension : {".csv", ".npy", ".journal", ".txt"}) {
    std::remove(scratch_path(extension).c_str());
  }
}

}  // namespace parakit::fuzz
