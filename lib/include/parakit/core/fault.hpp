// Fault injection for drills and tests: PARAKIT_FAULT="<site>[#<n>]:<kind>@<rank>" makes the
// named site on that rank fail, the n-th time it is reached (default: the first). Kinds:
// "error" throws InputError (a clean, agreed error), "crash" throws std::runtime_error (an
// unexpected failure that must still end the whole job), "kill" is for sites that act out a
// hard death themselves (the journal writer: SIGKILL in the middle of writing a record).
// Unset in normal runs; costs one getenv per call of inject_fault.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace parakit {

/// What PARAKIT_FAULT asks of one site on one rank.
struct FaultPlan {
  std::string kind;       ///< "error", "crash", "kill", ...
  std::uint64_t hit = 1;  ///< on the hit-th time the site is reached (1-based)
};

/// The fault PARAKIT_FAULT plans for `site` on `rank`, if any (a malformed spec plans none).
std::optional<FaultPlan> planned_fault(std::string_view site, int rank);

/// Throws at `site` when PARAKIT_FAULT names it and this rank, with kind error or crash.
/// Counts nothing: a "#n" in the spec is for sites that count their own hits.
void inject_fault(std::string_view site, int rank);

}  // namespace parakit
