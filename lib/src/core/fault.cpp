#include "parakit/core/fault.hpp"

#include <charconv>
#include <stdexcept>
#include <string>

#include "parakit/core/error.hpp"
#include "parakit/core/system.hpp"

namespace parakit {

std::optional<FaultPlan> planned_fault(std::string_view site, int rank) {
  const auto spec = env("PARAKIT_FAULT");
  if (!spec) return std::nullopt;
  const std::string_view text(*spec);
  const auto colon = text.find(':');
  const auto at = text.find('@');
  if (colon == std::string_view::npos || at == std::string_view::npos || at < colon) {
    return std::nullopt;
  }
  std::string_view name = text.substr(0, colon);
  FaultPlan plan;
  if (const auto hash = name.find('#'); hash != std::string_view::npos) {
    const std::string_view count = name.substr(hash + 1);
    const auto [end, ec] = std::from_chars(count.data(), count.data() + count.size(), plan.hit);
    if (ec != std::errc() || end != count.data() + count.size() || plan.hit == 0) {
      return std::nullopt;
    }
    name = name.substr(0, hash);
  }
  if (name != site || text.substr(at + 1) != std::to_string(rank)) return std::nullopt;
  plan.kind = std::string(text.substr(colon + 1, at - colon - 1));
  return plan;
}

void inject_fault(std::string_view site, int rank) {
  const auto plan = planned_fault(site, rank);
  if (!plan) return;
  const std::string where =
      "injected fault at " + std::string(site) + " on rank " + std::to_string(rank);
  if (plan->kind == "error") throw InputError(where);
  if (plan->kind == "crash") throw std::runtime_error(where);
}

}  // namespace parakit
