#include "parakit/core/buffer.hpp"

#include <sys/mman.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "parakit/core/error.hpp"
#include "parakit/core/parse.hpp"

namespace parakit::detail {

namespace {
constexpr std::size_t kHugePage = std::size_t{2} << 20;
}

void* allocate_large(std::size_t count, std::size_t size) {
  if (count == 0) return nullptr;
  if (count > (SIZE_MAX - kHugePage) / size) {
    throw InputError("cannot allocate " + std::to_string(count) + " elements of " +
                     std::to_string(size) + " bytes: the size overflows");
  }
  const std::size_t bytes = count * size;
  const std::size_t rounded = (bytes + kHugePage - 1) / kHugePage * kHugePage;
  void* pointer = std::aligned_alloc(kHugePage, rounded);
  if (pointer == nullptr) {
    throw InputError("cannot allocate " + format_bytes(static_cast<double>(bytes)) +
                     " for the array");
  }
#ifdef MADV_HUGEPAGE
  madvise(pointer, rounded, MADV_HUGEPAGE);  // advisory: failure is harmless
#endif
  return pointer;
}

void free_large(void* pointer) noexcept {
  std::free(pointer);
}

}  // namespace parakit::detail
