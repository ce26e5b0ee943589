// An order-independent (reproducible) sum of doubles, small enough to keep one per output
// cell: a density per point and width, a leave-one-out sum per sample and width.
//
// The binary expansion of every double is cut at fixed positions into 32-bit bins (bin b holds
// the bits worth 2^(32b - 1074) .. 2^(32b - 1043)), as in ExactAccumulator, but a BinnedSum
// keeps only the kBins bins from the highest bin any term has reached downwards (the idea of
// Demmel and Nguyen's binned sums, with integer bins). A term's part in each kept bin is added
// to that bin's int64 exactly; its parts in lower bins are dropped. What is kept of a term
// depends only on the term and on the highest bin of all terms, which does not depend on their
// order, so the result is the same bits for any order and any split among threads and ranks.
//
// Error bound, with M the largest |term| and k terms: every dropped part is below
// 2^(32 (top - kBins + 1) - 1074) <= 2^-95 M, so
//     |BinnedSum::value() - exact sum| <= k 2^-95 M + 0.5 ulp(value())
// (value() rounds the kept parts' exact sum to nearest). For terms >= 0 (kernel values, chunk
// sums) M <= the sum, so the relative error is at most k 2^-95 + 2^-53: about 2.5e-29 k + 1.1e-16.
//
// Limits: at most 2^31 terms per sum (then overflow() is set and value() is NaN), and NaN or
// infinite terms set overflow() too.
//
// Across ranks: the ranks agree on the highest top (MPI_MAX), align_to() it, and add their
// wires elementwise (MPI_Allreduce(MPI_INT64_T, MPI_SUM)); from_wire() then gives the sum of
// every rank's terms.
#pragma once

#include <array>
#include <cstdint>

namespace parakit::numeric {

class BinnedSum {
 public:
  static constexpr int kBins = 4;
  static constexpr std::size_t kWireSize = kBins + 1;  ///< bins, then the term count
  using Wire = std::array<std::int64_t, kWireSize>;
  /// top() of a sum with no non-zero term.
  static constexpr int kEmpty = -1;

  void add(double x) noexcept;
  void merge(const BinnedSum& other) noexcept;

  /// The kept parts' exact sum rounded to the nearest double (ties to even). NaN after an
  /// overflow.
  double value() const noexcept;
  bool overflow() const noexcept { return terms_ > kMaxTerms || terms_ < 0; }

  /// The highest bin kept (kEmpty if none).
  int top() const noexcept { return top_; }
  /// The bin of |x|'s leading bit (kEmpty for 0, NaN or infinity): aligning sums whose terms
  /// and totals are at most |bound| to top_of(bound) gives them a common top known in advance.
  static int top_of(double x) noexcept;
  /// Moves the window up so that its highest bin is `top` (>= top()), dropping what falls
  /// below it, as if `top` had been reached by a term.
  void align_to(int top) noexcept;

  /// The bins and term count; add the wires of sums aligned to the same top elementwise.
  Wire to_wire() const noexcept;
  static BinnedSum from_wire(const Wire& wire, int top) noexcept;

  friend bool operator==(const BinnedSum&, const BinnedSum&) = default;

 private:
  static constexpr std::int64_t kMaxTerms = std::int64_t{1} << 31;

  std::array<std::int64_t, kBins> bin_{};  // bin_[k] holds bin top_ - k
  std::int32_t top_ = kEmpty;
  std::int64_t terms_ = 0;  // terms added (an infinity or NaN counts as kMaxTerms + 1)
};

}  // namespace parakit::numeric
