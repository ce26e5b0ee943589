// parakit kde: Parzen-window density estimation over a sweep of window widths.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "parakit/backend/collective.hpp"
#include "parakit/core/error.hpp"
#include "parakit/core/parse.hpp"
#include "parakit/core/system.hpp"
#include "parakit/io/atomic_file.hpp"
#include "parakit/io/matrix_file.hpp"
#include "parakit/io/plot.hpp"
#include "parakit/workloads/kde.hpp"
#include "registry.hpp"

namespace parakit::cli {
namespace {

using workloads::KdeOptions;
using workloads::KdeResult;

struct KdeArgs {
  std::string point, points, grid, widths;
  std::string kernel = "hypercube";
  std::string algo = "auto";
  std::string cv, bandwidth;
  std::string samples = "10000";
  int dim = 2;
  std::uint64_t seed = 123;
  std::string rng = "numpy";
  std::string input, out, plot, weights, weights_dataset;
  std::uint64_t cols = 0;
  std::string dataset;
  std::uint64_t point_block = 0;
  double rtol = 1e-12, atol = 0;
  std::string approx, dim_scale, kernel_cov;
  bool log_density = false;
  bool optimize = false;
  bool compare_naive = false;
  ProgressArgs progress;
};

nlohmann::json cv_json(const kde::CvCurve& curve) {
  nlohmann::json points = nlohmann::json::array();
  for (std::size_t j = 0; j < curve.widths.size(); ++j) {
    nlohmann::json entry{{"h", json_double(curve.widths[j])},
                         {"score", json_double(curve.score[j])}};
    if (!curve.lonely.empty()) entry["lonely"] = curve.lonely[j];
    if (!curve.score_bound.empty()) entry["score_bound"] = json_double(curve.score_bound[j]);
    points.push_back(std::move(entry));
  }
  nlohmann::json out{{"method", kde::to_string(curve.method)}, {"curve", std::move(points)}};
  if (curve.refined_h) {
    out["h"] = json_double(*curve.refined_h);
    out["index"] = nullptr;  // between the sweep's widths
    out["score"] = json_double(curve.refined_score);
    out["refined"] = {{"method", "brent"},
                      {"evaluations", curve.evaluations},
                      {"sweep_h", json_double(curve.widths[*curve.best])}};
  } else if (curve.best) {
    out["h"] = json_double(curve.widths[*curve.best]);
    out["index"] = *curve.best;
    out["score"] = json_double(curve.score[*curve.best]);
  } else {
    out["h"] = nullptr;
  }
  return out;
}

/// Whether the results have counts: the hypercube's, without weights (whose windows hold sums
/// of weights).
bool has_counts(const KdeOptions& options) {
  return options.kernel == kde::Kernel::hypercube && options.weights.path.empty();
}

/// One query point and no grid: results are reported per width ("point", "results").
bool single_point(const KdeResult& r) {
  return r.point_count == 1 && r.grid_cells.empty();
}

/// What rank 0 keeps of the densities while they stream past: every block when the summary or
/// the plot needs them (one point; a plotted grid), else nothing.
struct Kept {
  std::vector<double> points, density, log_density;
  std::vector<std::uint64_t> counts;
};

/// The JSON document's fields, without the per-point arrays of a point list or grid (those
/// are streamed: DensityOutputs).
nlohmann::json to_json(const KdeOptions& options, const KdeResult& r, const Kept& kept,
                       const Team& team, const std::vector<std::uint64_t>& peak_rss) {
  const std::size_t m = r.widths.size();
  const auto d = static_cast<std::size_t>(r.dim);
  const bool hypercube = has_counts(options);
  nlohmann::json out{{"command", "kde"},
                     {"kernel", kde::to_string(options.kernel)},
                     {"algo", workloads::to_string(r.algo)},
                     {"n", r.n},
                     {"dim", d},
                     {"backend", to_string(team.kind())},
                     {"ranks", team.ranks()},
                     {"threads", team.threads()},
                     {"workers", team.workers()},
                     {"seconds", r.seconds},
                     {"peak_rss_bytes", peak_rss}};
  if (options.input.empty()) {
    out["rng"] = workloads::to_string(options.rng);
    out["seed"] = options.seed;
  } else {
    out["input"] = options.input;
  }
  if (r.binned) {
    out["approx"] = {{"method", "binned"},
                     {"cells", r.binned->cells},
                     {"error_estimate", json_double(r.binned->error_estimate)},
                     {"checked", r.binned->checked}};
  } else if (options.kernel != kde::Kernel::hypercube) {
    // What every density is within of the sum over all samples.
    out["bound"] = {{"rtol", json_double(options.bound.rtol)},
                    {"atol", json_double(options.bound.atol)},
                    {"pruned", r.algo != workloads::KdeAlgo::naive}};
  }
  if (!options.dim_scale.empty()) {
    nlohmann::json scale = nlohmann::json::array();
    for (const double x : options.dim_scale) scale.push_back(json_double(x));
    out["dim_scale"] = std::move(scale);
  }
  if (options.data_covariance) out["kernel_cov"] = "data";
  if (r.weights) {
    out["weights"] = {{"file", options.weights.path},
                      {"total", json_double(r.weights->total)},
                      {"effective_n", json_double(r.weights->effective)},
                      {"dropped", r.weights->dropped}};
  }
  if (r.rule_width) {
    out["bandwidth"] = {
        {"rule", kde::to_string(options.bandwidth.value_or(kde::BandwidthRule::scott))},
        {"h", json_double(*r.rule_width)}};
  }
  if (single_point(r)) {
    out["point"] = kept.points;
    nlohmann::json results = nlohmann::json::array();
    for (std::size_t j = 0; j < m; ++j) {
      nlohmann::json entry{{"h", json_double(r.widths[j])}};
      if (hypercube) entry["count"] = kept.counts[j];
      entry["density"] = json_double(kept.density[j]);
      if (!kept.log_density.empty()) entry["log_density"] = json_double(kept.log_density[j]);
      results.push_back(std::move(entry));
    }
    out["results"] = std::move(results);
  } else {
    nlohmann::json widths = nlohmann::json::array();
    for (const double h : r.widths) widths.push_back(json_double(h));
    out["widths"] = std::move(widths);
    if (!r.grid_cells.empty()) out["grid"] = r.grid_cells;
  }
  if (r.cv) {
    out["cv"] = cv_json(*r.cv);
    out["cv_seconds"] = r.cv_seconds;
  }
  if (r.naive_seconds) {
    out["naive_seconds"] = *r.naive_seconds;
    out["naive_equal"] = r.naive_equal;
    out["speedup"] = r.seconds > 0 ? *r.naive_seconds / r.seconds : 0.0;
  }
  return out;
}

/// A temporary file (unlinked: it goes away with the process) that JSON arrays are spooled to.
class Spool {
 public:
  Spool() : file_(std::tmpfile(), &std::fclose) {
    if (!file_) throw InputError("cannot create a temporary file for the densities");
  }
  void append(const std::string& text) {
    if (!text.empty() && std::fwrite(text.data(), 1, text.size(), file_.get()) != text.size()) {
      throw InputError("cannot write the densities to a temporary file (disk full?)");
    }
  }
  /// Passes the spooled text to `sink` in pieces.
  template <class Sink>
  void replay(Sink&& sink) {
    std::rewind(file_.get());
    std::string piece(std::size_t{1} << 20, '\0');
    while (const std::size_t got = std::fread(piece.data(), 1, piece.size(), file_.get())) {
      sink(std::string_view(piece.data(), got));
    }
    if (std::ferror(file_.get())) throw InputError("cannot read back the spooled densities");
  }

