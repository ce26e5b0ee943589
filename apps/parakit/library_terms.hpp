// The library names its options in its own terms (FarmOptions::chunk, kde::Kernel); the
// command line shows the flag a user typed instead. Every term the library's messages use is
// in the table in library_terms.cpp (tests/docs/check_library_terms.py checks both ways).
#pragma once

#include <string>
#include <string_view>

namespace parakit::cli {

/// `message` with every library term replaced by its flag ("FarmOptions::chunk must be at
/// least 1" -> "--chunk must be at least 1"). Terms are matched whole, not inside longer names.
std::string in_cli_terms(std::string_view message);

}  // namespace parakit::cli
