#include "parakit/sys/error_text.hpp"

#include <cstring>

namespace parakit::sys {
namespace {

// strerror_r comes in two flavours: GNU returns the text, XSI fills the buffer.
[[maybe_unused]] std::string pick(const char* text, const char* /*buffer*/, int /*err*/) {
  return text;
}
[[maybe_unused]] std::string pick(int rc, const char* buffer, int err) {
  return rc == 0 ? std::string(buffer) : "error " + std::to_string(err);
}

}  // namespace

std::string errno_text(int err) {
  char buffer[256] = {};
  return pick(::strerror_r(err, buffer, sizeof buffer), buffer, err);
}

}  // namespace parakit::sys
