#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "parakit/core/error.hpp"
#include "parakit/core/progress.hpp"

namespace parakit {
namespace {

/// A Progress writing into a temporary file, and what it wrote.
class Captured {
 public:
  Captured() : file_(std::tmpfile()) {}
  ~Captured() { std::fclose(file_); }
  Captured(const Captured&) = delete;
  Captured& operator=(const Captured&) = delete;
  std::FILE* file() const { return file_; }
  std::string text() const {
    std::fflush(file_);
    std::rewind(file_);
    std::string out;
    char buffer[4096];
    for (std::size_t got; (got = std::fread(buffer, 1, sizeof buffer, file_)) > 0;) {
      out.append(buffer, got);
    }
    return out;
  }

 private:
  std::FILE* file_;
};

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (std::size_t end; (end = text.find('\n', start)) != std::string::npos; start = end + 1) {
    out.push_back(text.substr(start, end - start));
  }
  return out;
}

TEST(Progress, DisabledWritesNothingAndCountsNothing) {
  Captured out;
  Progress progress(ProgressOptions{false, 0.001}, "kde", 10, "points");
  progress.redirect(out.file(), false);
  progress.advance(5);
  progress.finish();
  EXPECT_FALSE(progress.enabled());
  EXPECT_EQ(progress.done(), 0u);
  EXPECT_EQ(out.text(), "");
  Progress none;  // default: disabled
  none.advance();
  none.stage("x");
  none.finish();
  EXPECT_FALSE(none.enabled());
}

TEST(Progress, LogLinesAtTheIntervalAndAFinalLine) {
  Captured out;
  Progress progress(ProgressOptions{true, 0.02}, "farm queue", 100, "tasks");
  progress.redirect(out.file(), false);
  progress.stage("step 1/2");
  for (int k = 0; k < 10; ++k) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    progress.advance(10);
  }
  progress.finish("finished the queue");
  const std::string text = out.text();
  EXPECT_EQ(text.find('\r'), std::string::npos) << text;
  const auto lines = lines_of(text);
  ASSERT_GE(lines.size(), 2u) << text;
  // "label: done/total (x%)": the prefix the farm's tests parse.
  // Checked piece by piece (std::regex trips GCC 12's -Wmaybe-uninitialized under ASan).
  for (std::size_t k = 0; k + 1 < lines.size(); ++k) {
    const std::string& l = lines[k];
    const std::string head = "farm queue: ";
    ASSERT_EQ(l.rfind(head, 0), 0u) << l;
    const std::size_t slash = l.find("/100 (", head.size());
    ASSERT_NE(slash, std::string::npos) << l;
    EXPECT_GT(slash, head.size()) << l;
    EXPECT_EQ(l.find_first_not_of("0123456789", head.size()), slash) << l;
    const std::size_t close = l.find("%)  step 1/2  ", slash);
    ASSERT_NE(close, std::string::npos) << l;
    EXPECT_EQ(l[close - 2], '.') << l;  // one decimal of the percentage
    const std::size_t rate = l.find(" tasks/s  ETA ", close);
    EXPECT_NE(rate, std::string::npos) << l;
  }
  EXPECT_EQ(lines.back().rfind("farm queue: finished the queue: 100/100 (100.0%)", 0), 0u)
      << lines.back();
  EXPECT_NE(lines.back().find(" in 0:0"), std::string::npos) << lines.back();
  EXPECT_EQ(text.back(), '\n');
}

TEST(Progress, NoLineBeforeTheInterval) {
  Captured out;
  Progress progress(ProgressOptions{true, 3600}, "sum", 4, "blocks");
  progress.redirect(out.file(), false);
  progress.advance(1);
  progress.update(3);
  EXPECT_EQ(out.text(), "");
  progress.finish();
  progress.finish();  // only the first writes
  EXPECT_EQ(lines_of(out.text()).size(), 1u);
  EXPECT_EQ(out.text().rfind("sum: finished: 3/4 (75.0%)", 0), 0u) << out.text();
}

TEST(Progress, TerminalRewritesOneLine) {
  Captured out;
  Progress progress(ProgressOptions{true, 3600}, "kde", 1000, "points");
  progress.redirect(out.file(), true);  // a terminal: every quarter second, whatever the interval
  for (int k = 0; k < 4; ++k) {
    std::this_thread::sleep_for(std::chrono::milliseconds(260));
    progress.advance(100);
  }
  progress.finish("finished densities");
  const std::string text = out.text();
  EXPECT_GE(std::count(text.begin(), text.end(), '\r'), 3) << text;
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << text;
  EXPECT_NE(text.find("\rkde: finished densities: 400/1000"), std::string::npos) << text;
}

TEST(Progress, BytesInGigabytes) {
  Captured out;
  const std::uint64_t gb = 1000000000;
  Progress progress(ProgressOptions{true, 3600}, "sum", 4 * gb, "bytes", ProgressUnit::bytes);
  progress.redirect(out.file(), false);
  progress.advance(2 * gb);
  progress.finish();
  EXPECT_EQ(out.text().rfind("sum: finished: 2.00/4.00 GB (50.0%)", 0), 0u) << out.text();
  EXPECT_NE(out.text().find(" GB/s"), std::string::npos) << out.text();
}

TEST(Progress, ManyThreadsCountEveryAdvance) {
  Captured out;
  Progress progress(ProgressOptions{true, 0.001}, "cv", 8 * 10000, "query blocks");
  progress.redirect(out.file(), false);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int k = 0; k < 10000; ++k) progress.advance();
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(progress.done(), 80000u);
  progress.finish();
  const auto lines = lines_of(out.text());
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines.back().rfind("cv: finished: 80000/80000 (100.0%)", 0), 0u) << lines.back();
}

TEST(Progress, ResumedWorkCountsAsDoneButNotInTheRate) {
  Captured out;
  Progress progress(ProgressOptions{true, 3600}, "farm", 10, "tasks", ProgressUnit::items, 6);
  progress.redirect(out.file(), false);
  EXPECT_EQ(progress.done(), 6u);
  progress.update(10);
  progress.finish();
  EXPECT_EQ(out.text().rfind("farm: finished: 10/10 (100.0%)", 0), 0u) << out.text();
}

TEST(ProgressOptions, IntervalMustBePositive) {
  EXPECT_NO_THROW((ProgressOptions{true, 0.5}.check()));
  for (const double bad : {0.0, -1.0, std::numeric_limits<double>::infinity(),
                           std::numeric_limits<double>::quiet_NaN()}) {
    EXPECT_THROW((ProgressOptions{false, bad}.check()), UsageError) << bad;
  }
}

TEST(FormatDuration, MinutesAndHours) {
  EXPECT_EQ(format_duration(0), "0:00");
  EXPECT_EQ(format_duration(61.4), "1:01");
  EXPECT_EQ(format_duration(3725), "1:02:05");
  EXPECT_EQ(format_duration(-1), "?");
}

}  // namespace
}  // namespace parakit
