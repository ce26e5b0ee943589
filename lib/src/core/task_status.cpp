#include "parakit/core/task_status.hpp"

namespace parakit {

std::string_view to_string(TaskStatus status) noexcept {
  switch (status) {
    case TaskStatus::ok:
      return "ok";
    case TaskStatus::failed:
      return "failed";
    case TaskStatus::timed_out:
      return "timed_out";
    case TaskStatus::interrupted:
      return "interrupted";
  }
  return "unknown";
}

}  // namespace parakit
