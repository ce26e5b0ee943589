// An order-independent sum of doubles in a fixed-point window, small enough to keep one per
// output cell (a density per point and width, a leave-one-out sum per sample and width).
//
// FixedSum keeps a 256-bit two's complement integer I; the value is I x 2^(top - 254), so
// every term and partial sum below 2^top in magnitude fits, and the lowest bit ("ulp") is
// worth 2^(top - 254). Each term is truncated toward zero to a multiple of that ulp, which
// depends on the term alone; the integer additions that follow are exact. So the result
// depends only on the multiset of terms, never on their order or on how they were split
// among threads and ranks. Error bound against the exact sum of k terms:
//
//     |FixedSum::value() - sum| <= k * 2^(top - 254) + 0.5 ulp(value())     (round to nearest)
//
// With top = 41 (totals below 2^41) the truncation part is k * 2^-213 (about k * 1e-64).
// Terms that reach 2^top, NaN or infinity set overflow() instead of being added.
//
// The wire form is 8 int64 holding 32 bits each, so an elementwise int64 sum of up to 2^31
// wires (MPI_Allreduce(MPI_INT64_T, MPI_SUM)) followed by from_wire() equals adding every
// term to one accumulator.
#pragma once

#include <array>
#include <cstdint>

namespace parakit::numeric {

class FixedSum {
 public:
  static constexpr int kLimbs = 4;  ///< 64-bit limbs of the integer, least significant first
  static constexpr int kFractionBits = 254;                 ///< bits below 2^top
  static constexpr std::size_t kWireSize = 2 * kLimbs + 1;  ///< 32-bit pieces + overflow count
  using Wire = std::array<std::int64_t, kWireSize>;

  /// The sum of nothing, with terms and total below 2^top in magnitude (top is clamped to
  /// [-700, 1000], where every representable value is a normal double).
  explicit FixedSum(int top = 64) noexcept;
  /// The smallest top for which every term and partial sum of magnitude <= bound fits.
  static int top_for(double bound) noexcept;

  int top() const noexcept { return top_; }
  bool overflow() const noexcept { return overflow_ != 0; }

  /// Adds x truncated toward zero to a multiple of 2^(top - 254).
  void add(double x) noexcept;
  /// Adds the terms of other (same top; a different top sets overflow()).
  void merge(const FixedSum& other) noexcept;

  /// The sum rounded to nearest double (ties to even); NaN after an overflow.
  double value() const noexcept;

  Wire to_wire() const noexcept;
  /// The accumulator (with the given top) whose wire is w, or an elementwise sum of wires.
  static FixedSum from_wire(const Wire& w, int top) noexcept;

  friend bool operator==(const FixedSum&, const FixedSum&) = default;

 private:
  void add_magnitude(std::uint64_t mantissa, int shift, bool negative) noexcept;

  std::array<std::uint64_t, kLimbs> limb_{};
  std::int32_t top_ = 64;
  std::int32_t overflow_ = 0;
};

}  // namespace parakit::numeric
