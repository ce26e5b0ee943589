#include "parakit/workloads/kde.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <numbers>
#include <string>

#include "parakit/backend/collective.hpp"
#include "parakit/core/error.hpp"
#include "parakit/core/parse.hpp"
#include "parakit/core/system.hpp"
#include "parakit/core/timer.hpp"
#include "parakit/data/generate.hpp"
#include "parakit/data/numpy_random.hpp"
#include "parakit/io/matrix_file.hpp"
#include "parakit/kde/neighbors.hpp"
#include "parakit/patterns/chunks.hpp"

namespace parakit::workloads {
namespace {

using kde::Kernel;
using kde::Samples;

/// Fixed chunk sizes: they depend on the problem only, never on the team, so sums folded in
/// chunk order are the same on every backend.
constexpr std::uint64_t kRowChunk = 4096;
std::uint64_t point_chunk(std::uint64_t n) {
  return std::clamp<std::uint64_t>((std::uint64_t{1} << 17) / std::max<std::uint64_t>(n, 1), 1,
                                   1024);
}
std::uint64_t cv_chunk(std::uint64_t n) {
  return std::clamp<std::uint64_t>((std::uint64_t{1} << 20) / std::max<std::uint64_t>(n, 1), 1,
                                   4096);
}

/// The kernel's width that has the standard deviation of a unit gaussian (hypercube: side
/// sqrt(12); epanechnikov, support radius sqrt(5)), so a rule of thumb centres any kernel.
double equivalent_width(Kernel kernel) {
  switch (kernel) {
    case Kernel::hypercube:
      return std::sqrt(12.0);
    case Kernel::epanechnikov:
      return std::sqrt(5.0);
    case Kernel::gaussian:
      return 1.0;
  }
  return 1.0;
}

std::vector<double> plan_widths(const KdeOptions& options, const Samples& samples,
                                std::optional<double>& rule_width) {
  if (options.bandwidth || (options.cv && options.widths.empty())) {
    const auto rule = options.bandwidth.value_or(kde::BandwidthRule::scott);
    try {
      rule_width = kde::rule_of_thumb_bandwidth(rule, samples);
    } catch (const InputError& error) {
      const std::string option =
          options.bandwidth
              ? "KdeOptions::bandwidth " + std::string(kde::to_string(rule))
              : std::string("KdeOptions::cv without KdeOptions::widths (centred on Scott's rule)");
      const std::string source =
          options.input.empty() ? std::string("the generated samples") : options.input;
      throw InputError(option + ": " + source + ": " + error.what());
    }
  }
  if (!options.widths.empty()) {
    if (options.bandwidth && !options.cv) {
      throw UsageError(
          "KdeOptions::bandwidth picks the width itself: drop KdeOptions::widths, or add "
          "KdeOptions::cv to choose among them");
    }
    return options.widths;
  }
  if (options.cv) {
    // 41 widths, log-spaced over a factor of 16 around the rule's width.
    const double centre = *rule_width * equivalent_width(options.kernel);
    auto logs = linspace(std::log(centre / 4), std::log(centre * 4), 41);
    for (double& w : logs) w = std::exp(w);
    return logs;
  }
  if (options.bandwidth) return {*rule_width};
  return linspace(1.0, 1.2, 100);
}

std::vector<double> grid_points(GridSpec& grid, const Samples& samples) {
  const auto d = static_cast<std::size_t>(samples.cols());
  if (grid.cells.size() != d) {
    throw UsageError("KdeOptions::grid has " + std::to_string(grid.cells.size()) +
                     " dimensions but the samples have " + std::to_string(d));
  }
  if (grid.lo.empty()) {
    for (std::size_t t = 0; t < d; ++t) {
      const double lo = samples.col(static_cast<Eigen::Index>(t)).minCoeff();
      const double hi = samples.col(static_cast<Eigen::Index>(t)).maxCoeff();
      const double margin = hi > lo ? 0.1 * (hi - lo) : 1.0;
      grid.lo.push_back(lo - margin);
      grid.hi.push_back(hi + margin);
    }
  }
  long double total = 1;
  for (const auto c : grid.cells) total *= static_cast<long double>(c);
  require_memory(total * static_cast<long double>(d) * 8, "KdeOptions::grid");
  std::vector<std::vector<double>> axes;
  for (std::size_t t = 0; t < d; ++t)
    axes.push_back(linspace(grid.lo[t], grid.hi[t], grid.cells[t]));
  const auto count = static_cast<std::uint64_t>(total);
  std::vector<double> points(count * d);
  // C order: the last coordinate varies fastest.
  for (std::uint64_t p = 0; p < count; ++p) {
    std::uint64_t rest = p;
    for (std::size_t t = d; t-- > 0;) {
      points[p * d + t] = axes[t][rest % grid.cells[t]];
      rest /= grid.cells[t];
    }
  }
  return points;
}

double max_over_ranks(const Comm& comm, double seconds) {
  return comm.all_reduce(seconds, ops::max{});
}

/// Counts or smooth-kernel sums at every point and width, by `algo`, on rank 0.
struct Raw {
  std::vector<std::uint64_t> counts;
  std::vector<double> sums;
};

Raw compute(Team& team, const Samples& samples, const std::vector<double>& points,
            std::uint64_t point_count, const std::vector<double>& widths, Kernel kernel,
            KdeAlgo algo) {
  const auto n = static_cast<std::uint64_t>(samples.rows());
  const auto d = static_cast<std::size_t>(samples.cols());
  const std::size_t m = widths.size();
  const bool hypercube = kernel == Kernel::hypercube;
  Raw raw;
  auto point_of = [&](std::uint64_t p) {
    return std::span<const double>(points).subspan(p * d, d);
  };

  if (point_count == 1) {
    // One point: split the samples into row chunks; counts add exactly, sums in chunk order.
    if (hypercube) {
      const auto chunks = map_chunks<std::uint64_t>(team, n, kRowChunk, [&](IndexRange block) {
        const auto first = static_cast<Eigen::Index>(block.begin);
        const auto last = static_cast<Eigen::Index>(block.end);
        if (algo == KdeAlgo::naive) {
          const Samples part = samples.middleRows(first, last - first);
          return kde::hypercube_counts_naive(part, point_of(0), widths);
        }
        return kde::hypercube_counts_sweep(samples, point_of(0), widths, first, last);
      });
      raw.counts.assign(m, 0);
      for (std::size_t c = 0; c < chunks.chunks(); ++c) {
        const auto chunk = chunks.chunk(c);
        for (std::size_t j = 0; j < m; ++j) raw.counts[j] += chunk[j];
      }
    } else {
      const auto chunks = map_chunks<double>(team, n, kRowChunk, [&](IndexRange block) {
        const auto first = static_cast<Eigen::Index>(block.begin);
        const auto last = static_cast<Eigen::Index>(block.end);
        return algo == KdeAlgo::naive
                   ? kde::smooth_kernel_sums_naive(kernel, samples, point_of(0), widths, first,
                                                   last)
                   : kde::smooth_kernel_sums(kernel, samples, point_of(0), widths, first, last);
      });
      raw.sums.assign(m, 0.0);
      for (std::size_t c = 0; c < chunks.chunks(); ++c) {
        const auto chunk = chunks.chunk(c);
        for (std::size_t j = 0; j < m; ++j) raw.sums[j] += chunk[j];
      }
    }
    return raw;
  }

  // Several points: split the points.
  const std::uint64_t chunk = point_chunk(n);
  if (hypercube) {
    std::optional<kde::SortedSamples> sorted;
    std::optional<kde::HypercubeWidths> sorted_widths;
    if (algo != KdeAlgo::naive) {
      sorted.emplace(samples);
      sorted_widths.emplace(widths);
    }
    auto chunks = map_chunks<std::uint64_t>(team, point_count, chunk, [&](IndexRange block) {
      std::vector<std::uint64_t> out;
      out.reserve(block.size() * m);
      std::vector<std::uint64_t> histogram(m + 1), counts(m);
      for (std::uint64_t p = block.begin; p < block.end; ++p) {
        if (algo == KdeAlgo::naive) {
          counts = kde::hypercube_counts_naive(samples, point_of(p), widths);
        } else {
          std::fill(histogram.begin(), histogram.end(), 0);
          kde::hypercube_histogram(*sorted, *sorted_widths, point_of(p), histogram);
          sorted_widths->to_counts(histogram, counts);
        }
        out.insert(out.end(), counts.begin(), counts.end());
      }
      return out;
    });
    raw.counts = std::move(chunks.values);
  } else {
    auto chunks = map_chunks<double>(team, point_count, chunk, [&](IndexRange block) {
      std::vector<double> out;
      out.reserve(block.size() * m);
      for (std::uint64_t p = block.begin; p < block.end; ++p) {
        const auto sums = algo == KdeAlgo::naive
                              ? kde::smooth_kernel_sums_naive(kernel, samples, point_of(p), widths)
                              : kde::smooth_kernel_sums(kernel, samples, point_of(p), widths);
        out.insert(out.end(), sums.begin(), sums.end());
      }
      return out;
    });
    raw.sums = std::move(chunks.values);
  }
  return raw;
}

}  // namespace

std::vector<double> linspace(double start, double stop, std::uint64_t count) {
  std::vector<double> out(count);
  const double step = count > 1 ? (stop - start) / static_cast<double>(count - 1) : 0.0;
  for (std::uint64_t i = 0; i < count; ++i) out[i] = static_cast<double>(i) * step + start;
  if (count > 1) out.back() = stop;
  return out;
}

KdeAlgo parse_kde_algo(std::string_view name) {
  if (name == "auto") return KdeAlgo::automatic;
  if (name == "naive") return KdeAlgo::naive;
  if (name == "sweep") return KdeAlgo::sweep;
  throw UsageError("KdeOptions::algo must be auto, naive or sweep, not '" + std::string(name) +
                   "'");
}

std::string_view to_string(KdeAlgo algo) noexcept {
  switch (algo) {
    case KdeAlgo::automatic:
      return "auto";
    case KdeAlgo::naive:
      return "naive";
    case KdeAlgo::sweep:
      return "sweep";
  }
  return "unknown";
}

SampleRng parse_sample_rng(std::string_view name) {
  if (name == "numpy") return SampleRng::numpy;
  if (name == "philox") return SampleRng::philox;
  throw UsageError("KdeOptions::rng must be numpy or philox, not '" + std::string(name) + "'");
}

std::string_view to_string(SampleRng rng) noexcept {
  return rng == SampleRng::numpy ? "numpy" : "philox";
}

namespace {

/// Splits on `separator` and parses each part as a finite double.
std::vector<double> parse_numbers(std::string_view text, char separator, std::string_view what) {
  std::vector<double> out;
  std::string_view rest = text;
  while (true) {
    const auto cut = rest.find(separator);
    std::string part(rest.substr(0, cut));
    const auto first = part.find_first_not_of(" \t");
    const auto last = part.find_last_not_of(" \t");
    part = first == std::string::npos ? "" : part.substr(first, last - first + 1);
    if (!part.empty() && part.front() == '+') part.erase(0, 1);
    double value = 0;
    const auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), value);
    if (part.empty() || ec != std::errc() || end != part.data() + part.size() ||
        !std::isfinite(value)) {
      throw UsageError(std::string(what) + " '" + std::string(text) + "': '" + part +
                       "' is not a finite number");
    }
    out.push_back(value);
    if (cut == std::string_view::npos) break;
    rest.remove_prefix(cut + 1);
  }
  return out;
}

}  // namespace

