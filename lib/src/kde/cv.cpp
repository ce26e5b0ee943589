#include "parakit/kde/cv.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numbers>
#include <string>

#include "parakit/core/error.hpp"
#include "parakit/kde/chunk_sums.hpp"
#include "parakit/kde/pruned_sums.hpp"

namespace parakit::kde {
namespace {

constexpr double kMinusInfinity = -std::numeric_limits<double>::infinity();

std::span<const double> row_of(const Samples& samples, Eigen::Index i) {
  return {samples.data() + i * samples.cols(), static_cast<std::size_t>(samples.cols())};
}

/// Picks the best finite score, the smallest width on ties.
std::optional<std::size_t> choose_best(const CvCurve& curve) {
  std::optional<std::size_t> best;
  for (std::size_t j = 0; j < curve.score.size(); ++j) {
    const double s = curve.score[j];
    if (!std::isfinite(s)) continue;
    if (!best) {
      best = j;
      continue;
    }
    const double b = curve.score[*best];
    const bool better = curve.method == CvMethod::loglik ? s > b : s < b;
    if (better || (s == b && curve.widths[j] < curve.widths[*best])) best = j;
  }
  return best;
}

/// The lsq score of the hypercube from its sums: overlap = sum over ordered pairs i != j of
/// prod_t (h - |dx_t|)_+, pairs = sum over i of the LOO neighbour count.
double hypercube_lsq_score(double n, int d, double h, double overlap, double pairs) {
  const double hd = std::pow(h, d);
  return (n * hd + overlap) / (n * n * hd * hd) - 2.0 * pairs / (n * (n - 1) * hd);
}

double smooth_loglik_score(Kernel kernel, double n, int d, double h, double sum_log) {
  return sum_log / n + log_kernel_norm(kernel, h, d) - std::log(n - 1);
}

/// The Gaussian lsq score from its two terms, and into `bound` the score's error bound: the sums
/// within ErrorBound::kRounding of exact (relative: they are sums of positive terms), twice
/// that for the few roundings after them.
double gaussian_lsq_score(double integral, double loo, double& bound) {
  bound = 2 * ErrorBound::kRounding * (std::abs(integral) + 2.0 * std::abs(loo));
  return integral - 2.0 * loo;
}

double gaussian_lsq_score(double n, int d, double h, double wide_sum, double sum, double& bound) {
  const double integral =
      kernel_norm(Kernel::gaussian, std::numbers::sqrt2 * h, d) * (n + wide_sum) / (n * n);
  const double loo = kernel_norm(Kernel::gaussian, h, d) * sum / (n * (n - 1));
  return gaussian_lsq_score(integral, loo, bound);
}

}  // namespace

double brent_minimum(const std::function<double(double)>& f, double a, double b, double tol,
                     int& calls) {
  // The classic algorithm (Brent 1973, "Algorithms for Minimization without Derivatives",
  // ch. 5): x the best point so far, w the second best, v the previous w.
  constexpr double kGolden = 0.3819660112501051;  // (3 - sqrt 5) / 2
  if (a > b) std::swap(a, b);
  double x = a + kGolden * (b - a), w = x, v = x;
  double fx = f(x), fw = fx, fv = fx;
  ++calls;
  double step = 0, last = 0;
  for (int iteration = 0; iteration < 200; ++iteration) {
    const double middle = 0.5 * (a + b);
    const double tol1 = tol + 1e-12 * std::abs(x), tol2 = 2 * tol1;
    if (std::abs(x - middle) <= tol2 - 0.5 * (b - a)) break;
    bool golden = true;
    if (std::abs(last) > tol1) {
      // a parabola through x, w, v
      double r = (x - w) * (fx - fv), q = (x - v) * (fx - fw), p = (x - v) * q - (x - w) * r;
      q = 2 * (q - r);
      if (q > 0) p = -p;
      q = std::abs(q);
      if (std::abs(p) < std::abs(0.5 * q * last) && p > q * (a - x) && p < q * (b - x)) {
        last = step;
        step = p / q;
        const double u = x + step;
        if (u - a < tol2 || b - u < tol2) step = x < middle ? tol1 : -tol1;
        golden = false;
      }
    }
    if (golden) {
      last = x < middle ? b - x : a - x;
      step = kGolden * last;
    }
    const double u = std::abs(step) >= tol1 ? x + step : x + (step > 0 ? tol1 : -tol1);
    const double fu = f(u);
    ++calls;
    if (fu <= fx) {
      (u < x ? b : a) = x;
      v = w, fv = fw, w = x, fw = fx, x = u, fx = fu;
    } else {
      (u < x ? a : b) = u;
      if (fu <= fw || w == x) {
        v = w, fv = fw, w = u, fw = fu;
      } else if (fu <= fv || v == x || v == w) {
        v = u, fv = fu;
      }
    }
  }
  return x;
}

CvMethod parse_cv_method(std::string_view name) {
  if (name == "loglik") return CvMethod::loglik;
  if (name == "lsq") return CvMethod::lsq;
  throw UsageError("kde::CvMethod must be loglik or lsq, not '" + std::string(name) + "'");
}

std::string_view to_string(CvMethod method) noexcept {
  return method == CvMethod::loglik ? "loglik" : "lsq";
}

std::vector<std::int64_t> CvTotals::wire() const {
  std::vector<std::int64_t> out(counts_);
  for (const auto& sum : exact_) {
    const auto w = sum.to_wire();
    out.insert(out.end(), w.begin(), w.end());
  }
  for (auto sum : binned_) {
    sum.align_to(top_);
    const auto w = sum.to_wire();
    out.insert(out.end(), w.begin(), w.end());
  }
  return out;
}

CvProblem::CvProblem(Kernel kernel, CvMethod method, std::span<const double> widths,
                     std::uint64_t n, const Samples& queries, std::uint64_t first_query)
    : kernel_(kernel),
      method_(method),
      n_(n),
      queries_(queries),
      first_query_(first_query),
      widths_(widths.begin(), widths.end()),
      sorted_widths_(widths) {
  if (n < 2) throw UsageError("cross-validation needs at least 2 samples");
  if (widths.empty()) throw UsageError("cross-validation needs at least one width");
  if (method == CvMethod::lsq && kernel == Kernel::epanechnikov) {
    throw UsageError(
        "kde::CvMethod lsq supports the hypercube and gaussian kernels, not epanechnikov");
  }
  if (!queries.allFinite()) throw InputError("the samples hold a NaN or infinite value");
  const std::size_t m = widths_.size();
  const auto q = static_cast<std::size_t>(queries.rows());
  const auto nd = static_cast<double>(n);
  if (kernel == Kernel::hypercube) {
    if (method == CvMethod::loglik) hist_.assign(q * (m + 1), 0);
    // A pair's overlap starts at the first width h with c < h, i.e. c <= the double below h.
    std::vector<double> below(m);
    for (std::size_t j = 0; j < m; ++j) below[j] = std::nextafter(sorted_widths_.sorted()[j], 0.0);
    overlap_start_ = Buckets(std::move(below));
    // lsq: a pair adds e_k(|dx|) <= (d * reach)^k to each of n^2 sums.
    const double reach =
        std::max(1.0, static_cast<double>(queries.cols()) * sorted_widths_.sorted().back());
    top_ =
        numeric::BinnedSum::top_of(nd * nd * std::pow(reach, static_cast<double>(queries.cols())));
  } else if (method == CvMethod::loglik) {
    loo_.resize(q * m);
  } else {
    top_ = numeric::BinnedSum::top_of(nd * nd);  // a kernel term is at most 1
  }
}

std::uint64_t CvProblem::query_bytes(Kernel kernel, CvMethod method, std::size_t widths,
                                     bool weighted) noexcept {
  if (method == CvMethod::lsq) return 0;
  return kernel == Kernel::hypercube && !weighted ? 8 * (widths + 1)
                                                  : (sizeof(numeric::BinnedSum) + 8) * widths + 8;
}

void CvProblem::weigh(const CvWeights& weights) {
  if (weights.queries.size() != queries())
    throw InternalError("CvProblem::weigh: one weight a query");
  if (!(weights.mass > 1)) {
    throw InputError(
        "weighted cross-validation needs positive weights on at least two samples (a sample's "
        "leave-one-out density needs the others)");
  }
  weights_ = weights;
  const std::size_t m = widths_.size();
  if (kernel_ == Kernel::hypercube && method_ == CvMethod::loglik) {
    hist_.clear();  // sums of weights through the chunk sums, as for the smooth kernels
    loo_.resize(queries() * m);
  }
  if (method_ == CvMethod::lsq) {
    // a term is at most 1 (wide sums, overlaps: their bound as before) or, in a leave-one-out
    // sum, w_i / (mass - w_i) <= 1 / (mass - 1) times that
    const double factor = std::max(1.0, 1.0 / (weights.mass - 1));
    if (kernel_ == Kernel::hypercube) {
      const double reach =
          std::max(1.0, static_cast<double>(queries_.cols()) * sorted_widths_.sorted().back());
      const auto nd = static_cast<double>(n_);
      top_ = numeric::BinnedSum::top_of(nd * nd * factor *
                                        std::pow(reach, static_cast<double>(queries_.cols())));
    } else {
      const auto nd = static_cast<double>(n_);
      top_ = numeric::BinnedSum::top_of(nd * nd * factor);
    }
  }
}

void CvProblem::prune(std::span<const double> nearest, const ErrorBound& bound) {
  if (kernel_ == Kernel::hypercube || method_ != CvMethod::loglik)
    throw InternalError("CvProblem::prune: smooth kernels' loglik only");
  if (nearest.size() != queries()) throw InternalError("CvProblem::prune: one distance a query");
  bound.check();
  const std::size_t m = widths_.size();
  const int d = static_cast<int>(queries_.cols());
  pruned_ = true;
  shift_.assign(nearest.size(), 0.0);
  reach2_.assign(nearest.size() * m, std::numeric_limits<double>::infinity());
  if (kernel_ != Kernel::gaussian) return;  // the support decides
  for (std::size_t q = 0; q < nearest.size(); ++q) {
    shift_[q] = std::isfinite(nearest[q]) ? nearest[q] : 0.0;
    for (std::size_t j = 0; j < m; ++j) {
      // n - 1 terms in a leave-one-out sum (weighted: at most the total weight, and the
      // nearest other sample's term at least the smallest weight)
      reach2_[q * m + j] =
          weights_
              ? gaussian_reach2(nearest[q], widths_[j], d, weights_->mass - weights_->queries[q],
                                bound, weights_->smallest)
              : gaussian_reach2(nearest[q], widths_[j], d, static_cast<double>(n_ - 1), bound);
    }
  }
}

CvProblem::Visit CvProblem::visit(const SampleBlock& block) const {
  Visit visit{block, std::nullopt, std::nullopt};
  if (pruned_) {
    visit.boxes.emplace(block.values, block.rows, static_cast<int>(queries_.cols()),
                        chunk_rows(n_));
  }
  if (kernel_ == Kernel::hypercube && !smooth_path()) {
    const Eigen::Map<const Samples> rows(block.values, static_cast<Eigen::Index>(block.rows),
                                         queries_.cols());
    visit.sorted.emplace(rows);
  }
  return visit;
}

CvTotals CvProblem::new_totals() const {
  const std::size_t m = widths_.size();
  const auto terms = static_cast<std::size_t>(queries_.cols()) + 1;
  CvTotals totals;
  totals.top_ = top_;
  if (method_ == CvMethod::loglik) {
    totals.counts_.assign(m, 0);  // lonely samples (weighted: of positive weight)
    totals.exact_.resize(m);      // sum of logs
  } else if (kernel_ == Kernel::hypercube) {
    totals.counts_.assign(m + 1, 0);  // pairs per bucket
    // e_k sums per bucket; weighted, then the pairs' leave-one-out weights per bucket
    totals.binned_.resize((m + 1) * (weights_ ? terms + 1 : terms));
  } else {
    totals.binned_.resize(2 * m);  // sums at sqrt(2) h, then at h
  }
  return totals;
}

void CvProblem::add(const Visit& visit, IndexRange queries, CvTotals& totals) {
  if (smooth_path()) return add_smooth(visit, queries, totals);
  if (method_ == CvMethod::loglik) return add_hypercube_loglik(visit, queries);
  add_hypercube_lsq(visit, queries, totals);
}

// The histogram of each query's neighbours among the sorted widths; the query itself (at
// distance 0, bucket 0) is taken out when the block holds it.
void CvProblem::add_hypercube_loglik(const Visit& visit, IndexRange queries) {
  const std::size_t m = widths_.size();
  const auto d = static_cast<std::size_t>(queries_.cols());
  const SampleBlock& block = visit.block;
  for (std::uint64_t q = queries.begin; q < queries.end; ++q) {
    const std::span<std::uint64_t> histogram(hist_.data() + q * (m + 1), m + 1);
    const double* x = queries_.data() + q * d;
    hypercube_histogram(*visit.sorted, sorted_widths_, {x, d}, histogram);
    const std::uint64_t row = first_query_ + q;
    if (row >= block.first && row < block.first + block.rows) --histogram[0];
  }
}

// Pairs per bucket (integers) and, per bucket where the pair's overlap starts, the sums of
// e_k(|dx|), the elementary symmetric polynomials, so that prefix sums over the sorted widths
// give every width's overlap volume sum_k (-1)^k h^(d-k) e_k (see finish).
void CvProblem::add_hypercube_lsq(const Visit& visit, IndexRange queries, CvTotals& totals) const {
  const std::size_t m = widths_.size();
  const int d = static_cast<int>(queries_.cols());
  const auto terms = static_cast<std::size_t>(d) + 1;
  const auto sorted = sorted_widths_.sorted();
  const SortedSamples& samples = *visit.sorted;
  const double reach = sorted.back();
  const double count_reach = sorted_widths_.max_limit();
  std::vector<double> e(terms), a(static_cast<std::size_t>(d));
  // Weighted: a pair adds w_q w_s to the overlaps' sums and w_q w_s / (mass - w_q) to its
  // bucket's leave-one-out sum (after the e_k sums), instead of 1 to its count.
  const std::size_t loo_at = (m + 1) * terms;
  for (std::uint64_t q = queries.begin; q < queries.end; ++q) {
    const double* x = queries_.data() + q * static_cast<std::uint64_t>(d);
    const std::uint64_t row = first_query_ + q;
    const double own = weights_ ? weights_->queries[q] : 1.0;
    if (own == 0) continue;
    const double loo = weights_ ? own / (weights_->mass - own) : 1.0;
    const auto [first, last] = samples.window(x[samples.key()], reach);
    for (Eigen::Index i = first; i < last; ++i) {
      const auto original = static_cast<std::uint64_t>(samples.original(i));
      if (visit.block.first + original == row) continue;
      const double other = weights_ ? visit.block.weights[original] : 1.0;
      const double* y = samples.row(i);
      double c = 0;
      for (int t = 0; t < d; ++t) {
        a[static_cast<std::size_t>(t)] = std::abs(x[t] - y[t]);
        c = std::max(c, a[static_cast<std::size_t>(t)]);
      }
      if (c <= count_reach) {
        if (weights_) {
          totals.binned_[loo_at + sorted_widths_.bucket(c)].add(loo * other);
        } else {
          ++totals.counts_[sorted_widths_.bucket(c)];
        }
      }
      const std::size_t b = overlap_start_.bucket(c);
      if (b == m) continue;
      std::fill(e.begin(), e.end(), 0.0);
      e[0] = 1;
      for (int t = 0; t < d; ++t) {
        for (int k = t + 1; k >= 1; --k) {
          e[static_cast<std::size_t>(k)] +=
              e[static_cast<std::size_t>(k - 1)] * a[static_cast<std::size_t>(t)];
        }
      }
      const double pair = own * other;  // 1 without weights
      for (std::size_t k = 0; k < terms; ++k)
        totals.binned_[b * terms + k].add(weights_ ? pair * e[k] : e[k]);
    }
  }
}

// Smooth kernels: per query, each chunk of the block summed in its fixed order (the query's own
// row adds nothing), the chunk sums added into order-independent accumulators.
void CvProblem::add_smooth(const Visit& visit, IndexRange queries, CvTotals& totals) {
  const std::size_t m = widths_.size();
  const int d = static_cast<int>(queries_.cols());
  const auto dd = static_cast<std::uint64_t>(d);
  const SampleBlock& block = visit.block;
  const std::uint64_t chunk = chunk_rows(n_);
  if (pruned_) {
    std::vector<double> out(m);
    PrunedSums sums(kernel_, widths_);
    for (std::uint64_t q = queries.begin; q < queries.end; ++q) {
      const std::uint64_t row = first_query_ + q;
      const std::uint64_t self = row - block.first < block.rows ? row - block.first : UINT64_MAX;
      for (std::uint64_t c = 0; c < visit.boxes->chunks(); ++c) {
        sums(*visit.boxes, c, queries_.data() + q * dd, shift_[q], &reach2_[q * m], out.data(),
             self, block.weights);
        for (std::size_t j = 0; j < m; ++j) loo_[q * m + j].add(out[j]);
      }
    }
    return;
  }
  std::vector<double> wide(m), out(m), out_wide(m);
  for (std::size_t j = 0; j < m; ++j) wide[j] = std::numbers::sqrt2 * widths_[j];
  ChunkSums sums(kernel_, widths_);
  std::optional<ChunkSums> wide_sums;
  if (method_ == CvMethod::lsq) wide_sums.emplace(kernel_, wide);
  for (std::uint64_t q = queries.begin; q < queries.end; ++q) {
    const double* x = queries_.data() + q * dd;
    const std::uint64_t row = first_query_ + q;
    for (std::uint64_t c = 0; c < block.rows; c += chunk) {
      const std::uint64_t count = std::min(chunk, block.rows - c);
      const std::uint64_t self = row >= block.first + c && row < block.first + c + count
                                     ? row - block.first - c
                                     : SIZE_MAX;
      const double* rows = block.values + c * dd;
      const double* w = weights_ ? block.weights + c : nullptr;
      sums(rows, count, d, x, out.data(), self, w);
      if (method_ == CvMethod::loglik) {
        for (std::size_t j = 0; j < m; ++j) loo_[q * m + j].add(out[j]);
      } else {
        (*wide_sums)(rows, count, d, x, out_wide.data(), self, w);
        // weighted: w_q times the wide sums, w_q / (mass - w_q) times the leave-one-out sums
        const double own = weights_ ? weights_->queries[q] : 1.0;
        const double loo = weights_ ? own / (weights_->mass - own) : 1.0;
        for (std::size_t j = 0; j < m; ++j) {
          totals.binned_[j].add(weights_ ? own * out_wide[j] : out_wide[j]);
          totals.binned_[m + j].add(weights_ ? loo * out[j] : out[j]);
        }
      }
    }
  }
}

void CvProblem::close(IndexRange queries, CvTotals& totals) const {
  if (method_ != CvMethod::loglik) return;
  const std::size_t m = widths_.size();
  for (std::uint64_t q = queries.begin; q < queries.end; ++q) {
    if (kernel_ == Kernel::hypercube && !weights_) {
      std::uint64_t count = 0;  // in sorted width order
      for (std::size_t j = 0; j < m; ++j) {
        count += hist_[q * (m + 1) + j];
        if (count == 0) {
          ++totals.counts_[j];
        } else {
          totals.exact_[j].add(std::log(static_cast<double>(count)));
        }
      }
    } else {
      // weighted: w_q (log S - log(mass - w_q)); a sample of weight 0 adds nothing
      const double own = weights_ ? weights_->queries[q] : 1.0;
      if (own == 0) continue;
      const double others = weights_ ? std::log(weights_->mass - own) : 0.0;
      for (std::size_t j = 0; j < m; ++j) {
        const double sum = loo_[q * m + j].value();
        if (sum > 0) {
          // pruned Gaussian sums are relative to e^(-shift / (2 h^2))
          const double h = widths_[j];
          const double log_sum = shift_.empty() || shift_[q] == 0
                                     ? std::log(sum)
                                     : std::log(sum) - shift_[q] / (2 * h * h);
          totals.exact_[j].add(weights_ ? own * (log_sum - others) : log_sum);
        } else {
          ++totals.counts_[j];
        }
      }
    }
  }
}

/// The elementwise sum of every thread's and rank's CvTotals::wire(), read back by total: the
/// counts (lonely samples or pairs per width) lead, the exact sums follow, then the binned sums.
struct CvProblem::SummedTotals {
  std::span<const std::int64_t> wire;
  std::size_t counts = 0;  // how many counts lead the wire
  std::size_t exacts = 0;  // how many exact sums follow them
  int top = numeric::BinnedSum::kEmpty;

