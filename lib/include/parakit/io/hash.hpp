// Stable 64-bit digests of bytes (xxHash's XXH3-64, seed 0): the same on every machine, run and
// build. Task-list identities, result digests, the farm checksum and journal records use them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

namespace parakit::io {

/// XXH3-64 of `data`.
std::uint64_t hash_bytes(std::span<const std::byte> data) noexcept;
inline std::uint64_t hash_bytes(std::string_view text) noexcept {
  return hash_bytes(std::as_bytes(std::span(text.data(), text.size())));
}

/// XXH3-64 of the 8 little-endian bytes of `value`, with a seed: a fast stable mix of one word.
std::uint64_t hash_u64(std::uint64_t value, std::uint64_t seed) noexcept;

/// Stores `value`'s bytes little-endian at `out` (the byte order hashed values are given in, on
/// every machine); returns the byte after them.
template <class T>
std::byte* put_le(std::byte* out, T value) noexcept {
  for (std::size_t i = 0; i < sizeof(T); ++i) {
    out[i] = static_cast<std::byte>(static_cast<std::uint64_t>(value) >> (8 * i));
  }
  return out + sizeof(T);
}

/// XXH3-64 of bytes given in pieces: equal to hash_bytes of the pieces put end to end.
class StreamHash {
 public:
  StreamHash();
  ~StreamHash();
  StreamHash(StreamHash&&) noexcept;
  StreamHash& operator=(StreamHash&&) noexcept;
  StreamHash(const StreamHash&) = delete;
  StreamHash& operator=(const StreamHash&) = delete;

  void add(std::span<const std::byte> data) noexcept;
  /// Adds the 8 little-endian bytes of `value`.
  void add_u64(std::uint64_t value) noexcept;
  /// The digest of everything added so far (more may be added afterwards).
  std::uint64_t value() const noexcept;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace parakit::io
