// Parsers for the numbers users type on command lines and in job scripts.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace parakit {

/// Parses a non-negative element count: "1000", "1e9", "2.5e6", "2^26", "1_000_000".
/// The value must be an exact integer <= 2^63. Throws UsageError naming `what` otherwise.
std::uint64_t parse_count(std::string_view text, std::string_view what);

/// Parses a non-negative duration in seconds: "1.5", "1.5s", "20ms", "100us", "250ns",
/// "2m", "1h". Throws UsageError naming `what` for anything else (including NaN and inf).
double parse_seconds(std::string_view text, std::string_view what);

/// A blank around values and commands: space, tab, vertical tab, form feed or carriage return
/// (a newline is not: it ends the line).
constexpr bool is_blank(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r';
}

/// `text` without its leading and trailing blanks.
constexpr std::string_view trim_blanks(std::string_view text) noexcept {
  std::size_t first = 0;
  std::size_t last = text.size();
  while (first < last && is_blank(text[first])) ++first;
  while (last > first && is_blank(text[last - 1])) --last;
  return text.substr(first, last - first);
}

/// Formats a byte count for people: "512 MiB", "7.5 GiB".
std::string format_bytes(double bytes);

/// A number for messages and labels: printf's "%g" (6 significant digits).
std::string format_short(double value);

}  // namespace parakit
