// Facts about the process and the node it runs on.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace parakit {

/// CPUs this process may run on (its affinity mask), at least 1.
int affinity_cpu_count() noexcept;

/// Bytes this process could still allocate on its node: MemAvailable from /proc/meminfo,
/// lowered to the cgroup (v2 or v1) limit minus current usage when one is set. Empty when
/// unknown.
std::optional<std::uint64_t> available_memory_bytes();

/// The node's host name.
std::string host_name();

/// Reads an environment variable; empty optional when unset.
std::optional<std::string> env(const char* name);

}  // namespace parakit
