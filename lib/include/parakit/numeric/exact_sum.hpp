// Exact (correctly rounded, reproducible) summation of doubles and floats.
//
// ExactAccumulator holds the exact real sum of every finite term added so far, plus counts of
// the special values, so its result does not depend on the order of the terms or on how they
// were split between threads and ranks. Its wire form merges across MPI ranks with a plain
// MPI_Allreduce(MPI_INT64_T, MPI_SUM).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace parakit::numeric {

/// Exact sum of doubles (floats are widened exactly), rounded once at the end.
class ExactAccumulator {
 public:
  /// Fixed-point chunks of 32 bits each; the lowest bit of chunk 0 is worth 2^-1074, the
  /// smallest subnormal. Chunks 0..65 cover every finite double; chunk 66 takes carries and
  /// the sign.
  static constexpr std::size_t kChunks = 67;
  /// Positions of the counters in the wire form, after the chunks.
  static constexpr std::size_t kWirePosInf = kChunks;          ///< number of +Inf terms
  static constexpr std::size_t kWireNegInf = kChunks + 1;      ///< number of -Inf terms
  static constexpr std::size_t kWireNaN = kChunks + 2;         ///< number of NaN terms
  static constexpr std::size_t kWireTerms = kChunks + 3;       ///< number of terms
  static constexpr std::size_t kWireNotNegZero = kChunks + 4;  ///< terms other than -0.0
  /// Number of int64 in the wire form.
  static constexpr std::size_t kWireSize = kChunks + 5;
  using Wire = std::array<std::int64_t, kWireSize>;

  /// Adds one term exactly.
  void add(double x) noexcept;
  /// Adds every term of x exactly (the fast blocked path).
  void add(std::span<const double> x) noexcept;
  /// Adds every term of x, each converted exactly to double.
  void add(std::span<const float> x) noexcept;
  /// Adds the terms of other, as if they had been added to this accumulator.
  void merge(const ExactAccumulator& other) noexcept;

  /// Normalised form. Elementwise int64 addition of the Wire of up to 2^30 accumulators,
  /// followed by from_wire(), gives exactly the accumulator of the union of all terms.
  /// (This is what lets MPI_Allreduce(MPI_INT64_T, MPI_SUM) merge ranks with no custom op.)
  /// Equal multisets of terms give equal wires.
  Wire to_wire() const noexcept;
  /// The accumulator whose to_wire() is w (w a wire or an elementwise sum of wires).
  static ExactAccumulator from_wire(const Wire& w) noexcept;
  /// The elementwise sum of two wires: the combine step that matches MPI_SUM on the wire.
  static Wire add_wires(Wire a, const Wire& b) noexcept {
    for (std::size_t i = 0; i < a.size(); ++i) a[i] += b[i];
    return a;
  }

  /// The exact real sum correctly rounded to double (round-to-nearest, ties to even).
  /// NaN if a NaN was added or both infinities were; +-Inf if only that infinity was; +-Inf
  /// if the exact finite sum rounds beyond DBL_MAX; -0.0 only if at least one term was added
  /// and every term was -0.0; +0.0 for the empty sum.
  double round() const noexcept;

  /// Number of terms added (merged and wire-summed ones included).
  std::int64_t size() const noexcept { return terms_; }

 private:
  using Chunks = std::array<std::int64_t, kChunks>;
  template <class T>
  void add_blocks(std::span<const T> x) noexcept;
  void add_term(double x) noexcept;  // add() without counting the term
  void add_finite_bits(std::uint64_t bits) noexcept;
  void add_extracted(double q) noexcept;
  static void normalize(Chunks& c) noexcept;

  Chunks chunk_{};             // the exact finite sum, not necessarily normalised
  std::int64_t pending_ = 0;   // adds since the last normalisation (bounds |chunk_[i]|)
  std::int64_t pos_inf_ = 0;   // number of +Inf terms
  std::int64_t neg_inf_ = 0;   // number of -Inf terms
  std::int64_t nan_ = 0;       // number of NaN terms
  std::int64_t terms_ = 0;     // number of terms
  std::int64_t neg_zero_ = 0;  // number of -0.0 terms
};

/// The exact sum of x correctly rounded to double; see ExactAccumulator::round().
double exact_sum(std::span<const double> x) noexcept;
/// The exact sum of the floats of x (each widened exactly) correctly rounded to double.
double exact_sum(std::span<const float> x) noexcept;

}  // namespace parakit::numeric
