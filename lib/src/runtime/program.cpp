#include "parakit/runtime/program.hpp"

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>

#include "parakit/backend/collective.hpp"
#include "parakit/core/error.hpp"
#include "parakit/core/parse.hpp"

namespace parakit {

int run_program(std::string_view name, int argc, char** argv,
                const std::function<int(Team&, std::span<char* const> args)>& body,
                const RuntimeOptions& options) {
  const std::string prefix(name);
  // The environment (MPI) outlives the error handling below, so that rank 0's message is out
  // before any rank finalizes MPI and exits.
  std::optional<Environment> env;
  try {
    RuntimeOptions resolved = options;
    if (const char* backend = std::getenv("PARAKIT_BACKEND");
        backend != nullptr && resolved.backend == "auto")
      resolved.backend = backend;
    if (const char* threads = std::getenv("PARAKIT_THREADS");
        threads != nullptr && !resolved.threads) {
      const std::uint64_t count = parse_count(threads, "PARAKIT_THREADS");
      if (count < 1 || count > 4096) throw UsageError("PARAKIT_THREADS must be 1 to 4096");
      resolved.threads = static_cast<int>(count);
    }
    env.emplace(resolved);
  } catch (const std::exception& error) {
    // Every rank fails alike here (MPI may not even be up): the launcher's rank 0 says so.
    if (launcher_rank() == 0) std::fprintf(stderr, "%s: %s\n", prefix.c_str(), error.what());
    const auto* known = dynamic_cast<const Error*>(&error);
    return known != nullptr ? known->exit_code() : kExitInternal;
  }
  const Comm world = env->world();
  try {
    Team team = env->make_team();
    const std::span<char* const> args(argv + (argc > 0 ? 1 : 0),
                                      static_cast<std::size_t>(argc > 0 ? argc - 1 : 0));
    return body(team, args);
  } catch (const AgreedError& error) {
    if (world.rank() == 0) std::fprintf(stderr, "%s: %s\n", prefix.c_str(), error.what());
    return error.exit_code();
  } catch (const std::exception& error) {
    std::fprintf(stderr, "%s: %s\n", prefix.c_str(), error.what());
    const auto* known = dynamic_cast<const Error*>(&error);
    const int code = known != nullptr ? known->exit_code() : kExitInternal;
    if (world.size() > 1) world.abort(code);
    return code;
  }
}

}  // namespace parakit
