// The farm's progress line on stderr (FarmOptions::progress), written by rank 0's master loop.
#pragma once

#include <cstdint>
#include <string>

namespace parakit::detail {

/// The progress line on stderr: "\r" rewrites on a terminal, one line per ~2 s otherwise.
class ProgressLine {
 public:
  ProgressLine(bool enabled, std::string label, std::uint64_t total, std::uint64_t already);
  void update(std::uint64_t done);
  void finish(std::uint64_t done);

 private:
  void print(std::uint64_t done, bool last);
  bool enabled_;
  bool tty_;
  std::string label_;
  std::uint64_t total_;
  std::uint64_t already_;
  double start_;
  double last_print_ = 0;
  bool printed_ = false;
};

}  // namespace parakit::detail
