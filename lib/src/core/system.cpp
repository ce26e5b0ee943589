#include "parakit/core/system.hpp"

#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "parakit/core/error.hpp"
#include "parakit/core/parse.hpp"

namespace parakit {
namespace {

std::optional<std::uint64_t> read_number_file(const char* path) {
  std::ifstream in(path);
  std::string text;
  if (!(in >> text) || text == "max") return std::nullopt;
  try {
    return std::stoull(text);
  } catch (...) {
    return std::nullopt;
  }
}

std::optional<std::uint64_t> cgroup_headroom() {
  // cgroup v2, then v1. A limit of "max" (or a v1 limit near 2^63) means none.
  auto limit = read_number_file("/sys/fs/cgroup/memory.max");
  auto usage = read_number_file("/sys/fs/cgroup/memory.current");
  if (!limit) {
    limit = read_number_file("/sys/fs/cgroup/memory/memory.limit_in_bytes");
    usage = read_number_file("/sys/fs/cgroup/memory/memory.usage_in_bytes");
  }
  if (!limit || *limit >= (std::uint64_t{1} << 60)) return std::nullopt;
  const std::uint64_t used = usage.value_or(0);
  return used >= *limit ? 0 : *limit - used;
}

}  // namespace

std::uint64_t peak_rss_bytes() noexcept {
  struct rusage usage {};
  if (::getrusage(RUSAGE_SELF, &usage) != 0) return 0;
  return static_cast<std::uint64_t>(usage.ru_maxrss) * 1024;  // Linux reports KiB
}

int affinity_cpu_count() noexcept {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    const int count = CPU_COUNT(&set);
    if (count > 0) return count;
  }
  const long online = sysconf(_SC_NPROCESSORS_ONLN);
  return online > 0 ? static_cast<int>(online) : 1;
}

std::optional<std::uint64_t> available_memory_bytes() {
  std::optional<std::uint64_t> available;
  std::ifstream meminfo("/proc/meminfo");
  std::string line;
  while (std::getline(meminfo, line)) {
    if (line.rfind("MemAvailable:", 0) == 0) {
      std::istringstream fields(line.substr(13));
      std::uint64_t kib = 0;
      if (fields >> kib) available = kib * 1024;
      break;
    }
  }
  if (auto headroom = cgroup_headroom()) {
    available = available ? std::min(*available, *headroom) : *headroom;
  }
  return available;
}

std::string host_name() {
  char buffer[256] = {};
  if (gethostname(buffer, sizeof buffer - 1) != 0) return "unknown";
  return buffer;
}

std::optional<std::string> env(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

void require_memory(long double bytes_on_node, std::string_view what) {
  const auto available = available_memory_bytes();
  if (!available) return;
  if (bytes_on_node > 0.9L * static_cast<long double>(*available)) {
    throw InputError(std::string(what) + " needs " +
                     format_bytes(static_cast<double>(bytes_on_node)) + " of memory on " +
                     host_name() + " but only " + format_bytes(static_cast<double>(*available)) +
                     " is available");
  }
}

}  // namespace parakit
