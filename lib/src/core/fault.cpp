#include "parakit/core/fault.hpp"

#include <stdexcept>
#include <string>

#include "parakit/core/error.hpp"
#include "parakit/core/system.hpp"

namespace parakit {

void inject_fault(std::string_view site, int rank) {
  const auto spec = env("PARAKIT_FAULT");
  if (!spec) return;
  const auto colon = spec->find(':');
  const auto at = spec->find('@');
  if (colon == std::string::npos || at == std::string::npos || at < colon) return;
  if (std::string_view(*spec).substr(0, colon) != site) return;
  if (spec->substr(at + 1) != std::to_string(rank)) return;
  const std::string kind = spec->substr(colon + 1, at - colon - 1);
  const std::string where =
      "injected fault at " + std::string(site) + " on rank " + std::to_string(rank);
  if (kind == "error") throw InputError(where);
  if (kind == "crash") throw std::runtime_error(where);
}

}  // namespace parakit
