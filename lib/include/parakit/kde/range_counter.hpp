// Hypercube counts at many points at once, for samples in one or two dimensions, as
// orthogonal range counting: O((n + q) log n) for q point-width pairs, instead of a scan of
// the band of samples within reach of each point.
//
// The window test for one coordinate (kde/parzen.hpp), fl(|p - x|) <= r_h (HypercubeWidths' exact
// limit), holds for x in an interval [a, b] of doubles, since fl(|p - x|) is monotone on each side
// of p; the interval's ends are found exactly (nextafter steps around p -/+ r_h). A window is then
// the rectangle [a_0, b_0] x [a_1, b_1], and its count is exact, ties on the boundary included.
//
// Two dimensions: the rows are sorted by their second coordinate in place, so a rectangle's
// range of second coordinates is a range of row positions (two binary searches); the count of
// rows with first coordinate <= v in that range comes from an offline sweep along the first
// coordinate that inserts rows into a set of positions with prefix counts, and a rectangle's
// count is the difference of two such prefix counts. One dimension: the rows are sorted and a
// count is two binary searches. Points farther from every row than their widest window are
// not counted at all. Memory: a uint32 per row (the first coordinate's buckets), and per
// sweeping worker a bit per row plus a count per 64 rows.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "parakit/kde/neighbors.hpp"
#include "parakit/kde/parzen.hpp"

namespace parakit::kde {

namespace detail {
/// Row positions grouped by buckets of one column, in bucket order (not sorted within a
/// bucket): rows[start[b], start[b + 1]) hold bucket b, whose largest value is top[b] (-inf if
/// empty); every value of a later bucket exceeds it.
struct ColumnBuckets {
  std::vector<std::uint32_t> rows;
  std::vector<std::uint64_t> start;
  std::vector<double> top;
  double lowest = 0, highest = 0;  // the column's range (+inf, -inf without rows)
};
}  // namespace detail

class RangeCounter {
 public:
  /// The largest shard it takes: row positions are uint32.
  static constexpr std::uint64_t kMaxRows = (std::uint64_t{1} << 32) - 1;
  using Parallel =
      std::function<void(std::uint64_t count, const std::function<void(std::uint64_t)>&)>;

  /// Sorts the rows of `samples` (1 or 2 columns) in place; `parallel(count, f)` may run
  /// f(0) .. f(count - 1) at once. Throws UsageError for another dimension or more than
  /// kMaxRows rows, InputError for a NaN or infinite coordinate.
  explicit RangeCounter(Samples& samples, const Parallel& parallel = {});

  /// Adds to counts[p * m + j] (m = widths.size(), the caller's width order) the number of
  /// samples inside point p's window of width widths[j], for points (row-major, the samples'
  /// dimension). `parallel` as above, on `workers` threads.
  void add_counts(std::span<const double> points, std::span<const double> widths,
                  std::span<std::uint64_t> counts, const Parallel& parallel = {},
                  int workers = 1) const;

  /// The doubles x with fl(|p - x|) <= limit: [first, second] (empty when first > second).
  static std::pair<double, double> exact_interval(double p, double limit) noexcept;

 private:
  /// add_counts for `points`, which are the caller's points index[0], index[1], ... (empty
  /// index: all of them, in order).
  void count_points(std::span<const double> points, std::span<const std::uint64_t> index,
                    const HypercubeWidths& sorted, std::span<std::uint64_t> counts,
                    const Parallel& parallel, int workers) const;

  Samples& samples_;
  int dim_;
  detail::ColumnBuckets by_first_;  // 2-D: rows in buckets of their first coordinate
};

}  // namespace parakit::kde
