#include "parakit/io/hash.hpp"

// xxHash as a header-only library (its documented XXH_INLINE_ALL mode): nothing to link, and
// the short inputs of the farm (8-byte results) are hashed without a call into a shared object.
#define XXH_INLINE_ALL
#include <xxhash.h>

#include <new>

namespace parakit::io {

struct StreamHash::State {
  XXH3_state_t xxh;
};

std::uint64_t hash_bytes(std::span<const std::byte> data) noexcept {
  return XXH3_64bits(data.data(), data.size());
}

std::uint64_t hash_u64(std::uint64_t value, std::uint64_t seed) noexcept {
  std::byte bytes[8];
  put_le(bytes, value);
  return XXH3_64bits_withSeed(bytes, sizeof bytes, seed);
}

StreamHash::StreamHash() : state_(std::make_unique<State>()) {
  XXH3_64bits_reset(&state_->xxh);
}
StreamHash::~StreamHash() = default;
StreamHash::StreamHash(StreamHash&&) noexcept = default;
StreamHash& StreamHash::operator=(StreamHash&&) noexcept = default;

void StreamHash::add(std::span<const std::byte> data) noexcept {
  XXH3_64bits_update(&state_->xxh, data.data(), data.size());
}

void StreamHash::add_u64(std::uint64_t value) noexcept {
  std::byte bytes[8];
  put_le(bytes, value);
  XXH3_64bits_update(&state_->xxh, bytes, sizeof bytes);
}

std::uint64_t StreamHash::value() const noexcept {
  return XXH3_64bits_digest(&state_->xxh);
}

}  // namespace parakit::io