 private:
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file_;
};

/// Rank 0's destinations of the densities, written block by block as run_kde hands them over:
/// --out CSV rows and .npy values go straight into the (atomic) file; the JSON document's
/// arrays (--out .json, --json) are spooled and assembled behind its other fields at the end.
/// Nothing holds every point's densities in memory.
class DensityOutputs {
 public:
  DensityOutputs(const std::string& out, bool json_stdout, bool keep, bool hypercube, bool log)
      : json_stdout_(json_stdout), keep_(keep), hypercube_(hypercube), log_(log) {
    if (!out.empty()) {
      file_.emplace(out);
      format_ = out.ends_with(".json")  ? Format::json
                : out.ends_with(".npy") ? Format::npy
                                        : Format::csv;
    }
  }

  const Kept& kept() const noexcept { return kept_; }

  void add(const workloads::DensityBlock& b) {
    const auto d = static_cast<std::size_t>(b.dim);
    const std::size_t m = b.widths.size();
    const std::uint64_t points = b.density.size() / m;
    if (keep_ || b.point_count == 1) {
      kept_.points.insert(kept_.points.end(), b.points.begin(), b.points.end());
      kept_.counts.insert(kept_.counts.end(), b.counts.begin(), b.counts.end());
      kept_.density.insert(kept_.density.end(), b.density.begin(), b.density.end());
      kept_.log_density.insert(kept_.log_density.end(), b.log_density.begin(), b.log_density.end());
    }
    if (file_ && format_ == Format::csv) {
      std::string text;
      if (b.first_point == 0) {
        for (std::size_t t = 0; t < d; ++t) text += "x" + std::to_string(t) + ",";
        text += hypercube_ ? "h,count,density\n" : log_ ? "h,density,log_density\n" : "h,density\n";
      }
      for (std::uint64_t p = 0; p < points; ++p) {
        std::string prefix;
        for (std::size_t t = 0; t < d; ++t) prefix += format_double(b.points[p * d + t]) + ",";
        for (std::size_t j = 0; j < m; ++j) {
          text += prefix + format_double(b.widths[j]) + ",";
          if (hypercube_) text += std::to_string(b.counts[p * m + j]) + ",";
          text += format_double(b.density[p * m + j]);
          if (log_) text += "," + format_double(b.log_density[p * m + j]);
          text += "\n";
        }
      }
      file_->write(text);
    }
    if (file_ && format_ == Format::npy) {
      if (b.first_point == 0) file_->write(io::npy_header(io::DType::f64, {b.point_count, m}));
      file_->write(std::as_bytes(log_ ? b.log_density : b.density));
    }
    if (b.point_count > 1 && (json_stdout_ || (file_ && format_ == Format::json))) {
      spool(b, points, d, m);
    }
  }

  /// Writes the JSON document (fields, then the spooled arrays) to --out (when JSON) and
  /// commits --out; the document for --json is printed by print_json_document.
  void finish(const nlohmann::json& fields) {
    if (file_ && format_ == Format::json) {
      write_document(fields, [&](std::string_view text) { file_->write(text); });
    }
  }
  void commit() {
    if (file_) file_->commit();
  }
  void print_json_document(const nlohmann::json& fields) {
    write_document(fields,
                   [](std::string_view text) { std::fwrite(text.data(), 1, text.size(), stdout); });
    std::fflush(stdout);
  }

 private:
  enum class Format { csv, json, npy };

