// The text of an errno value, for one-line error messages.
#pragma once

#include <string>

namespace parakit::sys {

/// strerror(err) ("No such file or directory"), safe to call from several threads at once.
std::string errno_text(int err);

}  // namespace parakit::sys
