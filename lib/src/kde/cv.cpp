#include "parakit/kde/cv.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <string>

#include "parakit/core/error.hpp"

namespace parakit::kde {
namespace {

constexpr double kMinusInfinity = -std::numeric_limits<double>::infinity();

std::span<const double> row_of(const Samples& samples, Eigen::Index i) {
  return {samples.data() + i * samples.cols(), static_cast<std::size_t>(samples.cols())};
}

/// Kernel sums at x_i over every other sample.
std::vector<double> loo_sums(Kernel kernel, const Samples& samples, Eigen::Index i,
                             std::span<const double> widths) {
  auto sums = smooth_kernel_sums(kernel, samples, row_of(samples, i), widths, 0, i);
  const auto after = smooth_kernel_sums(kernel, samples, row_of(samples, i), widths, i + 1, -1);
  for (std::size_t j = 0; j < sums.size(); ++j) sums[j] += after[j];
  return sums;
}

/// Picks the best finite score, the smallest width on ties.
std::optional<std::size_t> choose(const CvCurve& curve) {
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

double gaussian_lsq_score(double n, int d, double h, double wide_sum, double sum) {
  const double integral =
      kernel_norm(Kernel::gaussian, std::numbers::sqrt2 * h, d) * (n + wide_sum) / (n * n);
  const double loo = kernel_norm(Kernel::gaussian, h, d) * sum / (n * (n - 1));
  return integral - 2.0 * loo;
}

/// The pair loop of the hypercube lsq score for D coordinates (0: known at run time only).
/// out: [pair histogram (m + 1)][(m + 1) x (d + 1) sums of e_k], see CvProblem::hypercube_lsq.
template <int D>
void lsq_pairs(const SortedSamples& samples, const HypercubeWidths& widths,
               const Buckets& overlap_start, IndexRange queries, std::vector<double>& out) {
  const int d = D > 0 ? D : samples.dim();
  const std::size_t m = widths.size();
  const auto terms = static_cast<std::size_t>(d) + 1;
  const double reach = widths.sorted().back();
  const double count_reach = widths.max_limit();
  std::vector<double> local((m + 1) * terms);  // one query's sums, added to out at the end
  std::vector<double> e(terms), a(static_cast<std::size_t>(d));
  for (auto q = static_cast<Eigen::Index>(queries.begin);
       q < static_cast<Eigen::Index>(queries.end); ++q) {
    std::fill(local.begin(), local.end(), 0.0);
    const double* x = samples.row(q);
    const auto [first, last] = samples.window(x[samples.key()], reach);
    for (Eigen::Index i = first; i < last; ++i) {
      if (i == q) continue;
      const double* y = samples.row(i);
      double c = 0;
      for (int t = 0; t < d; ++t) {
        a[static_cast<std::size_t>(t)] = std::abs(x[t] - y[t]);
        c = std::max(c, a[static_cast<std::size_t>(t)]);
      }
      if (c <= count_reach) out[widths.bucket(c)] += 1;
      const std::size_t b = overlap_start.bucket(c);
      if (b == m) continue;
      // e_k(a), the elementary symmetric polynomials, by the usual recurrence.
      double* sums = local.data() + b * terms;
      if constexpr (D == 1) {
        sums[0] += 1;
        sums[1] += a[0];
      } else if constexpr (D == 2) {
        sums[0] += 1;
        sums[1] += a[0] + a[1];
        sums[2] += a[0] * a[1];
      } else {
        std::fill(e.begin(), e.end(), 0.0);
        e[0] = 1;
        for (int t = 0; t < d; ++t) {
          for (int k = t + 1; k >= 1; --k) {
            e[static_cast<std::size_t>(k)] +=
                e[static_cast<std::size_t>(k - 1)] * a[static_cast<std::size_t>(t)];
          }
        }
        for (std::size_t k = 0; k < terms; ++k) sums[k] += e[k];
      }
    }
    for (std::size_t k = 0; k < local.size(); ++k) out[m + 1 + k] += local[k];
  }
}

}  // namespace

CvMethod parse_cv_method(std::string_view name) {
  if (name == "loglik") return CvMethod::loglik;
  if (name == "lsq") return CvMethod::lsq;
  throw UsageError("kde::CvMethod must be loglik or lsq, not '" + std::string(name) + "'");
}

std::string_view to_string(CvMethod method) noexcept {
  return method == CvMethod::loglik ? "loglik" : "lsq";
}

CvProblem::CvProblem(Kernel kernel, CvMethod method, const Samples& samples,
                     std::span<const double> widths)
    : kernel_(kernel),
      method_(method),
      samples_(samples),
      widths_(widths.begin(), widths.end()),
      sorted_widths_(widths) {
  if (samples.rows() < 2) throw UsageError("cross-validation needs at least 2 samples");
  if (widths.empty()) throw UsageError("cross-validation needs at least one width");
  if (method == CvMethod::lsq && kernel == Kernel::epanechnikov) {
    throw UsageError(
        "kde::CvMethod lsq supports the hypercube and gaussian kernels, not epanechnikov");
  }
  if (!samples.allFinite()) throw InputError("the samples hold a NaN or infinite value");
  if (kernel == Kernel::hypercube) sorted_samples_.emplace(samples);
}

std::vector<double> CvProblem::partial(IndexRange queries) const {
  if (kernel_ != Kernel::hypercube) return smooth(queries);
  return method_ == CvMethod::loglik ? hypercube_loglik(queries) : hypercube_lsq(queries);
}

// Layout: [lonely per sorted width (m)][sum of log(count) per sorted width (m)].
std::vector<double> CvProblem::hypercube_loglik(IndexRange queries) const {
  const std::size_t m = sorted_widths_.size();
  const SortedSamples& samples = *sorted_samples_;
  std::vector<double> out(2 * m, 0.0);
  std::vector<std::uint64_t> histogram(m + 1);
  const auto d = static_cast<std::size_t>(samples.dim());
  for (auto q = static_cast<Eigen::Index>(queries.begin);
       q < static_cast<Eigen::Index>(queries.end); ++q) {
    std::fill(histogram.begin(), histogram.end(), 0);
    hypercube_histogram(samples, sorted_widths_, {samples.row(q), d}, histogram, q);
    std::uint64_t count = 0;
    for (std::size_t j = 0; j < m; ++j) {
      count += histogram[j];
      if (count == 0) {
        out[j] += 1;
      } else {
        out[m + j] += std::log(static_cast<double>(count));
      }
    }
  }
  return out;
}

// Layout: [pair histogram per sorted width bucket (m + 1)]
//         [(m + 1) x (d + 1): sums of e_k(|dx|) of the pairs whose overlap starts at width j].
// A pair's overlap prod_t (h - a_t) is positive for h > c = max_t a_t and expands to
// sum_k (-1)^k h^(d-k) e_k(a), so bucketing e_k by the first width above c and taking prefix
// sums gives the overlap at every width.
std::vector<double> CvProblem::hypercube_lsq(IndexRange queries) const {
  const std::size_t m = sorted_widths_.size();
  const SortedSamples& samples = *sorted_samples_;
  const int d = samples.dim();
  const std::size_t terms = static_cast<std::size_t>(d) + 1;
  const auto widths = sorted_widths_.sorted();

  // overlap_start.bucket(c): the first width h with c < h, i.e. c <= the double below h.
  std::vector<double> below(m);
  for (std::size_t j = 0; j < m; ++j) below[j] = std::nextafter(widths[j], 0.0);
  const Buckets overlap_start(std::move(below));

  std::vector<double> out((m + 1) + (m + 1) * terms, 0.0);
  switch (d) {
    case 1:
      lsq_pairs<1>(samples, sorted_widths_, overlap_start, queries, out);
      break;
    case 2:
      lsq_pairs<2>(samples, sorted_widths_, overlap_start, queries, out);
      break;
    case 3:
      lsq_pairs<3>(samples, sorted_widths_, overlap_start, queries, out);
      break;
    default:
      lsq_pairs<0>(samples, sorted_widths_, overlap_start, queries, out);
  }
  return out;
}

// Layout, loglik: [lonely (m)][sum of log S (m)]; lsq (gaussian): [sum of S at sqrt(2) h (m)]
// [sum of S (m)], where S is the unnormalised kernel sum over the other samples.
std::vector<double> CvProblem::smooth(IndexRange queries) const {
  const std::size_t m = widths_.size();
  std::vector<double> out(2 * m, 0.0);
  std::vector<double> wide(m);
  for (std::size_t j = 0; j < m; ++j) wide[j] = std::numbers::sqrt2 * widths_[j];
  for (auto q = static_cast<Eigen::Index>(queries.begin);
       q < static_cast<Eigen::Index>(queries.end); ++q) {
    const auto sums = loo_sums(kernel_, samples_, q, widths_);
    if (method_ == CvMethod::loglik) {
      for (std::size_t j = 0; j < m; ++j) {
        if (sums[j] > 0) {
          out[m + j] += std::log(sums[j]);
        } else {
          out[j] += 1;
        }
      }
    } else {
      const auto wide_sums = loo_sums(kernel_, samples_, q, wide);
      for (std::size_t j = 0; j < m; ++j) {
        out[j] += wide_sums[j];
        out[m + j] += sums[j];
      }
    }
  }
  return out;
}

CvCurve CvProblem::finish(const std::vector<std::vector<double>>& partials) const {
  const std::size_t m = widths_.size();
  const auto n = static_cast<double>(samples_.rows());
  const int d = static_cast<int>(samples_.cols());
  if (partials.empty()) throw InternalError("CvProblem::finish: no partials");
  std::vector<double> total(partials.front().size(), 0.0);
  for (const auto& part : partials) {
    if (part.size() != total.size()) throw InternalError("CvProblem::finish: partial sizes");
    for (std::size_t k = 0; k < total.size(); ++k) total[k] += part[k];
  }
  CvCurve curve;
  curve.method = method_;
  curve.widths = widths_;
  curve.score.assign(m, 0.0);
  const auto order = sorted_widths_.order();
  const auto sorted = sorted_widths_.sorted();

  if (kernel_ == Kernel::hypercube && method_ == CvMethod::loglik) {
    curve.lonely.assign(m, 0);
    for (std::size_t j = 0; j < m; ++j) {
      const auto lonely = static_cast<std::uint64_t>(total[j]);
      curve.lonely[order[j]] = lonely;
      curve.score[order[j]] = lonely > 0 ? kMinusInfinity
                                         : total[m + j] / n - std::log(n - 1) +
                                               log_kernel_norm(Kernel::hypercube, sorted[j], d);
    }
  } else if (kernel_ == Kernel::hypercube) {
    const std::size_t terms = static_cast<std::size_t>(d) + 1;
    std::vector<double> e(terms, 0.0);
    std::uint64_t pairs = 0;
    for (std::size_t j = 0; j < m; ++j) {
      pairs += static_cast<std::uint64_t>(total[j]);
      for (std::size_t k = 0; k < terms; ++k) e[k] += total[m + 1 + j * terms + k];
      const double h = sorted[j];
      double overlap = 0;  // sum_k (-1)^k h^(d-k) e_k by Horner's rule in h
      for (std::size_t k = 0; k < terms; ++k) {
        overlap = overlap * h + ((k % 2 == 0) ? e[k] : -e[k]);
      }
      curve.score[order[j]] =
          hypercube_lsq_score(n, d, h, std::max(overlap, 0.0), static_cast<double>(pairs));
    }
  } else {
    for (std::size_t j = 0; j < m; ++j) {
      const double h = widths_[j];
      if (method_ == CvMethod::loglik) {
        curve.score[j] =
            total[j] > 0 ? kMinusInfinity : smooth_loglik_score(kernel_, n, d, h, total[m + j]);
      } else {
        curve.score[j] = gaussian_lsq_score(n, d, h, total[j], total[m + j]);
      }
    }
  }
  curve.best = choose(curve);
  return curve;
}

CvCurve cv_curve_naive(Kernel kernel, CvMethod method, const Samples& samples,
                       std::span<const double> widths) {
  const CvProblem problem(kernel, method, samples, widths);  // validates
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
      score = gaussian_lsq_score(n, d, h, wide, direct);
    }
    curve.score.push_back(score);
  }
  curve.best = choose(curve);
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