  void spool(const workloads::DensityBlock& b, std::uint64_t points, std::size_t d, std::size_t m) {
    std::string xs, ds, cs, ls;
    for (std::uint64_t p = 0; p < points; ++p) {
      const char* comma = b.first_point + p == 0 ? "" : ",";
      nlohmann::json point = nlohmann::json::array(), row = nlohmann::json::array();
      nlohmann::json logs = nlohmann::json::array();
      for (std::size_t t = 0; t < d; ++t) point.push_back(b.points[p * d + t]);
      for (std::size_t j = 0; j < m; ++j) row.push_back(json_double(b.density[p * m + j]));
      for (std::size_t j = 0; log_ && j < m; ++j)
        logs.push_back(json_double(b.log_density[p * m + j]));
      (xs += comma) += point.dump();
      (ds += comma) += row.dump();
      if (log_) (ls += comma) += logs.dump();
      if (hypercube_) {
        (cs += comma) +=
            nlohmann::json(std::vector<std::uint64_t>(
                               b.counts.begin() + static_cast<std::ptrdiff_t>(p * m),
                               b.counts.begin() + static_cast<std::ptrdiff_t>((p + 1) * m)))
                .dump();
      }
    }
    spools_[0].append(xs);
    spools_[1].append(ds);
    spools_[2].append(cs);
    spools_[3].append(ls);
    spooled_ = true;
  }

  template <class Sink>
  void write_document(const nlohmann::json& fields, Sink&& sink) {
    std::string head = fields.dump();
    if (!spooled_) {
      sink(head + "\n");
      return;
    }
    head.pop_back();  // the closing brace: the arrays follow
    sink(head);
    const char* names[] = {"points", "density", "counts", "log_density"};
    for (std::size_t k = 0; k < 4; ++k) {
      if ((k == 2 && !hypercube_) || (k == 3 && !log_)) continue;
      sink(std::string(",\"") + names[k] + "\":[");
      spools_[k].replay(sink);
      sink("]");
    }
    sink("}\n");
  }

