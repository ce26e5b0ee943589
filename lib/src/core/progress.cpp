#include "parakit/core/progress.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <mutex>
#include <utility>

#include "parakit/core/error.hpp"

namespace parakit {
namespace {

std::int64_t now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

/// A count in the unit: items as they are, bytes in MB or GB (chosen by `scale`'s size).
std::string amount(std::uint64_t value, ProgressUnit kind, double scale) {
  char buffer[48];
  if (kind == ProgressUnit::items) {
    std::snprintf(buffer, sizeof buffer, "%llu", static_cast<unsigned long long>(value));
  } else {
    std::snprintf(buffer, sizeof buffer, "%.2f", static_cast<double>(value) / scale);
  }
  return buffer;
}

}  // namespace

struct Progress::State {
  std::atomic<std::uint64_t> done{0};
  std::atomic<std::uint64_t> total{0};
  std::atomic<std::int64_t> next_ns{0};  // when the next line is due
  std::atomic<bool> finished{false};
  std::mutex mutex;  // one writer at a time; guards what follows
  std::string label, unit, stage;
  ProgressUnit kind = ProgressUnit::items;
  std::uint64_t already = 0;
  double interval = 10.0;
  std::int64_t start_ns = 0, period_ns = 0;
  std::FILE* stream = stderr;
  bool terminal = false;

  void write(std::uint64_t count, bool last, const std::string& what);
};

void Progress::State::write(std::uint64_t count, bool last, const std::string& what) {
  const double elapsed = static_cast<double>(now_ns() - start_ns) * 1e-9;
  const std::uint64_t all = total.load(std::memory_order_relaxed);
  const double fresh = static_cast<double>(count - std::min(count, already));
  const double rate = elapsed > 0 ? fresh / elapsed : 0;
  const double left = static_cast<double>(all - std::min(count, all));
  const double percent =
      all == 0 ? 100.0
               : 100.0 * static_cast<double>(std::min(count, all)) / static_cast<double>(all);
  const bool bytes = kind == ProgressUnit::bytes;
  const double scale = bytes && std::max(all, count) >= (std::uint64_t{1} << 30) ? 1e9 : 1e6;
  const char* size_unit = scale == 1e9 ? " GB" : " MB";
  std::string line = label + ": ";
  if (last) line += (what.empty() ? std::string("finished") : what) + ": ";
  line += amount(count, kind, scale) + "/" + (all == 0 ? "?" : amount(all, kind, scale));
  if (bytes) line += size_unit;
  char tail[160];
  std::snprintf(tail, sizeof tail, " (%.1f%%)", percent);
  line += tail;
  if (!stage.empty() && !last) line += "  " + stage;
  if (bytes) {
    const bool fast = rate >= 1e9;
    std::snprintf(tail, sizeof tail, "  %.3g %s/s", rate / (fast ? 1e9 : 1e6), fast ? "GB" : "MB");
  } else {
    std::snprintf(tail, sizeof tail, rate >= 100 ? "  %.0f %s/s" : "  %.3g %s/s", rate,
                  unit.c_str());
  }
  line += tail;
  line += last ? "  in " + format_duration(elapsed)
               : "  ETA " + format_duration(rate > 0 ? left / rate : -1);
  if (terminal) {
    std::fprintf(stream, "\r%-79s%s", line.c_str(), last ? "\n" : "");
  } else {
    std::fprintf(stream, "%s\n", line.c_str());
  }
  std::fflush(stream);
}

void ProgressOptions::check() const {
  if (!(interval > 0) || !std::isfinite(interval)) {
    throw UsageError("ProgressOptions::interval must be a positive number of seconds");
  }
}

Progress::Progress() noexcept = default;
Progress::Progress(Progress&&) noexcept = default;
Progress& Progress::operator=(Progress&&) noexcept = default;
Progress::~Progress() = default;

Progress::Progress(const ProgressOptions& options, std::string label, std::uint64_t total,
                   std::string unit, ProgressUnit kind, std::uint64_t already) {
  if (!options.enabled) return;
  state_ = std::make_unique<State>();
  state_->label = std::move(label);
  state_->unit = std::move(unit);
  state_->kind = kind;
  state_->already = already;
  state_->done.store(already, std::memory_order_relaxed);
  state_->total.store(total, std::memory_order_relaxed);
  state_->interval = options.interval;
  state_->start_ns = now_ns();
  redirect(stderr, isatty(STDERR_FILENO) == 1);
}

void Progress::redirect(std::FILE* stream, bool terminal) {
  if (!state_) return;
  state_->stream = stream;
  state_->terminal = terminal;
  state_->period_ns = static_cast<std::int64_t>((terminal ? 0.25 : state_->interval) * 1e9);
  state_->next_ns.store(state_->start_ns + state_->period_ns, std::memory_order_relaxed);
}

void Progress::advance(std::uint64_t n) noexcept {
  if (!state_) return;
  poll(state_->done.fetch_add(n, std::memory_order_relaxed) + n);
}

void Progress::update(std::uint64_t done) noexcept {
  if (!state_) return;
  state_->done.store(done, std::memory_order_relaxed);
  poll(done);
}

std::uint64_t Progress::done() const noexcept {
  return state_ ? state_->done.load(std::memory_order_relaxed) : 0;
}

std::uint64_t Progress::total() const noexcept {
  return state_ ? state_->total.load(std::memory_order_relaxed) : 0;
}

void Progress::set_total(std::uint64_t total) noexcept {
  if (state_) state_->total.store(total, std::memory_order_relaxed);
}

void Progress::stage(std::string text) {
  if (!state_) return;
  const std::lock_guard lock(state_->mutex);
  state_->stage = std::move(text);
}

/// Writes a line if one is due and no other thread is writing one.
void Progress::poll(std::uint64_t done) noexcept {
  State& s = *state_;
  const std::int64_t now = now_ns();
  std::int64_t due = s.next_ns.load(std::memory_order_relaxed);
  if (now < due || s.finished.load(std::memory_order_relaxed)) return;
  // One thread claims this line; the others go back to work at once.
  if (!s.next_ns.compare_exchange_strong(due, now + s.period_ns, std::memory_order_relaxed)) {
    return;
  }
  const std::unique_lock lock(s.mutex, std::try_to_lock);
  if (!lock.owns_lock() || s.finished.load(std::memory_order_relaxed)) return;
  try {
    s.write(done, false, "");
  } catch (...) {  // a line that could not be formatted (out of memory) is skipped
  }
}

void Progress::finish(const std::string& what) {
  if (!state_ || state_->finished.exchange(true)) return;
  const std::lock_guard lock(state_->mutex);
  state_->write(state_->done.load(std::memory_order_relaxed), true, what);
}

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const long long s = std::llround(seconds);
  char buffer[32];
  if (s >= 3600) {
    std::snprintf(buffer, sizeof buffer, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
  } else {
    std::snprintf(buffer, sizeof buffer, "%lld:%02lld", s / 60, s % 60);
  }
  return buffer;
}

}  // namespace parakit
