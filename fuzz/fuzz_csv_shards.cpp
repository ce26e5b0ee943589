// libFuzzer entry point for parakit::fuzz::fuzz_csv_shards (targets.hpp).
#include "targets.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return parakit::fuzz::fuzz_csv_shards(data, size);
}