  bool json_stdout_, keep_, hypercube_, log_;
  std::optional<io::AtomicFile> file_;
  Format format_ = Format::csv;
  Kept kept_;
  std::array<Spool, 4> spools_;
  bool spooled_ = false;
};

/// "lo:hi" for gnuplot, widened when a grid has one cell along the axis.
std::string axis_range(double lo, double hi) {
  if (!(hi > lo)) {
    const double pad = lo != 0 ? std::abs(lo) * 0.1 : 1.0;
    lo -= pad;
    hi += pad;
  }
  std::ostringstream text;
  text.precision(17);
  text << lo << ":" << hi;
  return text.str();
}

/// The width a heat map shows: the CV choice, else the first width.
std::size_t map_width(const KdeResult& r) {
  return r.cv && r.cv->best ? *r.cv->best : 0;
}

void write_plot(const std::string& path, const KdeOptions& options, const KdeResult& r,
                const Kept& kept) {
  std::ostringstream gp;
  gp.precision(17);
  const std::size_t m = r.widths.size();
  if (!r.grid_cells.empty()) {
    const std::size_t j = map_width(r);
    gp << "$density << EOD\n";
    const std::uint64_t ny = r.grid_cells[1];
    for (std::uint64_t p = 0; p < r.point_count; ++p) {
      gp << kept.points[p * 2] << ' ' << kept.points[p * 2 + 1] << ' ' << kept.density[p * m + j]
         << '\n';
      if ((p + 1) % ny == 0) gp << '\n';
    }
    gp << "EOD\n$samples << EOD\n";
    for (std::size_t i = 0; i + 1 < r.plot_samples.size(); i += 2)
      gp << r.plot_samples[i] << ' ' << r.plot_samples[i + 1] << '\n';
    gp << "EOD\n"
       << "set title "
       << io::gnuplot_quote(std::string(kde::to_string(options.kernel)) +
                            " KDE, h = " + format_short(r.widths[j]))
       << "\nset xlabel 'x_0'\nset ylabel 'x_1'\nset view map\nset palette rgb 21,22,23\n"
       << "set xrange [" << axis_range(kept.points.front(), kept.points[(r.point_count - 1) * 2])
       << "]\nset yrange [" << axis_range(kept.points[1], kept.points[r.point_count * 2 - 1])
       << "]\n"
       << "plot $density using 1:2:3 with image notitle, "
       << "$samples using 1:2 with dots lc rgb '#40ffffff' title 'samples'\n";
  } else if (r.cv && !r.cv->best) {
    // No finite score: show how many samples each width leaves alone instead.
    gp << "$curve << EOD\n";
    for (std::size_t j = 0; j < m; ++j) {
      gp << r.widths[j] << ' ' << (r.cv->lonely.empty() ? 0 : r.cv->lonely[j]) << '\n';
    }
    gp << "EOD\nset title 'no width has a finite CV score: samples left without a neighbour'\n"
       << "set xlabel 'window width h'\nset ylabel 'samples alone'\nset grid\n"
       << "plot $curve using 1:2 with linespoints pt 7 ps 0.5 notitle\n";
  } else if (r.cv) {
    gp << "$curve << EOD\n";
    for (std::size_t j = 0; j < m; ++j) {
      if (std::isfinite(r.cv->score[j])) gp << r.widths[j] << ' ' << r.cv->score[j] << '\n';
    }
    gp << "EOD\nset title "
       << io::gnuplot_quote("leave-one-out CV (" + std::string(kde::to_string(r.cv->method)) + ")")
       << "\nset xlabel 'window width h'\nset ylabel 'score'\nset grid\n";
    const auto [lo, hi] = std::minmax_element(r.widths.begin(), r.widths.end());
    const double pad = *hi > *lo ? 0.02 * (*hi - *lo) : 0.1 * *lo;
    gp << "set xrange [" << *lo - pad << ":" << *hi + pad << "]\n";
    double widest_lonely = 0;
    for (std::size_t j = 0; j < m; ++j) {
      if (!std::isfinite(r.cv->score[j])) widest_lonely = std::max(widest_lonely, r.widths[j]);
    }
    if (widest_lonely > 0) {
      gp << "set label "
         << io::gnuplot_quote("-inf (a sample alone) up to h = " + format_short(widest_lonely))
         << " at graph 0.02, graph 0.04\n";
    }
    const double chosen = r.widths[*r.cv->best];
    gp << "set arrow from " << chosen << ", graph 0 to " << chosen
       << ", graph 1 nohead lc rgb 'red' dt 2\n"
       << "set label " << io::gnuplot_quote("chosen h = " + format_short(chosen)) << " at "
       << chosen << ", graph 0.95 offset 1,0 tc rgb 'red'\n";
    gp << "plot $curve using 1:2 with linespoints pt 7 ps 0.5 title 'score'\n";
  } else {
    gp << "$curve << EOD\n";
    for (std::size_t j = 0; j < m; ++j) gp << r.widths[j] << ' ' << kept.density[j] << '\n';
    gp << "EOD\nset title 'density at the query point'\nset xlabel 'window width h'\n"
       << "set ylabel 'p(h)'\nset grid\nplot $curve using 1:2 with linespoints pt 7 ps 0.5 "
          "title 'p(h)'\n";
  }
  io::render_png(path, gp.str(), 800, 600);
}

/// The summary's densities: per width at one point, else the points' count and the maximum.
void append_densities(std::string& text, const KdeOptions& options, const KdeResult& r,
                      const Kept& kept) {
  const std::size_t m = r.widths.size();
  const bool hypercube = has_counts(options);
  if (single_point(r)) {
    std::string at;
    for (const double x : kept.points) at += (at.empty() ? "" : ", ") + format_double(x);
    appendf(text, "  point (%s), %zu widths\n", at.c_str(), m);
    const bool logs = !kept.log_density.empty();
    appendf(text, "  %12s %12s %24s%s\n", "h", hypercube ? "count" : "", "p(h)",
            logs ? "                   log p(h)" : "");
    for (std::size_t j = 0; j < m; ++j) {
      appendf(text, "  %12.6g %12s %24.17g", r.widths[j],
              hypercube ? std::to_string(kept.counts[j]).c_str() : "", kept.density[j]);
      if (logs) appendf(text, " %26.17g", kept.log_density[j]);
      text += "\n";
    }
    return;
  }
  appendf(text, "  %llu points x %zu widths", static_cast<unsigned long long>(r.point_count), m);
  if (!r.grid_cells.empty()) {
    std::string cells;
    for (const auto c : r.grid_cells) cells += (cells.empty() ? "" : "x") + std::to_string(c);
    appendf(text, " (grid %s)", cells.c_str());
  }
  appendf(text, "\n  max density %.17g at point %llu, h = %.17g\n", r.max_density,
          static_cast<unsigned long long>(r.max_point), r.widths[r.max_width]);
}

/// The summary's cross-validation curve and the width it chose.
void append_cv(std::string& text, const KdeResult& r) {
  appendf(text, "  cross-validation (%s):\n", std::string(kde::to_string(r.cv->method)).c_str());
  const bool bounded = !r.cv->score_bound.empty();
  for (std::size_t j = 0; j < r.widths.size(); ++j) {
    appendf(text, "  %12.6g %24.17g", r.widths[j], r.cv->score[j]);
    if (bounded) appendf(text, " +- %.2g", r.cv->score_bound[j]);
    appendf(text, "%s\n", r.cv->best && *r.cv->best == j ? "  <- chosen" : "");
  }
  if (r.cv->refined_h) {
    appendf(text, "  chosen h = %s (Brent's method from the sweep's %s, %d scores), score %s\n",
            format_double(*r.cv->refined_h).c_str(), format_double(r.widths[*r.cv->best]).c_str(),
            r.cv->evaluations, format_double(r.cv->refined_score).c_str());
  } else if (r.cv->best) {
    appendf(text, "  chosen h = %s\n", format_double(r.widths[*r.cv->best]).c_str());
  } else {
    appendf(text, "  no width has a finite score: every width leaves some sample alone\n");
  }
}

std::string summary(const KdeOptions& options, const KdeResult& r, const Kept& kept,
                    const Team& team) {
  const std::string source = options.input.empty()
                                 ? std::string(workloads::to_string(options.rng)) + " rng, seed " +
                                       std::to_string(options.seed)
                                 : options.input;
  std::string text;
  appendf(text, "parakit kde: %s kernel, %lld samples x %lld dims (%s)\n",
          std::string(kde::to_string(options.kernel)).c_str(), static_cast<long long>(r.n),
          static_cast<long long>(r.dim), source.c_str());
  if (r.rule_width) {
    const auto rule = options.bandwidth.value_or(kde::BandwidthRule::scott);
    appendf(text, "  %s h = %s\n",
            rule == kde::BandwidthRule::isj ? "ISJ plug-in" : "rule of thumb",
            format_double(*r.rule_width).c_str());
  }
  if (r.binned) {
    std::string cells;
    for (const auto c : r.binned->cells.front())
      cells += (cells.empty() ? "" : "x") + std::to_string(c);
    appendf(text, "  binned    %s grid%s; largest relative error %s at %llu points checked\n",
            cells.c_str(), r.binned->cells.size() > 1 ? " (first width)" : "",
            format_short(r.binned->error_estimate).c_str(),
            static_cast<unsigned long long>(r.binned->checked));
  } else if (options.kernel != kde::Kernel::hypercube) {
    appendf(text, "  bound     |density - exact| <= %s + %s x density\n",
            format_short(options.bound.atol).c_str(), format_short(options.bound.rtol).c_str());
  }
  append_densities(text, options, r, kept);
  if (r.cv) append_cv(text, r);
  appendf(text, "  backend   %s\n", team_description(team).c_str());
  appendf(text, "  kernel    %.6f s (%s)\n", r.seconds,
          std::string(workloads::to_string(r.algo)).c_str());
  if (r.cv) appendf(text, "  cv        %.6f s\n", r.cv_seconds);
  if (r.naive_seconds) {
    appendf(text, "  naive     %.6f s, results %s, speedup %.1fx\n", *r.naive_seconds,
            r.naive_equal ? "equal" : "DIFFER", r.seconds > 0 ? *r.naive_seconds / r.seconds : 0.0);
  }
  return text;
}

/// Where the query points come from.
void add_query_options(CLI::App& command, KdeArgs& args) {
  auto* point = command.add_option("--point", args.point, "query point x,y,... (default: origin)");
  auto* points = command.add_option(
      "--points", args.points,
      "query points from a CSV, .npy or HDF5 file (any number: read and processed in "
      "blocks, each rank reading its rows)");
  auto* grid = command.add_option("--grid", args.grid,
                                  "query grid AxB[:xmin:xmax:ymin:ymax] (default bounds: "
                                  "the samples' range + 10%)");
  point->excludes(points, grid);
  points->excludes(grid);
  command
      .add_option("--point-block", args.point_block,
                  "query points per block (default: as many as keep a block's results near "
                  "64 MiB)")
      ->check(CLI::PositiveNumber);
}

/// Where the samples come from: a file (and its weights) or a generator.
void add_sample_options(CLI::App& command, KdeArgs& args) {
  auto* input = command.add_option(
      "--input", args.input,
      "samples from a CSV, .npy, HDF5 (.h5) or raw float64 .bin file; each rank reads only "
      "its own rows");
  command.add_option("--cols", args.cols, "columns of a raw float64 --input (.bin)")
      ->check(non_negative())
      ->needs(input);
  command
      .add_option("--dataset", args.dataset,
                  "the dataset of an HDF5 --input, e.g. /samples (default: the file's only one)")
      ->needs(input);
  auto* weights = command.add_option(
      "--weights", args.weights,
      "sample weights: one per sample, >= 0, in a one-column CSV, .npy, HDF5 or .bin file of as "
      "many rows (read by row ranges, as --input); every kernel and mode then sums w_i K / sum w");
  command
      .add_option("--weights-dataset", args.weights_dataset,
                  "the dataset of an HDF5 --weights file (default: the file's only one)")
      ->needs(weights);
  command.add_option("--samples", args.samples, "generated samples")
      ->capture_default_str()
      ->excludes(input);
  command.add_option("--dim", args.dim, "dimension of generated samples")
      ->capture_default_str()
      ->excludes(input);
  command.add_option("--seed", args.seed, "generator seed")
      ->capture_default_str()
      ->check(non_negative())
      ->excludes(input);
  command
      .add_option("--rng", args.rng,
                  "numpy (NumPy's legacy RandomState: the notebook's samples; drawn in sequence "
                  "by rank 0 and sent to each rank in blocks) or philox (each rank draws its own "
                  "rows from their global index)")
      ->capture_default_str()
      ->excludes(input);
}

/// The kernel, its widths and how the sums are computed.
void add_method_options(CLI::App& command, KdeArgs& args) {
  command.add_option("--widths", args.widths,
                     "window widths start:stop:count (linspace) or a,b,c [1.0:1.2:100]");
  command.add_option("--kernel", args.kernel, "hypercube|gaussian|epanechnikov")
      ->capture_default_str();
  command
      .add_option("--algo", args.algo,
                  "hypercube counts: auto (range or tree for many points, else sweep), naive "
                  "(the window test over every sample), sweep (a band along one coordinate), "
                  "range (rectangle counts by an offline sweep, 1-D and 2-D) or tree (k-d tree, "
                  "any dimension)")
      ->capture_default_str();
  command.add_option(
      "--bandwidth", args.bandwidth,
      "width rule: scott|silverman (any d), isj (1-D: improved Sheather-Jones, Botev et al. "
      "2010; exit 2 when its fixed-point equation has no root)");
  command
      .add_option("--rtol", args.rtol,
                  "smooth kernels: every density within atol + rtol x density of the sum over "
                  "all samples; samples beyond that reach are skipped (0: none)")
      ->capture_default_str();
  command.add_option("--atol", args.atol, "smooth kernels: the absolute part of that bound")
      ->capture_default_str();
  command.add_option("--dim-scale", args.dim_scale,
                     "s1,s2,...: every width times s_t along dimension t (a diagonal bandwidth "
                     "matrix)");
  command.add_option("--kernel-cov", args.kernel_cov,
                     "gaussian: data makes the kernel covariance h^2 x the samples' covariance "
                     "(SciPy gaussian_kde's convention: h is a factor, --bandwidth scott gives "
                     "n^(-1/(d+4)))");
  command.add_option("--approx", args.approx,
                     "smooth kernels in 1-D to 3-D: binned[:CELLS], linear binning onto a grid "
                     "of CELLS points per dimension (default: step <= width / 40) and "
                     "an FFT convolution (FFTW), with an error estimate; densities and --cv "
                     "loglik");
}

/// Cross-validation and what is written where.
void add_output_options(CLI::App& command, KdeArgs& args) {
  command
      .add_option("--cv", args.cv,
                  "leave-one-out cross-validation: loglik (also a bare --cv) or lsq")
      ->expected(0, 1);
  command.add_flag("--optimize", args.optimize,
                   "with --cv, smooth kernels: refine the best width of the sweep by Brent's "
                   "method on log h between its neighbours (JSON cv.index is then null, cv.h "
                   "the optimum)");
  command.add_option("--out", args.out,
                     "write the densities to FILE.csv, FILE.json or FILE.npy (points x widths "
                     "float64), block by block");
  command.add_option("--plot", args.plot,
                     "PNG: heat map of a 2-D grid, else the CV curve, else p(h)");
  command.add_flag("--log-density", args.log_density,
                   "smooth kernels: also the natural log of each density (finite where the "
                   "density underflows a double): a log_density column or JSON field; a .npy "
                   "--out holds the logs instead");
  command.add_flag("--compare-naive", args.compare_naive,
                   "also run the naive loop: check the results agree, print the speedup");
}

/// --approx binned[:CELLS].
void parse_approx(const std::string& approx, KdeOptions& options) {
  const std::string_view text = approx;
  const auto colon = text.find(':');
  if (text.substr(0, colon) != "binned") {
    throw UsageError("--approx must be binned or binned:CELLS, not '" + approx + "'");
  }
  options.binned = true;
  if (colon != std::string_view::npos) {
    options.bin_cells = parse_count(std::string(text.substr(colon + 1)), "--approx");
    if (options.bin_cells < 2)
      throw UsageError("--approx binned:CELLS needs at least 2 cells per dimension");
  }
}

/// Where the samples and query points come from.
void set_sources(const KdeArgs& args, KdeOptions& options) {
  options.input = args.input;
  options.cols = args.cols;
  options.dataset = args.dataset;
  options.weights = {args.weights, args.weights.ends_with(".bin") ? 1U : 0U, args.weights_dataset,
                     "--weights"};
  options.point_block = args.point_block;
  if (options.input.empty()) {
    options.samples = parse_count(args.samples, "--samples");
    if (options.samples == 0) throw UsageError("--samples must be at least 1");
    if (args.dim < 1) throw UsageError("--dim must be at least 1");
  }
  options.dim = args.dim;
  options.seed = args.seed;
  options.rng = workloads::parse_sample_rng(args.rng);
  if (!args.grid.empty()) options.grid = workloads::parse_grid(args.grid);
  if (!args.point.empty()) {
    options.points = workloads::parse_point(args.point);
    options.point_dim = static_cast<int>(options.points.size());
    options.points_source = "--point";
  }
  if (!args.points.empty()) {
    options.points_file = TableSource{args.points, 0, "", "KdeOptions::points_file"};
  }
}

/// --out and --plot: their file types, and what a plot can draw.
void check_outputs(const KdeArgs& args, const KdeOptions& options) {
  if (!args.out.empty() && !args.out.ends_with(".csv") && !args.out.ends_with(".json") &&
      !args.out.ends_with(".npy")) {
    throw UsageError("--out must name a .csv, .json or .npy file, not '" + args.out + "'");
  }
  if (args.plot.empty()) return;
  if (!args.plot.ends_with(".png")) {
    throw UsageError("--plot must name a .png file, not '" + args.plot + "'");
  }
  if (options.grid && options.grid->cells.size() != 2) {
    throw UsageError("--plot draws heat maps of 2-D grids only");
  }
  if (!options.grid && !options.cv && !args.points.empty()) {
    throw UsageError(
        "--plot draws a 2-D --grid, the --cv curve, or one point's p(h); not --points");
  }
  io::require_gnuplot("--plot");  // before the work, not after it
}

/// The library's options from the command line (UsageError on a bad one).
KdeOptions kde_options(const KdeArgs& args, bool cv_given) {
  KdeOptions options;
  options.kernel = kde::parse_kernel(args.kernel);
  options.algo = workloads::parse_kde_algo(args.algo);
  if (cv_given) options.cv = kde::parse_cv_method(args.cv.empty() ? "loglik" : args.cv);
  if (!args.bandwidth.empty()) options.bandwidth = kde::parse_bandwidth_rule(args.bandwidth);
  if (!args.widths.empty()) options.widths = workloads::parse_widths(args.widths);
  set_sources(args, options);
  options.compare_naive = args.compare_naive;
  options.bound = {args.rtol, args.atol};
  if (!args.dim_scale.empty())
    options.dim_scale = workloads::parse_point(args.dim_scale, "--dim-scale");
  if (!args.kernel_cov.empty()) {
    if (args.kernel_cov != "data") {
      throw UsageError("--kernel-cov must be data (the samples' covariance), not '" +
                       args.kernel_cov + "'");
    }
    options.data_covariance = true;
  }
  if (!args.approx.empty()) parse_approx(args.approx, options);
  options.log_density = args.log_density;
  options.cv_optimize = args.optimize;
  options.progress = progress_options(args.progress);
  if (options.log_density && options.kernel == kde::Kernel::hypercube) {
    throw UsageError("--log-density is for the smooth kernels (a hypercube density is a count)");
  }
  check_outputs(args, options);
  return options;
}

Report run_kde_command(Team& team, KdeOptions options, const KdeArgs& args, bool json) {
  // Rank 0 opens --out before the work (a bad path fails first) and writes each block of
  // densities as it comes: both files or neither in the end, the densities staying a
  // temporary file until the plot is in place.
  std::shared_ptr<DensityOutputs> outputs;
  collectively(team.comm(), [&] {
    if (!is_output_rank(team)) return;
    outputs = std::make_shared<DensityOutputs>(args.out, json, !args.plot.empty(),
                                               has_counts(options), options.log_density);
    options.on_block = [&](const workloads::DensityBlock& block) { outputs->add(block); };
  });
  options.progress.enabled = options.progress.enabled && is_output_rank(team);
  const KdeResult result = workloads::run_kde(team, options);
  // Every rank's peak resident set, for the memory model (rank 0 prints them).
  const auto peak_rss = team.comm().gather(peak_rss_bytes(), 0);
  Report report;
  report.exit_code = result.naive_equal ? 0 : kExitInternal;
  collectively(team.comm(), [&] {
    if (!is_output_rank(team)) return;
    report.json = to_json(options, result, outputs->kept(), team, peak_rss);
    outputs->finish(report.json);
    if (!args.plot.empty()) write_plot(args.plot, options, result, outputs->kept());
    try {
      outputs->commit();
    } catch (...) {
      if (!args.plot.empty()) std::remove(args.plot.c_str());
      throw;
    }
  });
  if (!is_output_rank(team)) return report;
  report.text = summary(options, result, outputs->kept(), team);
  report.print_json_document = [outputs, fields = report.json] {
    outputs->print_json_document(fields);
  };
  if (result.cv && !result.cv->best) {
    report.messages.emplace_back(
        "parakit: warning: no width has a finite CV score; try larger widths");
  }
  return report;
}

std::function<TeamRun()> add_kde_options(CLI::App& command, const CommonOptions& common) {
  auto args = std::make_shared<KdeArgs>();
  add_query_options(command, *args);
  add_method_options(command, *args);
  add_sample_options(command, *args);
  add_output_options(command, *args);
  add_progress_options(command, args->progress,
                       "query points done (the grid's or --points'), then the CV's query "
                       "blocks and ring steps; under MPI rank 0 reports its own share of the "
                       "work (the shares are balanced)");
  // An empty value ("--widths ''") is an error, not the default.
  const CLI::Validator non_empty(
      [](std::string& value) { return value.empty() ? std::string("must not be empty") : ""; }, "",
      "NONEMPTY");
  for (const char* name : {"--point", "--points", "--grid", "--widths", "--bandwidth", "--input",
                           "--approx", "--dim-scale", "--kernel-cov", "--dataset", "--out",
                           "--weights", "--plot", "--kernel", "--algo", "--rng"}) {
    command.get_option(name)->check(non_empty);
  }
  const CLI::Option* cv = command.get_option("--cv");
  return [args, cv, &common] {
    const KdeOptions options = kde_options(*args, cv->count() > 0);
    return TeamRun([args, options, json = common.json](Team& team) {
      return run_kde_command(team, options, *args, json);
    });
  };
}

/// The naive KDE reference evaluates 1/kNaiveShare of the grid's rows (the same columns, over
/// the same area): its cost is linear in the points, so seconds per point compare, and
/// `bench all --limits` does not spend most of its time in the reference.
constexpr std::uint64_t kNaiveShare = 8;
/// The Gaussian grid's width, and the Gaussian CV's share of --kde-samples (its cost is
/// quadratic in the samples and linear in its 20 widths).
constexpr const char* kGaussWidth = "0.2";
constexpr std::uint64_t kGaussCvShare = 5;

/// A bench grid: its cells, kernel, widths and the label that ends its description.
struct GridBench {
  workloads::GridSpec grid;
  kde::Kernel kernel;
  std::string widths, label;
  bool binned = false;
};

/// A grid workload, or (naive) its reference: the naive loop over 1/kNaiveShare of the grid's
/// rows over the same bounds (the samples' range).
BenchWorkload grid_bench(const std::string& name, bool naive, const GridBench& bench,
                         std::uint64_t samples, const Scaling& scaling) {
  const std::uint64_t columns = bench.grid.cells[0];
  const std::uint64_t rows =
      naive ? std::max<std::uint64_t>(1, bench.grid.cells[1] / kNaiveShare) : bench.grid.cells[1];
  return {name,
          [=](Team& team, int p) {
            workloads::KdeOptions o;
            o.kernel = bench.kernel;
            o.samples = scaling.grown(samples, p);
            o.grid = bench.grid;
            o.grid->cells[1] = rows;
            o.widths = workloads::parse_widths(bench.widths);
            o.algo = naive ? workloads::KdeAlgo::naive : workloads::KdeAlgo::automatic;
            o.binned = bench.binned;
            return workloads::run_kde(team, o).seconds;
          },
          [=](int p) {
            return std::to_string(columns) + "x" + std::to_string(rows) + " grid, " +
                   std::to_string(scaling.grown(samples, p)) + " samples, " + bench.label +
                   (naive ? ", naive loop" : "");
          }};
}

/// The grid against its naive loop: seconds per query point, the loop's over the grid's.
BenchLimit naive_limit(const std::string& name, const BenchWorkload& naive, double reference_points,
                       double points) {
  return {naive.name, 0, [=, problem = naive.problem](int p, double seconds, double naive_seconds) {
            const double speedup = (naive_seconds / reference_points) / (seconds / points);
            std::string line;
            appendf(line, "%s at p = %d: %.1fx faster than the naive loop", name.c_str(), p,
                    speedup);
            return std::pair{
                nlohmann::json{{"reference_problem", problem(p)}, {"speedup_over_naive", speedup}},
                line};
          }};
}

/// A leave-one-out log-likelihood CV over `samples` (x sqrt(p) when weak).
BenchWorkload cv_bench(const std::string& name, kde::Kernel kernel, std::uint64_t samples,
                       const std::string& widths, const std::string& label, bool binned,
                       const Scaling& scaling) {
  return {
      name,
      [=](Team& team, int p) {
        workloads::KdeOptions o;
        o.kernel = kernel;
        o.binned = binned;
        if (binned) o.bin_cells = 1024;  // the narrowest width's default grid is 10^7 points
        o.samples = scaling.grown_sqrt(samples, p);
        o.widths = workloads::parse_widths(widths);
        o.cv = kde::CvMethod::loglik;
        return workloads::run_kde(team, o).cv_seconds;
      },
      [=](int p) { return std::to_string(scaling.grown_sqrt(samples, p)) + " samples, " + label; }};
}

/// The bench's KDE problems: the hypercube grid over 20 widths, and the Gaussian grid at one
/// width on half its cells along each axis (the usual way a smooth kernel is asked for).
struct KdeBenchProblems {
  GridBench hypercube, gaussian, binned;
  std::uint64_t samples = 0;

