#include "parakit/kde/range_tree.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "parakit/core/error.hpp"

namespace parakit::kde {
namespace {

constexpr double kInfinity = std::numeric_limits<double>::infinity();
/// Levels built one after the other before the subtrees below them go to `parallel`.
constexpr int kSerialLevels = 6;

}  // namespace

namespace detail {

/// Node counts of the balanced tree over `rows` rows, memoised: a level has at most two sizes.
class NodeCounts {
 public:
  std::uint64_t operator()(std::uint64_t rows) {
    if (rows <= RangeTree::kLeaf) return 1;
    const auto found = memo_.find(rows);
    if (found != memo_.end()) return found->second;
    const std::uint64_t count = 1 + (*this)(rows / 2) + (*this)(rows - rows / 2);
    memo_.emplace(rows, count);
    return count;
  }
  /// After the counts of every size in a tree have been asked for: no insertion, thread-safe.
  std::uint64_t known(std::uint64_t rows) const {
    return rows <= RangeTree::kLeaf ? 1 : memo_.at(rows);
  }

 private:
  std::map<std::uint64_t, std::uint64_t> memo_;
};

}  // namespace detail

namespace {

void swap_rows(double* data, std::uint64_t d, std::uint64_t a, std::uint64_t b) noexcept {
  std::swap_ranges(data + a * d, data + a * d + d, data + b * d);
}

/// Reorders rows [begin, end) in place so that row `nth` holds the value of coordinate t it
/// would hold if the rows were sorted by it, with no larger value before and no smaller after.
void select_rows(double* data, std::uint64_t d, std::uint64_t begin, std::uint64_t end,
                 std::uint64_t nth, std::uint64_t t) noexcept {
  auto at = [&](std::uint64_t row) { return data[row * d + t]; };
  while (end - begin > 1) {
    const double a = at(begin), b = at(begin + (end - begin) / 2), c = at(end - 1);
    const double pivot = std::max(std::min(a, b), std::min(std::max(a, b), c));  // median of 3
    std::uint64_t lt = begin, i = begin, gt = end;  // [begin, lt) < pivot, [gt, end) > pivot
    while (i < gt) {
      const double v = at(i);
      if (v < pivot) {
        swap_rows(data, d, i++, lt++);
      } else if (v > pivot) {
        swap_rows(data, d, i, --gt);
      } else {
        ++i;
      }
    }
    if (nth < lt) {
      end = lt;
    } else if (nth >= gt) {
      begin = gt;
    } else {
      return;
    }
  }
}

}  // namespace

RangeTree::RangeTree(Samples& samples, const Parallel& parallel)
    : samples_(samples), dim_(static_cast<std::uint64_t>(samples.cols())) {
  if (!samples.allFinite()) throw InputError("the samples hold a NaN or infinite value");
  const auto rows = static_cast<std::uint64_t>(samples.rows());
  detail::NodeCounts counts;
  node_.resize(counts(rows));
  box_.resize(node_.size() * 2 * dim_);
  std::vector<Subtree> deferred;
  build(counts, 0, 0, rows, parallel ? kSerialLevels : -1, deferred);
  if (deferred.empty()) return;
  parallel(deferred.size(), [&](std::uint64_t k) {
    const Subtree& s = deferred[k];
    build(counts, s.node, s.begin, s.end, -1, deferred);
  });
}

std::uint64_t RangeTree::bytes() const noexcept {
  return node_.size() * sizeof(Node) + box_.size() * sizeof(double);
}

void RangeTree::set_box(std::uint64_t node) {
  double* lo = box_.data() + node * 2 * dim_;
  double* hi = lo + dim_;
  std::fill(lo, lo + dim_, kInfinity);
  std::fill(hi, hi + dim_, -kInfinity);
  const double* data = samples_.data();
  for (std::uint64_t i = node_[node].begin; i < node_[node].end; ++i) {
    for (std::uint64_t t = 0; t < dim_; ++t) {
      lo[t] = std::min(lo[t], data[i * dim_ + t]);
      hi[t] = std::max(hi[t], data[i * dim_ + t]);
    }
  }
}

void RangeTree::build(detail::NodeCounts& counts, std::uint64_t node, std::uint64_t begin,
                      std::uint64_t end, int levels, std::vector<Subtree>& deferred) {
  if (levels == 0) {
    deferred.push_back({node, begin, end});
    return;
  }
  node_[node] = {begin, end, 0};
  set_box(node);
  if (end - begin <= kLeaf) return;
  // Split at the median of the box's widest coordinate.
  std::uint64_t widest = 0;
  for (std::uint64_t t = 1; t < dim_; ++t) {
    if (hi(node)[t] - lo(node)[t] > hi(node)[widest] - lo(node)[widest]) widest = t;
  }
  const std::uint64_t mid = begin + (end - begin) / 2;
  select_rows(samples_.data(), dim_, begin, end, mid, widest);
  node_[node].right = node + 1 + counts.known(mid - begin);
  build(counts, node + 1, begin, mid, levels - 1, deferred);
  build(counts, node_[node].right, mid, end, levels - 1, deferred);
}

void RangeTree::histogram(const HypercubeWidths& widths, std::span<const double> point,
                          std::span<std::uint64_t> histogram) const {
  if (point.size() != dim_) {
    throw UsageError("the point has " + std::to_string(point.size()) +
                     " coordinates but the samples have " + std::to_string(dim_));
  }
  const double reach = widths.max_limit();
  const double* data = samples_.data();
  const double* p = point.data();
  std::uint64_t stack[128];
  std::size_t top = 0;
  stack[top++] = 0;
  while (top > 0) {
    const std::uint64_t node = stack[--top];
    const Node& n = node_[node];
    if (n.begin == n.end) continue;
    // Bounds of r = max_t fl(|p_t - x_t|) over the node's samples.
    double near = 0, far = 0;
    const double* l = lo(node);
    const double* h = hi(node);
    for (std::uint64_t t = 0; t < dim_; ++t) {
      const double to_lo = std::abs(p[t] - l[t]), to_hi = std::abs(p[t] - h[t]);
      if (p[t] < l[t]) {
        near = std::max(near, to_lo);
      } else if (p[t] > h[t]) {
        near = std::max(near, to_hi);
      }
      far = std::max(far, std::max(to_lo, to_hi));
    }
    if (near > reach) continue;
    const std::size_t first = widths.bucket(near);
    if (first == widths.bucket(far)) {
      histogram[first] += n.end - n.begin;
      continue;
    }
    if (n.right == 0) {
      for (std::uint64_t i = n.begin; i < n.end; ++i) {
        double r = 0;
        for (std::uint64_t t = 0; t < dim_; ++t)
          r = std::max(r, std::abs(p[t] - data[i * dim_ + t]));
        if (r <= reach) ++histogram[widths.bucket(r)];
      }
      continue;
    }
    stack[top++] = n.right;
    stack[top++] = node + 1;
  }
}

}  // namespace parakit::kde
