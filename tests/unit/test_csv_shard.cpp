// The CSV shard reader: any split of a file into byte ranges reads every line exactly once,
// with the header, comments, blank lines, CRLF, a last line without a newline and fewer lines
// than ranks, and reports the error of the whole file (same line) when there is one.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "targets.hpp"  // parse_csv_split, shared with the fuzz target

namespace parakit::fuzz {
namespace {

TEST(CsvShard, EverySplitReadsEveryRowOnce) {
  std::mt19937 rng(11);
  for (int round = 0; round < 200; ++round) {
    std::string text = round % 3 == 0 ? "\xEF\xBB\xBF" : "";
    if (round % 2 == 0) text += "# a comment first\n\n";
    if (round % 4 < 2) text += "x, y\n";
    std::vector<double> want;
    const int rows = static_cast<int>(rng() % 12);
    for (int i = 0; i < rows; ++i) {
      const double a = static_cast<int>(rng() % 2000) - 1000, b = i * 0.5;
      want.insert(want.end(), {a, b});
      text += std::to_string(static_cast<int>(a)) + " , " + std::to_string(b);
      text += rng() % 3 == 0 ? "\r\n" : "\n";
      if (rng() % 4 == 0) text += "   # between rows\n";
      if (rng() % 5 == 0) text += "\n";
    }
    if (!text.empty() && rng() % 2 == 0 && text.back() == '\n')
      text.pop_back();  // no final newline
    for (std::uint64_t parts = 1; parts <= 9; ++parts) {
      const CsvSplit got = parse_csv_split(text, parts);
      if (rows == 0) {
        EXPECT_EQ(got.rows, 0u);
        continue;
      }
      ASSERT_TRUE(got.problem.empty()) << got.problem << "\n" << text;
      EXPECT_EQ(got.rows, static_cast<std::uint64_t>(rows)) << parts << " parts:\n" << text;
      EXPECT_EQ(got.cols, 2u);
      EXPECT_EQ(got.values, want) << parts << " parts:\n" << text;
    }
  }
}

TEST(CsvShard, AnErrorSeenByOnePieceNamesTheGlobalLine) {
  std::string text = "a,b\n";
  for (int i = 0; i < 50; ++i) text += std::to_string(i) + "," + std::to_string(i) + "\n";
  text += "7,oops\n";  // line 52
  for (int i = 0; i < 50; ++i) text += "1,2\n";
  for (std::uint64_t parts = 1; parts <= 6; ++parts) {
    EXPECT_EQ(parse_csv_split(text, parts).problem, "f.csv:52:2: not a number: 'oops'") << parts;
  }
  const std::string ragged = "1,2\n3,4\n5,6\n7,8,9\n1,2\n";
  for (std::uint64_t parts = 1; parts <= 6; ++parts) {
    EXPECT_EQ(parse_csv_split(ragged, parts).problem,
              "f.csv:4: expected 2 values, found 3 (ragged row)")
        << parts;
  }
}

TEST(CsvShard, AHeaderOnlyCountsAtTheStartOfTheFile) {
  // The first content line is a header only for the piece that holds it; the same text later
  // is bad data, whichever piece sees it.
  const std::string text = "\n# c\nx,y\n1,2\nx,y\n";
  for (std::uint64_t parts = 1; parts <= 5; ++parts) {
    EXPECT_EQ(parse_csv_split(text, parts).problem, "f.csv:5:1: not a number: 'x'") << parts;
  }
}

}  // namespace
}  // namespace parakit::fuzz