std::vector<double> parse_point(std::string_view text, std::string_view what) {
  return parse_numbers(text, ',', what);
}

std::vector<double> parse_widths(std::string_view text, std::string_view what) {
  std::vector<double> widths;
  if (text.find(':') != std::string_view::npos) {
    const auto parts = parse_numbers(text, ':', what);
    if (parts.size() != 3) {
      throw UsageError(std::string(what) + " '" + std::string(text) +
                       "': expected start:stop:count or a,b,c");
    }
    const double count = parts[2];
    if (count < 1 || count != std::floor(count) || count > 1e8) {
      throw UsageError(std::string(what) + " '" + std::string(text) +
                       "': the count must be a whole number from 1 to 1e8");
    }
    widths = linspace(parts[0], parts[1], static_cast<std::uint64_t>(count));
  } else {
    widths = parse_numbers(text, ',', what);
  }
  for (const double h : widths) {
    if (!(h > 0)) {
      throw UsageError(std::string(what) + " '" + std::string(text) +
                       "': widths must be positive (found " + format_short(h) + ")");
    }
  }
  return widths;
}

GridSpec parse_grid(std::string_view text) {
  const std::string whole(text);
  auto bad = [&](const std::string& why) {
    return UsageError("KdeOptions::grid '" + whole + "': " + why +
                      " (expected AxB or AxB:xmin:xmax:ymin:ymax)");
  };
  GridSpec grid;
  const auto colon = text.find(':');
  std::string_view cells = text.substr(0, colon);
  while (true) {
    const auto x = cells.find('x');
    const std::string_view part = cells.substr(0, x);
    std::uint64_t value = 0;
    const auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), value);
    if (part.empty() || ec != std::errc() || end != part.data() + part.size()) {
      throw bad("'" + std::string(part) + "' is not a whole number of cells");
    }
    if (value == 0) throw bad("a grid needs at least 1 cell per dimension");
    grid.cells.push_back(value);
    if (x == std::string_view::npos) break;
    cells.remove_prefix(x + 1);
  }
  if (colon == std::string_view::npos) return grid;
  std::string_view rest = text.substr(colon + 1);
  std::vector<double> bounds;
  while (true) {
    const auto c = rest.find(':');
    const std::string part(rest.substr(0, c));
    double value = 0;
    const auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), value);
    if (part.empty() || ec != std::errc() || end != part.data() + part.size() ||
        !std::isfinite(value)) {
      throw bad("'" + part + "' is not a finite number");
    }
    bounds.push_back(value);
    if (c == std::string_view::npos) break;
    rest.remove_prefix(c + 1);
  }
  if (bounds.size() != 2 * grid.cells.size()) {
    throw bad("needs 2 bounds per dimension, got " + std::to_string(bounds.size()));
  }
  for (std::size_t t = 0; t < grid.cells.size(); ++t) {
    grid.lo.push_back(bounds[2 * t]);
    grid.hi.push_back(bounds[2 * t + 1]);
    if (!(grid.lo.back() < grid.hi.back()) && grid.cells[t] > 1) {
      throw bad("each min must be below its max");
    }
  }
  return grid;
}

