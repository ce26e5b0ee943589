#include "parakit/core/parse.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <string>

#include "parakit/core/error.hpp"

namespace parakit {
namespace {

[[noreturn]] void bad_count(std::string_view text, std::string_view what, std::string_view why) {
  throw UsageError(std::string(what) + " must be " + std::string(why) + ", got '" +
                   std::string(text) + "'");
}

}  // namespace

std::uint64_t parse_count(std::string_view text, std::string_view what) {
  std::string clean;
  for (char c : text) {
    if (c != '_') clean.push_back(c);
  }
  if (clean.empty()) bad_count(text, what, "a non-negative integer");
  if (clean.front() == '-') bad_count(text, what, "non-negative");
  if (clean.front() == '+') clean.erase(0, 1);

  const std::size_t caret = clean.find('^');
  if (caret != std::string::npos) {  // base^exponent, both plain integers
    std::uint64_t base = 0;
    unsigned exponent = 0;
    const char* b = clean.data();
    const char* mid = b + caret;
    const char* e = b + clean.size();
    auto r1 = std::from_chars(b, mid, base);
    auto r2 = std::from_chars(mid + 1, e, exponent);
    if (r1.ec != std::errc() || r1.ptr != mid || r2.ec != std::errc() || r2.ptr != e) {
      bad_count(text, what, "a non-negative integer such as 1000, 1e9 or 2^26");
    }
    long double value = std::pow(static_cast<long double>(base), exponent);
    if (value > 9223372036854775808.0L) bad_count(text, what, "at most 2^63");
    std::uint64_t result = 1;
    for (unsigned i = 0; i < exponent; ++i) result *= base;
    return exponent == 0 ? 1 : result;
  }

  std::uint64_t integer = 0;
  const char* b = clean.data();
  const char* e = b + clean.size();
  auto r = std::from_chars(b, e, integer);
  if (r.ec == std::errc() && r.ptr == e) {
    if (integer > (std::uint64_t{1} << 63)) bad_count(text, what, "at most 2^63");
    return integer;
  }
  if (r.ec == std::errc::result_out_of_range) bad_count(text, what, "at most 2^63");

  // Floating forms such as 1e9 or 2.5e6: accept only exact integers.
  double value = 0;
  auto rf = std::from_chars(b, e, value);
  if (rf.ec != std::errc() || rf.ptr != e || !std::isfinite(value)) {
    bad_count(text, what, "a non-negative integer such as 1000, 1e9 or 2^26");
  }
  if (value != std::floor(value)) bad_count(text, what, "a whole number");
  if (value > 9223372036854775808.0) bad_count(text, what, "at most 2^63");
  return static_cast<std::uint64_t>(value);
}

double parse_seconds(std::string_view text, std::string_view what) {
  const std::string clean(text);
  double value = 0;
  const char* begin = clean.data();
  const char* end = begin + clean.size();
  const auto [ptr, ec] = std::from_chars(begin, end, value);
  const std::string_view unit(ptr, static_cast<std::size_t>(end - ptr));
  double scale = 0;
  if (unit.empty() || unit == "s")
    scale = 1;
  else if (unit == "ms")
    scale = 1e-3;
  else if (unit == "us")
    scale = 1e-6;
  else if (unit == "ns")
    scale = 1e-9;
  else if (unit == "m" || unit == "min")
    scale = 60;
  else if (unit == "h")
    scale = 3600;
  if (ec != std::errc() || ptr == begin || scale == 0 || !std::isfinite(value) || value < 0) {
    throw UsageError(std::string(what) + " must be a duration such as 1.5, 20ms or 2s, got '" +
                     clean + "'");
  }
  return value * scale;
}

std::string format_bytes(double bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  int unit = 0;
  while (bytes >= 1024.0 && unit < 6) {
    bytes /= 1024.0;
    ++unit;
  }
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, unit == 0 ? "%.0f %s" : "%.1f %s", bytes, kUnits[unit]);
  return buffer;
}

std::string format_short(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", value);
  return text;
}

}  // namespace parakit
