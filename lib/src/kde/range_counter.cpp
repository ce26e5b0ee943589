#include "parakit/kde/range_counter.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <iterator>
#include <limits>
#include <numeric>
#include <optional>
#include <string>
#include <utility>

#include "parakit/core/error.hpp"
#include "parakit/core/partition.hpp"

namespace parakit::kde {
namespace {

constexpr double kInfinity = std::numeric_limits<double>::infinity();

/// Counts of inserted positions in [0, size), by prefix (a Fenwick tree).
class Fenwick {
 public:
  explicit Fenwick(std::uint64_t size) : tree_(size + 1, 0) {}
  void insert(std::uint64_t position) noexcept {
    for (std::uint64_t i = position + 1; i < tree_.size(); i += i & (~i + 1)) ++tree_[i];
  }
  /// Takes back one insert of `position`.
  void erase(std::uint64_t position) noexcept {
    for (std::uint64_t i = position + 1; i < tree_.size(); i += i & (~i + 1)) --tree_[i];
  }
  /// Inserted positions below `end`.
  std::uint64_t below(std::uint64_t end) const noexcept {
    std::uint64_t sum = 0;
    for (std::uint64_t i = end; i > 0; i -= i & (~i + 1)) sum += tree_[i];
    return sum;
  }

 private:
  std::vector<std::uint32_t> tree_;
};

/// Set bits of x. Without the popcnt instruction (the portable x86-64 baseline), std::popcount
/// is a call into libgcc; the SWAR form inlines.
inline std::uint64_t bit_count(std::uint64_t x) noexcept {
#if defined(__POPCNT__) || !(defined(__x86_64__) || defined(__i386__))
  return static_cast<std::uint64_t>(std::popcount(x));
#else
  x -= (x >> 1) & 0x5555555555555555ULL;
  x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
  x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0fULL;
  return (x * 0x0101010101010101ULL) >> 56;
#endif
}

/// A set of positions in [0, size): a bit per position, and the members below each 64-position
/// word. Few words: a plain prefix array, brought up to date by settle() after a batch of
/// inserts (O(words)), so that a count is one lookup; many: a Fenwick tree (O(log words) an
/// insert and a count), small enough to stay in cache (size / 16 bytes).
class PositionSet {
 public:
  explicit PositionSet(std::uint64_t size)
      : bits_((size + 63) / 64, 0),
        small_(bits_.size() <= kSmallWords),
        prefix_(small_ ? bits_.size() + 1 : 0, 0),
        words_(small_ ? 0 : bits_.size()) {}
  void insert(std::uint64_t position) noexcept {
    bits_[position >> 6] |= std::uint64_t{1} << (position & 63);
    if (small_) {
      stale_ = std::min(stale_, position >> 6);
    } else {
      words_.insert(position >> 6);
    }
  }
  /// Removes a member.
  void erase(std::uint64_t position) noexcept {
    bits_[position >> 6] &= ~(std::uint64_t{1} << (position & 63));
    if (small_) {
      stale_ = std::min(stale_, position >> 6);
    } else {
      words_.erase(position >> 6);
    }
  }
  /// Call between inserts (or erases) and counts.
  void settle() noexcept {
    if (!small_) return;
    for (std::uint64_t w = stale_; w < bits_.size(); ++w)
      prefix_[w + 1] = prefix_[w] + bit_count(bits_[w]);
    stale_ = bits_.size();
  }
  /// Members below `end`.
  std::uint64_t below(std::uint64_t end) const noexcept {
    const std::uint64_t word = end >> 6;
    std::uint64_t count = small_ ? prefix_[word] : words_.below(word);
    if ((end & 63) != 0) {
      count += bit_count(bits_[word] & ((std::uint64_t{1} << (end & 63)) - 1));
    }
    return count;
  }