Samples load_samples(const KdeOptions& options) {
  if (!options.input.empty()) {
    io::Matrix matrix = io::read_matrix(options.input, "KdeOptions::input");
    Samples samples(static_cast<Eigen::Index>(matrix.rows), static_cast<Eigen::Index>(matrix.cols));
    std::copy(matrix.values.begin(), matrix.values.end(), samples.data());
    return samples;
  }
  if (options.samples == 0) throw UsageError("KdeOptions::samples must be at least 1");
  if (options.dim < 1) throw UsageError("KdeOptions::dim must be at least 1");
  const long double values =
      static_cast<long double>(options.samples) * static_cast<long double>(options.dim);
  require_memory(values * 8, "KdeOptions::samples");
  const auto n = static_cast<Eigen::Index>(options.samples);
  Samples samples(n, options.dim);
  if (options.rng == SampleRng::numpy) {
    const auto drawn =
        data::numpy_multivariate_standard_normal(options.seed, options.samples, options.dim);
    std::copy(drawn.begin(), drawn.end(), samples.data());
  } else {
    data::generate(data::Dist::normal, options.seed, 0,
                   std::span<double>(samples.data(), static_cast<std::size_t>(samples.size())));
  }
  return samples;
}

KdeResult run_kde(Team& team, const KdeOptions& options) {
  KdeResult result;
  const Comm& comm = team.comm();
  collectively(comm, [&] {
    Stopwatch load;
    result.samples = load_samples(options);
    result.load_seconds = load.seconds();
    const auto d = static_cast<std::size_t>(result.samples.cols());
    result.widths = plan_widths(options, result.samples, result.rule_width);
    for (const double h : result.widths) {
      if (!(h > 0) || !std::isfinite(h))
        throw UsageError("KdeOptions::widths must be positive and finite");
    }
    if (options.grid) {
      GridSpec grid = *options.grid;
      result.points = grid_points(grid, result.samples);
      result.grid_cells = grid.cells;
    } else if (!options.points.empty()) {
      if (options.point_dim != 0 && static_cast<std::size_t>(options.point_dim) != d) {
        throw UsageError(options.points_source + " has " + std::to_string(options.point_dim) +
                         " coordinates but the samples have " + std::to_string(d));
      }
      if (options.points.size() % d != 0) {
        throw UsageError("the query points have " + std::to_string(options.points.size()) +
                         " coordinates in all, not a multiple of the samples' dimension " +
                         std::to_string(d));
      }
      result.points = options.points;
    } else {
      result.points.assign(d, 0.0);
    }
    result.point_count = result.points.size() / d;
    require_memory(static_cast<long double>(result.point_count) *
                       static_cast<long double>(result.widths.size()) * 16,
                   "the density table (points x widths)");
  });

  const Samples& samples = result.samples;
  const auto n = static_cast<std::uint64_t>(samples.rows());
  const int d = static_cast<int>(samples.cols());
  const std::size_t m = result.widths.size();
  result.algo = options.algo == KdeAlgo::naive ? KdeAlgo::naive : KdeAlgo::sweep;

  comm.barrier();
  Stopwatch kernel;
  Raw raw = compute(team, samples, result.points, result.point_count, result.widths, options.kernel,
                    result.algo);
  result.seconds = max_over_ranks(comm, kernel.seconds());

  if (options.compare_naive) {
    const KdeAlgo other = result.algo == KdeAlgo::naive ? KdeAlgo::sweep : KdeAlgo::naive;
    comm.barrier();
    Stopwatch naive;
    const Raw reference = compute(team, samples, result.points, result.point_count, result.widths,
                                  options.kernel, other);
    const double seconds = max_over_ranks(comm, naive.seconds());
    result.naive_seconds = other == KdeAlgo::naive ? seconds : result.seconds;
    if (other == KdeAlgo::sweep) result.seconds = seconds;
    result.naive_equal = raw.counts == reference.counts;
    for (std::size_t k = 0; k < raw.sums.size() && result.naive_equal; ++k) {
      const double a = raw.sums[k], b = reference.sums[k];
      result.naive_equal = std::abs(a - b) <= 1e-12 * std::max(std::abs(a), std::abs(b));
    }
    result.naive_equal = comm.broadcast(static_cast<int>(result.naive_equal), 0) != 0;
  }

  if (team.rank() == 0) {
    result.density.resize(result.point_count * m);
    for (std::uint64_t p = 0; p < result.point_count; ++p) {
      for (std::size_t j = 0; j < m; ++j) {
        const double h = result.widths[j];
        const std::size_t k = p * m + j;
        result.density[k] =
            options.kernel == Kernel::hypercube
                ? kde::hypercube_density(raw.counts[k], n, h, d)
                : kde::smooth_density(options.kernel, h, d, raw.sums[k], static_cast<double>(n));
      }
    }
    result.counts = std::move(raw.counts);
  }

  if (options.cv) {
    std::optional<kde::CvProblem> problem;
    collectively(comm,
                 [&] { problem.emplace(options.kernel, *options.cv, samples, result.widths); });
    comm.barrier();
    Stopwatch cv;
    const auto partials = map_chunks<double>(
        team, n, cv_chunk(n), [&](IndexRange block) { return problem->partial(block); }, -1);
    std::vector<std::vector<double>> blocks(partials.chunks());
    for (std::size_t c = 0; c < blocks.size(); ++c) {
      blocks[c].assign(partials.chunk(c).begin(), partials.chunk(c).end());
    }
    result.cv = problem->finish(blocks);
    result.cv_seconds = max_over_ranks(comm, cv.seconds());
  }
  return result;
}

}  // namespace parakit::workloads
