// Facts about the process and the node it runs on.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace parakit {

/// CPUs this process may run on (its affinity mask), at least 1.
int affinity_cpu_count() noexcept;

/// Bytes this process could still allocate on its node: MemAvailable from /proc/meminfo,
/// lowered to the cgroup (v2 or v1) limit minus current usage when one is set. Empty when
/// unknown.
std::optional<std::uint64_t> available_memory_bytes();

/// Refuses work that cannot fit before allocating it: throws InputError ("<what> needs X of
/// memory on <host> but only Y is available") when `bytes_on_node` exceeds 90% of
/// available_memory_bytes(). Does nothing when the available memory is unknown.
void require_memory(long double bytes_on_node, std::string_view what);

/// The largest resident set this process has had so far, in bytes (getrusage's ru_maxrss).
std::uint64_t peak_rss_bytes() noexcept;

/// The node's host name.
std::string host_name();

/// Reads an environment variable; empty optional when unset.
std::optional<std::string> env(const char* name);

}  // namespace parakit
