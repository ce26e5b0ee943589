// Hypercube counts at many points in about O(boundary) per point instead of O(n * band): a
// k-d tree over one shard's samples, built in place (the rows are reordered, nothing is
// copied), whose nodes keep their sample count and bounding box.
//
// For a point p, every sample x of a node has a Chebyshev distance r = max_t fl(|p_t - x_t|)
// (the window test's distance, as HypercubeWidths compares it) between two bounds computed from the
// box with the same floating-point expression: fl(|p_t - x_t|) is monotone in x_t on each side
// of p_t, so its extremes over [lo_t, hi_t] are at the box's faces (or 0 inside). When both
// bounds fall in the same width bucket (HypercubeWidths::bucket), the whole node goes to that
// bucket at once; otherwise the query descends, and leaves are scanned sample by sample. So the
// counts equal the naive loop's exactly, ties on the boundary included, and a point costs the
// nodes that straddle one of the width limits, not the samples inside them.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "parakit/kde/neighbors.hpp"
#include "parakit/kde/parzen.hpp"

namespace parakit::kde {

namespace detail {
class NodeCounts;
}

class RangeTree {
 public:
  /// Samples per leaf.
  static constexpr std::uint64_t kLeaf = 16;

  /// Builds the tree over the rows of `samples`, reordering them in place. `parallel(count, f)`
  /// may run f(0) .. f(count - 1) at once (the subtrees below the top levels); by default they
  /// run in turn. Throws InputError for a NaN or infinite coordinate.
  using Parallel =
      std::function<void(std::uint64_t count, const std::function<void(std::uint64_t)>&)>;
  explicit RangeTree(Samples& samples, const Parallel& parallel = {});

  /// Adds to `histogram` (widths.size() + 1 entries) the bucket of every sample within the
  /// largest width of `point`; like hypercube_histogram, use prefix sums (to_counts).
  void histogram(const HypercubeWidths& widths, std::span<const double> point,
                 std::span<std::uint64_t> histogram) const;

  std::uint64_t nodes() const noexcept { return node_.size(); }
  /// Bytes the tree adds to the samples.
  std::uint64_t bytes() const noexcept;

 private:
  struct Node {
    std::uint64_t begin = 0, end = 0;  // rows
    std::uint64_t right = 0;           // index of the right child (the left one is next); 0: leaf
  };
  struct Subtree {
    std::uint64_t node, begin, end;
  };
  /// Builds the subtree of rows [begin, end) at `node`; `levels` levels down (0: here) the
  /// subtrees go to `deferred` instead (levels < 0: never).
  void build(detail::NodeCounts& counts, std::uint64_t node, std::uint64_t begin, std::uint64_t end,
             int levels, std::vector<Subtree>& deferred);
  void set_box(std::uint64_t node);
  const double* lo(std::uint64_t node) const noexcept { return box_.data() + node * 2 * dim_; }
  const double* hi(std::uint64_t node) const noexcept { return lo(node) + dim_; }

  Samples& samples_;
  std::uint64_t dim_ = 0;
  std::vector<Node> node_;
  std::vector<double> box_;  // per node: lo[dim], hi[dim]
};

}  // namespace parakit::kde