 private:
  static constexpr std::uint64_t kSmallWords = 1024;
  std::vector<std::uint64_t> bits_;
  bool small_;
  std::vector<std::uint64_t> prefix_;
  std::uint64_t stale_ = 0;
  Fenwick words_;
};

/// Rows of a column in order, by index, for binary searches over a strided column.
struct Column {
  const double* data;
  std::size_t stride;
  double operator[](std::size_t i) const noexcept { return data[i * stride]; }
};

std::uint64_t lower(const Column& c, std::uint64_t n, double v) {
  std::uint64_t lo = 0, hi = n;
  while (lo < hi) {
    const std::uint64_t mid = lo + (hi - lo) / 2;
    if (c[mid] < v) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

std::uint64_t upper(const Column& c, std::uint64_t n, double v) {
  std::uint64_t lo = 0, hi = n;
  while (lo < hi) {
    const std::uint64_t mid = lo + (hi - lo) / 2;
    if (c[mid] <= v) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

using Run = std::function<void(std::uint64_t, const std::function<void(std::uint64_t)>&)>;

/// Buckets of equal width over [lo, hi] of n keys, a few thousand keys each (few enough
/// buckets that placing keys writes to cached places, small enough buckets to sort in cache):
/// bucket(x) is monotone in x, so sorting by bucket and then within buckets sorts by key.
class Buckets1D {
 public:
  Buckets1D(double lo, double hi, std::uint64_t n)
      : lo_(lo),
        count_(std::clamp<std::uint64_t>(n / 4096, 1, 1024)),
        scale_(hi > lo ? static_cast<double>(count_) / (hi - lo) : 0.0) {}
  std::uint64_t count() const noexcept { return count_; }
  std::uint64_t operator()(double x) const noexcept {
    return std::min(count_ - 1, static_cast<std::uint64_t>((x - lo_) * scale_));
  }

 private:
  double lo_;
  std::uint64_t count_;
  double scale_;
};

/// Runs f(first bucket, end bucket) over groups of buckets, at once where `run` allows.
void for_bucket_groups(std::uint64_t buckets, const Run& run,
                       const std::function<void(std::uint64_t, std::uint64_t)>& f) {
  const std::uint64_t groups = std::min<std::uint64_t>(buckets, 64);
  run(groups, [&](std::uint64_t g) {
    const IndexRange r = block_range(buckets, groups, g);
    f(r.begin, r.end);
  });
}

/// Sorts [first, last) by key: small or huge ranges by std::sort; others by a counting sort
/// into about 8-element sub-buckets of equal width (through `temp`, in cache), each then
/// finished by insertion sort.
template <class E, class Key>
void sort_bucket(E* first, E* last, Key key, std::vector<E>& temp) {
  const auto n = static_cast<std::uint64_t>(last - first);
  auto less = [&](const E& x, const E& y) { return key(x) < key(y); };
  if (n < 64 || n > (std::uint64_t{1} << 20)) {
    std::sort(first, last, less);
    return;
  }
  double lo = key(*first), hi = lo;
  for (const E* e = first; e != last; ++e) {
    lo = std::min(lo, key(*e));
    hi = std::max(hi, key(*e));
  }
  const std::uint64_t count = n / 8;
  const double scale = hi > lo ? static_cast<double>(count) / (hi - lo) : 0.0;
  if (!(scale > 0) || !std::isfinite(scale)) {
    std::sort(first, last, less);
    return;
  }
  auto sub = [&](double x) {
    return std::min(count - 1, static_cast<std::uint64_t>((x - lo) * scale));
  };
  temp.assign(first, last);
  std::vector<std::uint32_t> start(count + 1, 0);
  for (const E& e : temp) ++start[sub(key(e)) + 1];
  for (std::uint64_t b = 0; b < count; ++b) start[b + 1] += start[b];
  for (const E& e : temp) first[start[sub(key(e))]++] = e;
  // Each sub-bucket's keys now lie between its neighbours'; insertion sort finishes the runs.
  for (E* i = first + 1; i < last; ++i) {
    if (!less(*i, *(i - 1))) continue;
    const E moving = *i;
    E* j = i;
    do {
      *j = *(j - 1);
      --j;
    } while (j > first && less(moving, *(j - 1)));
    *j = moving;
  }
}

/// Shards up to this size are bucketed through a copy, by workers at once; larger ones in place.
constexpr std::uint64_t kCopiedSortBytes = std::uint64_t{16} << 20;

/// Sorts data[0, n) by key in place: elements are moved to their buckets (through a copy when
/// that is small, else by swaps: American flag sort, one serial pass), then each bucket is
/// sorted.
template <class E, class Key>
void sort_in_place(E* data, std::uint64_t n, Key key, const Run& run) {
  if (n < 2) return;
  double lo = key(data[0]), hi = lo;
  for (std::uint64_t i = 1; i < n; ++i) {
    lo = std::min(lo, key(data[i]));
    hi = std::max(hi, key(data[i]));
  }
  const Buckets1D bucket(lo, hi, n);
  const std::uint64_t count = bucket.count();
  std::vector<std::uint64_t> start(count + 1, 0);
  if (n * sizeof(E) <= kCopiedSortBytes) {
    // A copy within the constant working memory: parts of it are counted per bucket, and then
    // placed, at once (bucket b holds part 0's elements, then part 1's, ...).
    const std::vector<E> copy(data, data + n);
    const std::uint64_t parts = std::clamp<std::uint64_t>(n >> 14, 1, 8);
    std::vector<std::vector<std::uint64_t>> place(parts, std::vector<std::uint64_t>(count, 0));
    run(parts, [&](std::uint64_t k) {
      const IndexRange mine = block_range(n, parts, k);
      for (std::uint64_t i = mine.begin; i < mine.end; ++i) ++place[k][bucket(key(copy[i]))];
    });
    std::uint64_t at = 0;
    for (std::uint64_t b = 0; b < count; ++b) {
      start[b] = at;
      for (std::uint64_t k = 0; k < parts; ++k) at += std::exchange(place[k][b], at);
    }
    start[count] = at;
    run(parts, [&](std::uint64_t k) {
      const IndexRange mine = block_range(n, parts, k);
      for (std::uint64_t i = mine.begin; i < mine.end; ++i)
        data[place[k][bucket(key(copy[i]))]++] = copy[i];
    });
  } else {
    for (std::uint64_t i = 0; i < n; ++i) ++start[bucket(key(data[i])) + 1];
    std::partial_sum(start.begin(), start.end(), start.begin());
    std::vector<std::uint64_t> next(start.begin(), start.end() - 1);
    for (std::uint64_t b = 0; b < count; ++b) {
      while (next[b] < start[b + 1]) {
        const std::uint64_t home = bucket(key(data[next[b]]));
        if (home == b) {
          ++next[b];
        } else {
          std::swap(data[next[b]], data[next[home]++]);
        }
      }
    }
  }
  for_bucket_groups(bucket.count(), run, [&](std::uint64_t first, std::uint64_t end) {
    std::vector<E> temp;
    for (std::uint64_t b = first; b < end; ++b) {
      sort_bucket(data + start[b], data + start[b + 1], key, temp);
    }
  });
}

using detail::ColumnBuckets;

/// Rows of `samples` in buckets of column t: a counting sort whose parts of the rows are
/// counted, and then placed, at once where `run` allows (bucket b holds part 0's rows, then part
/// 1's, ...).
ColumnBuckets bucket_column(const Samples& samples, int t, const Run& run) {
  const auto n = static_cast<std::uint64_t>(samples.rows());
  ColumnBuckets out;
  out.rows.resize(n);
  out.lowest = kInfinity;
  out.highest = -kInfinity;
  if (n == 0) {
    out.start = {0, 0};
    out.top = {-kInfinity};
    return out;
  }
  // About 64 rows a bucket: a partial bucket is scanned row by row.
  const std::uint64_t count = std::clamp<std::uint64_t>(n / 64, 1, std::uint64_t{1} << 26);
  const double lo = samples.col(t).minCoeff(), hi = samples.col(t).maxCoeff();
  out.lowest = lo;
  out.highest = hi;
  const double scale = hi > lo ? static_cast<double>(count) / (hi - lo) : 0.0;
  auto bucket = [&](double x) {
    return std::min(count - 1, static_cast<std::uint64_t>((x - lo) * scale));
  };
  auto x_of = [&](std::uint64_t i) { return samples(static_cast<Eigen::Index>(i), t); };
  const std::uint64_t parts = std::clamp<std::uint64_t>(n >> 13, 1, 4);
  std::vector<std::vector<std::uint32_t>> place(parts, std::vector<std::uint32_t>(count, 0));
  std::vector<std::vector<double>> tops(parts, std::vector<double>(count, -kInfinity));
  run(parts, [&](std::uint64_t k) {
    const IndexRange rows = block_range(n, parts, k);
    for (std::uint64_t i = rows.begin; i < rows.end; ++i) {
      const double x = x_of(i);
      const std::uint64_t b = bucket(x);
      ++place[k][b];
      tops[k][b] = std::max(tops[k][b], x);
    }
  });
  out.start.assign(count + 1, 0);
  out.top.assign(count, -kInfinity);
  for (std::uint64_t b = 0; b < count; ++b) {
    std::uint64_t at = out.start[b];  // each part's counts become its first place in bucket b
    for (std::uint64_t k = 0; k < parts; ++k) {
      const std::uint64_t rows = place[k][b];
      place[k][b] = static_cast<std::uint32_t>(at);
      at += rows;
      out.top[b] = std::max(out.top[b], tops[k][b]);
    }
    out.start[b + 1] = at;
  }
  tops.clear();
  run(parts, [&](std::uint64_t k) {
    const IndexRange rows = block_range(n, parts, k);
    for (std::uint64_t i = rows.begin; i < rows.end; ++i) {
      out.rows[place[k][bucket(x_of(i))]++] = static_cast<std::uint32_t>(i);
    }
  });
  return out;
}

/// The first position in increasing `sorted` whose value is not below v, tried first where the
/// previous lookup ended (`at`) and just after it: consecutive points of a grid repeat a
/// coordinate or move to the next one, so most lookups need no binary search.
std::size_t find_from(std::span<const double> sorted, double v, std::size_t& at) noexcept {
  if (at < sorted.size() && sorted[at] == v && (at == 0 || sorted[at - 1] < v)) return at;
  if (at + 1 < sorted.size() && sorted[at + 1] == v && sorted[at] < v) return ++at;
  at = static_cast<std::size_t>(std::lower_bound(sorted.begin(), sorted.end(), v) - sorted.begin());
  return at;
}

/// The distinct values of column t of row-major `points` (d columns), increasing. Grids
/// repeat few values along an axis: values not yet known are deduplicated and merged a chunk
/// at a time while the distinct values stay few, else all values are sorted at once.
std::vector<double> distinct_values(std::span<const double> points, std::size_t d, std::size_t t) {
  constexpr std::size_t kChunk = 1024;
  const std::size_t count = points.size() / d;
  std::vector<double> set, chunk, merged;
  auto merge = [&] {
    std::sort(chunk.begin(), chunk.end());
    chunk.erase(std::unique(chunk.begin(), chunk.end()), chunk.end());
    merged.clear();
    std::set_union(set.begin(), set.end(), chunk.begin(), chunk.end(), std::back_inserter(merged));
    set.swap(merged);
    chunk.clear();
  };
  std::size_t at = 0;
  for (std::size_t p = 0; p < count; ++p) {
    const double v = points[p * d + t];
    const std::size_t k = find_from(set, v, at);
    if (k < set.size() && set[k] == v) continue;
    chunk.push_back(v);
    if (chunk.size() < kChunk) continue;
    merge();
    if (set.size() > 4 * kChunk) {
      set.resize(count);
      for (std::size_t q = 0; q < count; ++q) set[q] = points[q * d + t];
      std::sort(set.begin(), set.end());
      set.erase(std::unique(set.begin(), set.end()), set.end());
      return set;
    }
  }
  merge();
  return set;
}

/// Lookup hints for find_from, one per axis, carried along a block of points.
using Hints = std::array<std::size_t, 2>;

/// Runs f(k, hints) for k in [0, count) in blocks of 4096 (each with hints of its own), at
/// once where `run` allows.
void for_blocks(std::uint64_t count, const Run& run,
                const std::function<void(std::uint64_t, Hints&)>& f) {
  constexpr std::uint64_t kBlock = 4096;
  run((count + kBlock - 1) / kBlock, [&](std::uint64_t b) {
    Hints hints{0, 0};
    for (std::uint64_t k = b * kBlock; k < std::min(count, (b + 1) * kBlock); ++k) f(k, hints);
  });
}

/// `parallel`, or a plain loop when there is none.
Run runner(const RangeCounter::Parallel& parallel) {
  if (parallel) return parallel;
  return [](std::uint64_t count, const std::function<void(std::uint64_t)>& f) {
    for (std::uint64_t k = 0; k < count; ++k) f(k);
  };
}

}  // namespace

namespace {

/// Doubles in increasing order as integers (so that bisection over doubles is over integers).
std::int64_t ordered(double x) noexcept {
  const auto bits = std::bit_cast<std::int64_t>(x);
  return bits < 0 ? std::numeric_limits<std::int64_t>::min() - bits : bits;
}
double from_ordered(std::int64_t k) noexcept {
  return std::bit_cast<double>(k < 0 ? std::numeric_limits<std::int64_t>::min() - k : k);
}

/// The last double from `inside_at` (inside) towards `outside_at` (outside) for which `inside`
/// holds, when inside is true up to some point and false after it along that direction.
template <class Inside>
double last_inside(double inside_at, double outside_at, Inside inside) noexcept {
  std::int64_t in = ordered(inside_at), out = ordered(outside_at);
  while (in + 1 != out && in - 1 != out) {
    const std::int64_t mid = std::midpoint(in, out);  // no overflow across zero
    if (inside(from_ordered(mid))) {
      in = mid;
    } else {
      out = mid;
    }
  }
  return from_ordered(in);
}

/// The end of p's interval in direction `dir` (-1 below, +1 above): the boundary is usually
/// within a few ulps of p + dir * limit, so it is bracketed by galloping from there and then
/// bisected; far from it (an infinite guess, a bracket not found within 2^20 ulps), by
/// doubling steps from p.
template <class Inside>
double interval_end(double p, double limit, int dir, Inside inside) noexcept {
  const double guess = p + dir * limit;
  if (std::isfinite(guess)) {
    constexpr std::int64_t kReach = std::int64_t{1} << 20;
    const std::int64_t home = ordered(p);
    std::int64_t in = ordered(guess), out = in;
    bool bracketed = false;
    if (inside(guess)) {
      for (std::int64_t step = 1; step <= kReach && !bracketed; step *= 2) {
        const std::int64_t next = in + dir * step;
        const double x = from_ordered(next);
        if (!std::isfinite(x)) break;
        if (inside(x)) {
          in = next;
        } else {
          out = next;
          bracketed = true;
        }
      }
    } else {
      for (std::int64_t step = 1; step <= kReach && !bracketed; step *= 2) {
        const std::int64_t next = out - dir * step;
        if (dir * (next - home) <= 0) {  // back at p, which is inside
          in = home;
          bracketed = true;
        } else if (inside(from_ordered(next))) {
          in = next;
          bracketed = true;
        } else {
          out = next;
        }
      }
    }
    if (bracketed) return last_inside(from_ordered(in), from_ordered(out), inside);
  }
  double beyond = p + dir * limit;
  for (double step = limit > 0 ? limit : 1.0; inside(beyond) && std::isfinite(beyond); step *= 2)
    beyond = p + dir * 2 * step;
  return inside(beyond) ? beyond : last_inside(p, beyond, inside);
}

}  // namespace

std::pair<double, double> RangeCounter::exact_interval(double p, double limit) noexcept {
  // fl(|p - x|) is monotone on each side of p, so each end is the last inside double along
  // its side.
  auto inside = [&](double x) { return std::abs(p - x) <= limit; };
  return {interval_end(p, limit, -1, inside), interval_end(p, limit, +1, inside)};
}

RangeCounter::RangeCounter(Samples& samples, const Parallel& parallel)
    : samples_(samples), dim_(static_cast<int>(samples.cols())) {
  if (dim_ != 1 && dim_ != 2) {
    throw UsageError("range counting takes samples of 1 or 2 dimensions, not " +
                     std::to_string(dim_));
  }
  const auto n = static_cast<std::uint64_t>(samples.rows());
  if (n > kMaxRows) {
    throw UsageError("range counting takes at most " + std::to_string(kMaxRows) +
                     " samples per rank, not " + std::to_string(n) + ": use more ranks");
  }
  if (!samples.allFinite()) throw InputError("the samples hold a NaN or infinite value");
  // Rows sorted by their last coordinate, in place.
  const Run run = runner(parallel);
  if (dim_ == 1) {
    sort_in_place(
        samples.data(), n, [](double x) { return x; }, run);
  } else {
    using Row = std::array<double, 2>;
    static_assert(sizeof(Row) == 2 * sizeof(double));
    Row* rows = reinterpret_cast<Row*>(samples.data());
    sort_in_place(
        rows, n, [](const Row& r) { return r[1]; }, run);
    by_first_ = bucket_column(samples, 0, run);
  }
}

void RangeCounter::add_counts(std::span<const double> points, std::span<const double> widths,
                              std::span<std::uint64_t> counts, const Parallel& parallel,
                              int workers) const {
  const auto d = static_cast<std::size_t>(dim_);
  const std::uint64_t point_count = points.size() / d;
  if (counts.size() != point_count * widths.size()) {
    throw InternalError("RangeCounter::add_counts: counts size");
  }
  const HypercubeWidths sorted(widths);
  // A point farther from every row than its widest window, along the first coordinate and by
  // the window test itself (rounding is monotone: fl(x - p) >= fl(lowest - p) for x >= lowest),
  // counts nothing: only the others are counted. After a spatial split of the samples over
  // ranks that leaves each rank about its share of the points.
  const auto n = static_cast<std::uint64_t>(samples_.rows());
  const double lowest = dim_ == 2 ? by_first_.lowest : n > 0 ? samples_(0, 0) : kInfinity;
  const double highest = dim_ == 2 ? by_first_.highest
                         : n > 0   ? samples_(static_cast<Eigen::Index>(n - 1), 0)
                                   : -kInfinity;
  const double reach = sorted.size() > 0 ? sorted.limits().back() : 0.0;
  auto near = [&](std::uint64_t p) {
    const double x = points[p * d];
    return !(x < lowest && !(lowest - x <= reach)) && !(x > highest && !(x - highest <= reach));
  };
  std::uint64_t near_count = 0;
  for (std::uint64_t p = 0; p < point_count; ++p) near_count += near(p) ? 1 : 0;
  if (near_count == point_count) {
    count_points(points, {}, sorted, counts, parallel, workers);
    return;
  }
  std::vector<double> near_points;
  std::vector<std::uint64_t> index;
  near_points.reserve(near_count * d);
  index.reserve(near_count);
  for (std::uint64_t p = 0; p < point_count; ++p) {
    if (!near(p)) continue;
    near_points.insert(near_points.end(), points.begin() + static_cast<std::ptrdiff_t>(p * d),
                       points.begin() + static_cast<std::ptrdiff_t>((p + 1) * d));
    index.push_back(p);
  }
  count_points(near_points, index, sorted, counts, parallel, workers);
}

namespace {

/// Where a query's count goes: counts[point * m + width] in the caller's order of points
/// (index[p], or p without an index) and of widths (sorted width j is order[j]).
struct QueryIndex {
  std::span<const std::uint64_t> index;
  std::span<const std::size_t> order;
  std::size_t m = 0;
  std::uint64_t operator()(std::uint64_t p, std::size_t j) const noexcept {
    return (index.empty() ? p : index[p]) * m + order[j];
  }
};

/// One coordinate of the query points: every distinct value's exact interval at every width,
/// and for the sorted axis the rows' positions it spans.
struct Axis {
  std::vector<double> values;                       // distinct, increasing
  std::vector<std::pair<double, double>> interval;  // value x sorted width
  std::vector<std::uint64_t> rows;                  // sorted axis: [first, last) per entry
  /// The entry of v at the first width, m entries a value; `at` is a lookup hint.
  std::size_t entry(double v, std::size_t m, std::size_t& at) const {
    return find_from(values, v, at) * m;
  }
};

/// The axes of `points` (d coordinates a point), each distinct value's intervals computed once
/// (a grid has few distinct values per axis); the last axis is the rows' sorted one (`last`, n
/// rows), whose intervals also get their ranges of row positions.
std::vector<Axis> point_axes(std::span<const double> points, std::size_t d,
                             const HypercubeWidths& sorted, const Column& last, std::uint64_t n,
                             const Run& run) {
  const std::size_t m = sorted.size();
  std::vector<Axis> axes(d);
  run(d, [&](std::uint64_t t) { axes[t].values = distinct_values(points, d, t); });
  for (std::size_t t = 0; t < d; ++t) {
    Axis& axis = axes[t];
    axis.interval.resize(axis.values.size() * m);
    if (t == d - 1) axis.rows.resize(2 * axis.interval.size());
    run(axis.values.size(), [&](std::uint64_t v) {
      for (std::size_t j = 0; j < m; ++j) {
        const auto [a, b] = RangeCounter::exact_interval(axis.values[v], sorted.limits()[j]);
        axis.interval[v * m + j] = {a, b};
        if (t == d - 1) {
          axis.rows[2 * (v * m + j)] = lower(last, n, a);
          axis.rows[2 * (v * m + j) + 1] = upper(last, n, b);
        }
      }
    });
  }
  return axes;
}

/// One dimension: a window's count is the number of row positions its interval spans.
void count_on_line(std::span<const double> points, const Axis& axis, const QueryIndex& query,
                   std::span<std::uint64_t> counts, const Run& run) {
  const std::size_t m = query.m;
  for_blocks(points.size(), run, [&](std::uint64_t p, Hints& at) {
    const std::size_t e0 = axis.entry(points[p], m, at[0]);
    for (std::size_t j = 0; j < m; ++j) {
      counts[query(p, j)] += axis.rows[2 * (e0 + j) + 1] - axis.rows[2 * (e0 + j)];
    }
  });
}

/// Two dimensions: the counts by an offline sweep along the first coordinate (the rows'
/// buckets `first`) that inserts rows into a set of their positions.
///
/// Queries that share a first coordinate and a width share their two sweep events: the
/// events are sorted once per distinct (value, width) key. A key's queries are the points
/// with that first coordinate (listed together in by_value_) at that width; a query's range
/// of row positions (second coordinate) is its point's sorted-axis entry, shifted by the
/// width. Nothing is stored per (point, width).
class PlaneSweep {
 public:
  PlaneSweep(const Samples& samples, const ColumnBuckets& first, std::span<const double> points,
             const std::vector<Axis>& axes, const QueryIndex& query, const Run& run);
  /// Few rows for the queries: the keys are split among the workers instead (each sweeps
  /// every bucket, O(n), for its own keys' events), so the query work, which dominates, is
  /// shared. A query's two events have the same key, so each count is written by one worker
  /// (wrapping arithmetic: the strict event's subtraction and the other's addition leave the
  /// count).
  void count_by_key_groups(std::uint64_t workers, std::span<std::uint64_t> counts) const;
  /// Many rows for the queries: blocks of buckets of the first coordinate, each swept by a
  /// worker into a set of row positions of its own: a prefix count is the sum of the blocks'
  /// counts.
  void count_by_row_blocks(std::uint64_t blocks, std::span<std::uint64_t> counts) const;

 private:
  struct Event {
    double at;
    std::uint64_t key;
    bool strict;  // counts rows with first coordinate < at (else <= at), subtracted
  };
  /// How far a sweep of buckets [next, end) has come: the rows below the current event.
  struct Front {
    PositionSet inserted;
    std::vector<std::uint32_t> straddling;  // rows of the straddling bucket in the set
    std::uint64_t next = 0;                 // the first bucket not inserted
    std::uint64_t end = 0;
  };

  std::optional<std::array<Event, 2>> key_events(std::uint64_t k) const;
  std::vector<Event> events_of(std::uint64_t begin, std::uint64_t end) const;
  // An event below every row of the shard adds nothing, one above every row adds each query's
  // whole range of positions: only events inside the shard's range of first coordinates need
  // the sweep (after a spatial split of the samples over ranks, each rank's own few).
  bool none_below(const Event& e) const noexcept {
    return e.strict ? !(first_.lowest < e.at) : !(first_.lowest <= e.at);
  }
  bool all_below(const Event& e) const noexcept {
    return e.strict ? first_.highest < e.at : first_.highest <= e.at;
  }
  std::vector<std::uint64_t> key_groups(std::uint64_t groups) const;
  template <class Add>
  void sweep(IndexRange mine, bool whole, bool from_first, const std::vector<Event>& events,
             Add&& add) const;
  void advance(Front& front, const Event& e) const;
  template <class Add>
  void add_event(const Event& e, const PositionSet* inserted, Add& add) const;

  const Samples& samples_;
  const ColumnBuckets& first_;
  const Axis& first_axis_;
  const Axis& sorted_axis_;
  QueryIndex query_;
  const Run& run_;
  std::uint64_t keys_;                      // distinct first coordinates x widths
  std::vector<std::uint64_t> entry_of_;     // point -> its sorted-axis entry at width 0
  std::vector<std::uint64_t> first_point_;  // value -> its first point in by_value_
  std::vector<std::uint64_t> by_value_;     // the points, grouped by first coordinate
};

PlaneSweep::PlaneSweep(const Samples& samples, const ColumnBuckets& first,
                       std::span<const double> points, const std::vector<Axis>& axes,
                       const QueryIndex& query, const Run& run)
    : samples_(samples),
      first_(first),
      first_axis_(axes[0]),
      sorted_axis_(axes[1]),
      query_(query),
      run_(run),
      keys_(axes[0].values.size() * query.m) {
  const std::uint64_t point_count = points.size() / 2;
  const std::uint64_t values0 = first_axis_.values.size();
  std::vector<std::uint32_t> value_of(point_count);  // index among first_axis_.values
  entry_of_.resize(point_count);
  for_blocks(point_count, run_, [&](std::uint64_t p, Hints& at) {
    value_of[p] = static_cast<std::uint32_t>(first_axis_.entry(points[p * 2], 1, at[0]));
    entry_of_[p] = sorted_axis_.entry(points[p * 2 + 1], query_.m, at[1]);
  });
  first_point_.assign(values0 + 1, 0);
  by_value_.resize(point_count);
  for (std::uint64_t p = 0; p < point_count; ++p) ++first_point_[value_of[p] + 1];
  std::partial_sum(first_point_.begin(), first_point_.end(), first_point_.begin());
  std::vector<std::uint64_t> cursor(first_point_.begin(), first_point_.end() - 1);
  for (std::uint64_t p = 0; p < point_count; ++p) by_value_[cursor[value_of[p]]++] = p;
}

/// Key k's two events; none for a key without points, or whose window is wholly above the
/// rows' first coordinates (both events would add the query's whole range, with opposite
/// signs) or wholly below them (neither would add).
std::optional<std::array<PlaneSweep::Event, 2>> PlaneSweep::key_events(std::uint64_t k) const {
  const std::size_t m = query_.m;
  if (first_point_[k / m + 1] == first_point_[k / m]) return std::nullopt;
  const auto [a0, b0] = first_axis_.interval[k];
  if (a0 > first_.highest || b0 < first_.lowest) return std::nullopt;
  return std::array<Event, 2>{Event{a0, k, true}, Event{b0, k, false}};
}

/// The events of keys [begin, end), sorted (built by each group for its own keys, at once).
std::vector<PlaneSweep::Event> PlaneSweep::events_of(std::uint64_t begin, std::uint64_t end) const {
  std::vector<Event> events;
  events.reserve(2 * (end - begin));
  for (std::uint64_t k = begin; k < end; ++k) {
    if (const auto both = key_events(k)) events.insert(events.end(), both->begin(), both->end());
  }
  std::sort(events.begin(), events.end(), [](const Event& x, const Event& y) {
    return x.at < y.at || (x.at == y.at && x.strict && !y.strict);
  });
  return events;
}

/// Group g of `groups` takes keys [result[g], result[g + 1]): runs of keys (a run of first
/// coordinates: its points' counts are written by one worker, not interleaved cache line by
/// cache line), of about equal work: a swept event costs its points, one above every row much
/// less.
std::vector<std::uint64_t> PlaneSweep::key_groups(std::uint64_t groups) const {
  const std::size_t m = query_.m;
  std::vector<std::uint64_t> cost(keys_, 0);
  for (std::uint64_t k = 0; k < keys_; ++k) {
    const auto both = key_events(k);
    if (!both) continue;
    const std::uint64_t points_of_key = first_point_[k / m + 1] - first_point_[k / m];
    for (const Event& e : *both) {
      cost[k] += none_below(e) ? 0 : all_below(e) ? points_of_key : 8 * points_of_key;
    }
  }
  const std::uint64_t total = std::accumulate(cost.begin(), cost.end(), std::uint64_t{0});
  std::vector<std::uint64_t> first_key(groups + 1, keys_);
  first_key[0] = 0;
  std::uint64_t before = 0;
  for (std::uint64_t k = 0, g = 0; k < keys_; ++k) {
    const std::uint64_t group = total == 0 ? 0 : std::min(groups - 1, before * groups / total);
    while (g < group) first_key[++g] = k;
    before += cost[k];
  }
  return first_key;
}

/// Sweeps buckets `mine` over `events` (sorted), adding each query's count through
/// add(q, signed count); `whole` adds the counts of events above every row (one block does).
/// With `from_first`, the buckets wholly below the first event are never inserted: their rows
/// are below both events of every key, so they add to a query's count what its strict event
/// subtracts (then no event may take the shortcut for events above every row, which counts
/// them). A group of keys of a run of first coordinates then inserts about the rows within
/// its windows' reach, not all of them.
template <class Add>
void PlaneSweep::sweep(IndexRange mine, bool whole, bool from_first,
                       const std::vector<Event>& events, Add&& add) const {
  if (events.empty()) return;
  Front front{PositionSet(static_cast<std::uint64_t>(samples_.rows())), {}, mine.begin, mine.end};
  bool skipped = false;  // buckets below the first event never inserted
  if (from_first) {
    // The lowest event, even one below every row: a key whose strict event is below every
    // row counts rows from the lowest up, so none may be skipped for it.
    while (front.next < mine.end && first_.top[front.next] < events.front().at) ++front.next;
    skipped = front.next > mine.begin;
  }
  const std::uint64_t lowest_inserted = front.next;
  for (const Event& e : events) {
    if (none_below(e)) continue;
    const bool all = all_below(e) && !skipped;
    if (all && !whole) continue;
    if (!all) {
      advance(front, e);
      if (front.next == lowest_inserted && front.straddling.empty()) continue;  // none below
    }
    add_event(e, all ? nullptr : &front.inserted, add);
  }
}

/// Brings the front up to event e: the buckets wholly below it join the set, and the rows
/// below it of the one bucket that straddles it (buckets are ordered: every value of a later
/// bucket exceeds this one's largest) join for this event only.
void PlaneSweep::advance(Front& front, const Event& e) const {
  auto below = [&](double x) { return e.strict ? x < e.at : x <= e.at; };
  for (const std::uint32_t row : front.straddling) front.inserted.erase(row);
  front.straddling.clear();
  while (front.next < front.end && below(first_.top[front.next])) {
    for (std::uint64_t k = first_.start[front.next]; k < first_.start[front.next + 1]; ++k) {
      front.inserted.insert(first_.rows[k]);
    }
    ++front.next;
  }
  if (front.next < front.end) {
    for (std::uint64_t k = first_.start[front.next]; k < first_.start[front.next + 1]; ++k) {
      if (below(samples_(first_.rows[k], 0))) {
        front.straddling.push_back(first_.rows[k]);
        front.inserted.insert(first_.rows[k]);
      }
    }
  }
  front.inserted.settle();
}

/// Adds event e's part to each query of its key: the rows of the query's range of positions
/// that are in `inserted` (null: an event above every row, the whole range), negated for a
/// strict event.
template <class Add>
void PlaneSweep::add_event(const Event& e, const PositionSet* inserted, Add& add) const {
  const std::uint64_t v = e.key / query_.m, j = e.key % query_.m;
  for (std::uint64_t k = first_point_[v]; k < first_point_[v + 1]; ++k) {
    const std::uint64_t p = by_value_[k];
    const std::uint64_t q = query_(p, j);
    const std::uint64_t lo = sorted_axis_.rows[2 * (entry_of_[p] + j)];
    const std::uint64_t hi = sorted_axis_.rows[2 * (entry_of_[p] + j) + 1];
    if (hi <= lo) continue;
    std::uint64_t inside = hi - lo;
    if (inserted != nullptr) inside = inserted->below(hi) - inserted->below(lo);
    add(q, e.strict ? -static_cast<std::int64_t>(inside) : static_cast<std::int64_t>(inside));
  }
}

void PlaneSweep::count_by_key_groups(std::uint64_t workers, std::span<std::uint64_t> counts) const {
  // Four groups a worker (one alone): a worker slowed down by a neighbour leaves its
  // remaining groups to the others.
  const std::uint64_t groups =
      std::min<std::uint64_t>(workers == 1 ? 1 : workers * 4, std::max<std::uint64_t>(keys_, 1));
  const std::vector<std::uint64_t> first_key = key_groups(groups);
  const std::uint64_t buckets = first_.top.size();
  run_(groups, [&](std::uint64_t group) {
    sweep(IndexRange{0, buckets}, true, true, events_of(first_key[group], first_key[group + 1]),
          [&](std::uint64_t q, std::int64_t c) { counts[q] += static_cast<std::uint64_t>(c); });
  });
}

void PlaneSweep::count_by_row_blocks(std::uint64_t blocks, std::span<std::uint64_t> counts) const {
  const std::vector<Event> events = events_of(0, keys_);
  const std::uint64_t buckets = first_.top.size();
  std::vector<std::vector<std::int64_t>> partial(blocks);
  run_(blocks, [&](std::uint64_t b) {
    std::vector<std::int64_t>& out = partial[b];
    out.assign(counts.size(), 0);
    sweep(block_range(buckets, blocks, b), b == 0, false, events,
          [&](std::uint64_t q, std::int64_t c) { out[q] += c; });
  });
  for (const auto& part : partial) {
    for (std::size_t q = 0; q < counts.size(); ++q)
      counts[q] += static_cast<std::uint64_t>(part[q]);
  }
}

}  // namespace

void RangeCounter::count_points(std::span<const double> points,
                                std::span<const std::uint64_t> index, const HypercubeWidths& sorted,
                                std::span<std::uint64_t> counts, const Parallel& parallel,
                                int workers) const {
  const auto d = static_cast<std::size_t>(dim_);
  const std::size_t m = sorted.size();
  const std::uint64_t point_count = points.size() / d;
  const auto n = static_cast<std::uint64_t>(samples_.rows());
  const Run run = runner(parallel);
  const QueryIndex query{index, sorted.order(), m};
  const std::vector<Axis> axes =
      point_axes(points, d, sorted, Column{samples_.data() + (d - 1), d}, n, run);
  if (d == 1) {
    count_on_line(points, axes[0], query, counts, run);
    return;
  }
  const PlaneSweep plane(samples_, by_first_, points, axes, query, run);
  const auto team_size = static_cast<std::uint64_t>(std::max(workers, 1));
  // Blocks of rows split the inserts (O(n log n)) but each block answers every query; groups
  // of keys split the queries but each group inserts every row. A query costs about two
  // inserts, and it has two events: blocks only when the rows outweigh the queries.
  const std::uint64_t queries = point_count * m;
  const std::uint64_t blocks =
      n > 4 * queries ? std::clamp<std::uint64_t>(n >> 16, 1, team_size) : 1;
  if (blocks == 1) {
    plane.count_by_key_groups(team_size, counts);
  } else {
    plane.count_by_row_blocks(blocks, counts);
  }
}

}  // namespace parakit::kde