  /// Exact sum k, correctly rounded.
  double exact(std::size_t k) const {
    numeric::ExactAccumulator::Wire w;
    std::copy_n(wire.begin() + static_cast<long>(counts + k * w.size()), w.size(), w.begin());
    return numeric::ExactAccumulator::from_wire(w).round();
  }
  /// Binned sum k.
  double fixed(std::size_t k) const {
    numeric::BinnedSum::Wire w;
    const std::size_t at = counts + exacts * numeric::ExactAccumulator::kWireSize;
    std::copy_n(wire.begin() + static_cast<long>(at + k * w.size()), w.size(), w.begin());
    return numeric::BinnedSum::from_wire(w, top).value();
  }
};

CvCurve CvProblem::finish(std::span<const std::int64_t> wire) const {
  const CvTotals shape = new_totals();
  if (wire.size() != shape.wire().size()) throw InternalError("CvProblem::finish: totals size");
  const SummedTotals sums{wire, shape.counts_.size(), shape.exact_.size(), top_};
  CvCurve curve;
  curve.method = method_;
  curve.widths = widths_;
  curve.score.assign(widths_.size(), 0.0);
  const bool hypercube_lsq = kernel_ == Kernel::hypercube && method_ == CvMethod::lsq;
  if (weights_ && !hypercube_lsq) {
    score_weighted(sums, curve);
  } else if (kernel_ == Kernel::hypercube && method_ == CvMethod::loglik) {
    score_hypercube_loglik(sums, curve);
  } else if (kernel_ == Kernel::hypercube) {
    score_hypercube_lsq(sums, curve);
  } else {
    score_smooth(sums, curve);
  }
  curve.best = choose_best(curve);
  return curve;
}

void CvProblem::score_weighted(const SummedTotals& sums, CvCurve& curve) const {
  const std::size_t m = widths_.size();
  const int d = static_cast<int>(queries_.cols());
  const double mass = weights_->mass;
  for (std::size_t j = 0; j < m; ++j) {
    const double h = widths_[j];
    if (method_ == CvMethod::loglik) {
      curve.score[j] =
          sums.wire[j] > 0 ? kMinusInfinity : sums.exact(j) / mass + log_kernel_norm(kernel_, h, d);
    } else {
      const double integral = kernel_norm(Kernel::gaussian, std::numbers::sqrt2 * h, d) *
                              (weights_->squares + sums.fixed(j)) / (mass * mass);
      curve.score_bound.resize(m);
      curve.score[j] = gaussian_lsq_score(
          integral, kernel_norm(Kernel::gaussian, h, d) * sums.fixed(m + j) / mass,
          curve.score_bound[j]);
    }
  }
  if (kernel_ == Kernel::hypercube)
    curve.lonely.assign(sums.wire.begin(), sums.wire.begin() + static_cast<std::ptrdiff_t>(m));
}

void CvProblem::score_hypercube_loglik(const SummedTotals& sums, CvCurve& curve) const {
  const std::size_t m = widths_.size();
  const auto n = static_cast<double>(n_);
  const int d = static_cast<int>(queries_.cols());
  const auto order = sorted_widths_.order();
  const auto sorted = sorted_widths_.sorted();
  curve.lonely.assign(m, 0);
  for (std::size_t j = 0; j < m; ++j) {
    const auto lonely = static_cast<std::uint64_t>(sums.wire[j]);
    curve.lonely[order[j]] = lonely;
    curve.score[order[j]] = lonely > 0 ? kMinusInfinity
                                       : sums.exact(j) / n - std::log(n - 1) +
                                             log_kernel_norm(Kernel::hypercube, sorted[j], d);
  }
}

void CvProblem::score_hypercube_lsq(const SummedTotals& sums, CvCurve& curve) const {
  const std::size_t m = widths_.size();
  const auto n = static_cast<double>(n_);
  const int d = static_cast<int>(queries_.cols());
  const auto terms = static_cast<std::size_t>(d) + 1;
  const auto order = sorted_widths_.order();
  const auto sorted = sorted_widths_.sorted();
  std::vector<double> e(terms, 0.0);
  std::uint64_t pairs = 0;
  double weighted_pairs = 0;  // sum over pairs of w_q w_s / (mass - w_q), within the window
  for (std::size_t j = 0; j < m; ++j) {
    pairs += static_cast<std::uint64_t>(sums.wire[j]);
    if (weights_) weighted_pairs += sums.fixed((m + 1) * terms + j);
    for (std::size_t k = 0; k < terms; ++k) e[k] += sums.fixed(j * terms + k);
    const double h = sorted[j];
    double overlap = 0;  // sum_k (-1)^k h^(d-k) e_k by Horner's rule in h
    for (std::size_t k = 0; k < terms; ++k) {
      overlap = overlap * h + ((k % 2 == 0) ? e[k] : -e[k]);
    }
    overlap = std::max(overlap, 0.0);
    if (weights_) {
      // integral(f^2) = (sum w^2 h^d + overlap) / (mass^2 h^2d); the leave-one-out term
      // 2 sum_q w_q f_-q(x_q) / mass = 2 weighted_pairs / (mass h^d)
      const double hd = std::pow(h, d), mass = weights_->mass;
      curve.score[order[j]] = (weights_->squares * hd + overlap) / (mass * mass * hd * hd) -
                              2.0 * weighted_pairs / (mass * hd);
    } else {
      curve.score[order[j]] = hypercube_lsq_score(n, d, h, overlap, static_cast<double>(pairs));
    }
  }
}

void CvProblem::score_smooth(const SummedTotals& sums, CvCurve& curve) const {
  const std::size_t m = widths_.size();
  const auto n = static_cast<double>(n_);
  const int d = static_cast<int>(queries_.cols());
  for (std::size_t j = 0; j < m; ++j) {
    const double h = widths_[j];
    if (method_ == CvMethod::loglik) {
      curve.score[j] =
          sums.wire[j] > 0 ? kMinusInfinity : smooth_loglik_score(kernel_, n, d, h, sums.exact(j));
    } else {
      curve.score_bound.resize(m);
      curve.score[j] =
          gaussian_lsq_score(n, d, h, sums.fixed(j), sums.fixed(m + j), curve.score_bound[j]);
    }
  }
}

std::optional<std::size_t> choose_width(const CvCurve& curve) {
  return choose_best(curve);
}

CvCurve cv_curve(Kernel kernel, CvMethod method, const Samples& samples,
                 std::span<const double> widths, int blocks) {
  const auto n = static_cast<std::uint64_t>(samples.rows());
  const auto d = static_cast<std::uint64_t>(samples.cols());
  const std::uint64_t chunk = chunk_rows(n);
  const std::uint64_t chunks = (n + chunk - 1) / chunk;
  std::vector<std::int64_t> sum;
  // Each block plays a rank: its rows are the queries of a problem that visits every block,
  // starting with its own.
  const auto parts = static_cast<std::uint64_t>(std::max(blocks, 1));
  auto rows_of = [&](std::uint64_t b) {
    const IndexRange r = block_range(chunks, parts, b);
    return IndexRange{std::min(n, r.begin * chunk), std::min(n, r.end * chunk)};
  };
  for (std::uint64_t b = 0; b < parts; ++b) {
    const IndexRange mine = rows_of(b);
    const Samples queries = samples.middleRows(static_cast<Eigen::Index>(mine.begin),
                                               static_cast<Eigen::Index>(mine.size()));
    CvProblem problem(kernel, method, widths, n, queries, mine.begin);
    CvTotals totals = problem.new_totals();
    for (std::uint64_t s = 0; s < parts; ++s) {
      const IndexRange other = rows_of((b + parts - s) % parts);
      const SampleBlock block{samples.data() + other.begin * d, other.size(), other.begin};
      problem.add(problem.visit(block), {0, mine.size()}, totals);
    }
    problem.close({0, mine.size()}, totals);
    const auto w = totals.wire();
    if (sum.empty()) sum.assign(w.size(), 0);
    for (std::size_t k = 0; k < w.size(); ++k) sum[k] += w[k];
  }
  return CvProblem(kernel, method, widths, n, samples, 0).finish(sum);
}

CvCurve cv_curve_naive(Kernel kernel, CvMethod method, const Samples& samples,
                       std::span<const double> widths) {
  const CvProblem problem(kernel, method, widths, static_cast<std::uint64_t>(samples.rows()),
                          samples,
                          0);  // validates
  const Eigen::Index rows = samples.rows();
  const auto n = static_cast<double>(rows);
  const int d = static_cast<int>(samples.cols());
  CvCurve curve;
  curve.method = method;
  curve.widths.assign(widths.begin(), widths.end());
  for (const double h : widths) {
    double sum = 0, wide = 0, direct = 0, overlap = 0;
    std::uint64_t lonely = 0, pairs = 0;
    for (Eigen::Index i = 0; i < rows; ++i) {
      double s = 0;
      std::uint64_t k = 0;
      for (Eigen::Index j = 0; j < rows; ++j) {
        if (j == i) continue;
        const Eigen::RowVectorXd diff = samples.row(i) - samples.row(j);
        if (kernel == Kernel::hypercube) {
          bool in = true;
          double volume = 1;
          for (int t = 0; t < d; ++t) {
            const double a = std::abs(diff(t));
            in = in && a / h <= 0.5;
            volume *= std::max(0.0, h - a);
          }
          k += in ? 1 : 0;
          overlap += volume;
        } else {
          const double r2 = diff.squaredNorm();
          if (kernel == Kernel::gaussian) {
            s += std::exp(-r2 / (2 * h * h));
            wide += std::exp(-r2 / (4 * h * h));
          } else {
            s += std::max(0.0, 1 - r2 / (h * h));
          }
        }
      }
      if (kernel == Kernel::hypercube) {
        pairs += k;
        if (k == 0) ++lonely;
        if (k > 0) sum += std::log(static_cast<double>(k));
      } else {
        if (!(s > 0)) ++lonely;
        if (s > 0) sum += std::log(s);
        direct += s;
      }
    }
    double score = 0;
    if (kernel == Kernel::hypercube) {
      if (method == CvMethod::loglik) {
        curve.lonely.push_back(lonely);
        score = lonely > 0 ? kMinusInfinity
                           : sum / n - std::log(n - 1) + log_kernel_norm(Kernel::hypercube, h, d);
      } else {
        score = hypercube_lsq_score(n, d, h, overlap, static_cast<double>(pairs));
      }
    } else if (method == CvMethod::loglik) {
      score = lonely > 0 ? kMinusInfinity : smooth_loglik_score(kernel, n, d, h, sum);
    } else {
      curve.score_bound.push_back(0);
      score = gaussian_lsq_score(n, d, h, wide, direct, curve.score_bound.back());
    }
    curve.score.push_back(score);
  }
  curve.best = choose_best(curve);
  return curve;
}

std::vector<std::uint64_t> hypercube_loo_counts_naive(const Samples& samples,
                                                      std::span<const Eigen::Index> queries,
                                                      std::span<const double> widths) {
  std::vector<std::uint64_t> out;
  out.reserve(queries.size() * widths.size());
  for (const Eigen::Index q : queries) {
    const auto counts = hypercube_counts_naive(samples, row_of(samples, q), widths);
    for (const auto k : counts) out.push_back(k - 1);  // the query itself is always inside
  }
  return out;
}

}  // namespace parakit::kde