  BenchWorkload make(const std::string& name, const Scaling& scaling) const {
    if (name == "kde-grid" || name == "kde-gauss-grid") {
      const GridBench& grid = name == "kde-grid" ? hypercube : gaussian;
      const std::string reference = name == "kde-grid" ? "kde-naive" : "kde-gauss-naive";
      BenchWorkload w = grid_bench(name, false, grid, samples, scaling);
      const BenchWorkload naive = grid_bench(reference, true, grid, samples, scaling);
      const auto cells = static_cast<double>(grid.grid.cells[0] * grid.grid.cells[1]);
      const auto naive_cells = static_cast<double>(
          grid.grid.cells[0] * std::max<std::uint64_t>(1, grid.grid.cells[1] / kNaiveShare));
      w.limit = naive_limit(name, naive, naive_cells, cells);
      return w;
    }
    if (name == "kde-naive") return grid_bench(name, true, hypercube, samples, scaling);
    if (name == "kde-gauss-naive") return grid_bench(name, true, gaussian, samples, scaling);
    if (name == "kde-binned-grid") return grid_bench(name, false, binned, samples, scaling);
    if (name == "kde-gauss-cv" || name == "kde-binned-cv") {
      const bool is_binned = name == "kde-binned-cv";
      return cv_bench(name, kde::Kernel::gaussian,
                      std::max<std::uint64_t>(2, samples / kGaussCvShare), "0.05:1.0:20",
                      std::string("gaussian leave-one-out log-likelihood, 20 widths") +
                          (is_binned ? ", binned on 1024 x 1024" : ""),
                      is_binned, scaling);
    }
    return cv_bench(name, kde::Kernel::hypercube, samples, "0.4:2.0:40",
                    "leave-one-out log-likelihood, 40 widths", false, scaling);
  }
};

/// `parakit bench`'s KDE: hypercube and Gaussian grids and CVs, the binned approximations,
/// and with --limits the naive loop each grid is measured against.
std::function<BenchSuite()> add_kde_bench(CLI::App& bench) {
  struct Args {
    std::uint64_t samples = 10000;
    std::string grid = "200x200";
  };
  auto args = std::make_shared<Args>();
  bench.add_option("--kde-samples", args->samples, "kde: samples")
      ->capture_default_str()
      ->check(non_negative());
  bench
      .add_option("--kde-grid", args->grid,
                  "kde-grid: the grid (kde-gauss-grid: half its cells along each axis)")
      ->capture_default_str();
  return [args] {
    if (args->samples < 2) throw UsageError("--kde-samples must be at least 2");
    const workloads::GridSpec grid = workloads::parse_grid(args->grid);
    if (grid.cells.size() != 2) throw UsageError("--kde-grid must be 2-D (AxB)");
    KdeBenchProblems problems{
        {grid, kde::Kernel::hypercube, "0.2:1.0:20", "20 widths"},
        {grid, kde::Kernel::gaussian, kGaussWidth, std::string("gaussian h = ") + kGaussWidth},
        {},
        args->samples};
    for (auto& cells : problems.gaussian.grid.cells) cells = std::max<std::uint64_t>(1, cells / 2);
    problems.binned = problems.gaussian;
    problems.binned.binned = true;
    problems.binned.label += ", binned";
    BenchSuite suite;
    suite.names = {"kde-grid",     "kde-cv",          "kde-gauss-grid",
                   "kde-gauss-cv", "kde-binned-grid", "kde-binned-cv"};
    suite.in_all = {"kde-grid", "kde-cv", "kde-gauss-grid", "kde-gauss-cv"};
    suite.groups = {
        {"kde", {"kde-grid", "kde-cv"}},
        {"kde-gauss", {"kde-gauss-grid", "kde-gauss-cv", "kde-binned-grid", "kde-binned-cv"}}};
    suite.references = [](const std::string& name) {
      if (name == "kde-grid") return std::vector<std::string>{"kde-naive"};
      if (name == "kde-gauss-grid") return std::vector<std::string>{"kde-gauss-naive"};
      return std::vector<std::string>{};
    };
    suite.make = [problems](const std::string& name, const Scaling& scaling) {
      return problems.make(name, scaling);
    };
    return suite;
  };
}

}  // namespace

WorkloadSpec kde_workload() {
  return {"kde", "Parzen kernel density estimate over many window widths", add_kde_options,
          add_kde_bench};
}

}  // namespace parakit::cli
