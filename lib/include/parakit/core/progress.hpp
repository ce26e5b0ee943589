// A progress line for long-running work: done of total, the rate and the time left, written
// by one process (the caller decides which: rank 0) on stderr. On a terminal one line is
// rewritten in place ("\r"); otherwise (a batch job's log) one newline-terminated line is
// written every ProgressOptions::interval seconds. A final line says what finished.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

namespace parakit {

/// Whether and how often a Progress reports.
struct ProgressOptions {
  /// Report at all. Callers enable it on one process only (rank 0), so the line appears once.
  bool enabled = false;
  /// Seconds between lines when the stream is not a terminal (> 0); on a terminal the line is
  /// rewritten every quarter second.
  double interval = 10.0;
  /// Throws UsageError unless `interval` is a positive, finite number of seconds.
  void check() const;
};

/// What a Progress counts: items (tasks, blocks, points; the name is given) or bytes, whose
/// counts and rate are written in MB or GB.
enum class ProgressUnit { items, bytes };

/// Counts work done of a known total and reports it now and then. advance() and update() may
/// be called from any thread, cheaply: one atomic addition and a clock reading, and the thread
/// that finds a line due writes it (the others never wait). A default-constructed or disabled
/// Progress does nothing and costs a branch per call.
class Progress {
 public:
  /// Disabled.
  Progress() noexcept;
  /// `label` starts every line ("kde", "farm"), `total` is the work expected (0: unknown),
  /// `unit` names the items in the rate ("tasks", "blocks"; ignored for bytes), `already` is
  /// work done before this run (a resumed journal): it counts as done but not in the rate.
  Progress(const ProgressOptions& options, std::string label, std::uint64_t total,
           std::string unit = "tasks", ProgressUnit kind = ProgressUnit::items,
           std::uint64_t already = 0);
  Progress(Progress&&) noexcept;
  Progress& operator=(Progress&&) noexcept;
  ~Progress();

  /// Writes to `stream` instead of stderr, as a terminal or not (default: isatty(stderr)).
  /// For tests; call before any other member.
  void redirect(std::FILE* stream, bool terminal);

  bool enabled() const noexcept { return state_ != nullptr; }
  /// Adds `n` to the work done (any thread).
  void advance(std::uint64_t n = 1) noexcept;
  /// Sets the work done to `done` (any thread).
  void update(std::uint64_t done) noexcept;
  /// Sets the text shown after the counts: the step the work is in ("ring step 2/4").
  void stage(std::string text);
  /// Changes the expected total (a later phase found more work).
  void set_total(std::uint64_t total) noexcept;
  std::uint64_t done() const noexcept;
  std::uint64_t total() const noexcept;
  /// Writes the final line, "label: <what>: done/total (x%)  rate  in m:ss", where `what` says
  /// what finished ("finished", "stopped", "finished grid"). Only the first call writes.
  void finish(const std::string& what = "finished");

 private:
  struct State;
  void poll(std::uint64_t done) noexcept;
  std::unique_ptr<State> state_;
};

/// "m:ss", or "h:mm:ss" from an hour; "?" for a negative or non-finite time.
std::string format_duration(double seconds);

}  // namespace parakit
