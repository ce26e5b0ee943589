// The only source that includes the generated header, so a new commit recompiles this file
// alone.
#include "cli.hpp"
#include "parakit_git_commit.hpp"

namespace parakit::cli {

const char* git_commit() noexcept {
  return PARAKIT_GIT_COMMIT;
}

}  // namespace parakit::cli
