// Balanced contiguous partition of an index range, the one rule every layer uses to
// decide which worker owns which elements.
#pragma once

#include <cstdint>

namespace parakit {

/// A half-open index range [begin, end).
struct IndexRange {
  std::uint64_t begin = 0;
  std::uint64_t end = 0;
  std::uint64_t size() const noexcept { return end - begin; }
  bool empty() const noexcept { return end == begin; }
  friend bool operator==(const IndexRange&, const IndexRange&) = default;
};

/// Part `part` of [0, n) split into `parts` contiguous blocks whose sizes differ by at most
/// one (the first n % parts blocks get the extra element). Blocks are in part order, so the
/// union of parts a..b is itself contiguous.
constexpr IndexRange block_range(std::uint64_t n, std::uint64_t parts,
                                 std::uint64_t part) noexcept {
  const std::uint64_t base = n / parts;
  const std::uint64_t extra = n % parts;
  const std::uint64_t begin = part * base + (part < extra ? part : extra);
  return {begin, begin + base + (part < extra ? 1 : 0)};
}

}  // namespace parakit
