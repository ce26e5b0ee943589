// Fault injection for drills and tests: PARAKIT_FAULT="<site>:<kind>@<rank>" makes the named
// site on that rank fail. Kinds: "error" throws InputError (a clean, agreed error), "crash"
// throws std::runtime_error (an unexpected failure that must still end the whole job).
// Unset in normal runs; costs one getenv per call site.
#pragma once

#include <string_view>

namespace parakit {

/// Throws at `site` when PARAKIT_FAULT names it and this rank.
void inject_fault(std::string_view site, int rank);

}  // namespace parakit
