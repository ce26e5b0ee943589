// Byte encoding of task and result values, for farm messages and journal records.
//
// Arithmetic types, enums and padding-free trivially copyable structs are copied as their
// bytes (the fast path: an 8-byte task costs a memcpy); std::string is a length and its bytes;
// anything else goes through a Boost.Serialization binary archive. Every encoding is
// self-delimiting, so values can be packed back to back in one buffer.
#pragma once

#include <algorithm>
#include <boost/archive/binary_iarchive.hpp>
#include <boost/archive/binary_oarchive.hpp>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "parakit/core/error.hpp"

namespace parakit::io {

namespace detail {
/// Types whose object bytes are their value: copied with memcpy, hashed as bytes.
template <class T>
inline constexpr bool kBitwiseCodable = std::is_arithmetic_v<T> || std::is_enum_v<T> ||
                                        (std::is_trivially_copyable_v<T> &&
                                         std::has_unique_object_representations_v<T>);

constexpr int kArchiveFlags = boost::archive::no_header | boost::archive::no_codecvt;
}  // namespace detail

/// Appends encodings to a growable byte buffer.
class Encoder {
 public:
  explicit Encoder(std::vector<std::byte>& out) : out_(out) {}

  void bytes(const void* data, std::size_t size) {
    const std::size_t at = out_.size();
    out_.resize(at + size);
    if (size != 0) std::memcpy(out_.data() + at, data, size);
  }
  template <class T>
  requires detail::kBitwiseCodable<T>
  void raw(const T& value) { bytes(&value, sizeof(T)); }

  void put(std::string_view text) {
    raw(static_cast<std::uint64_t>(text.size()));
    bytes(text.data(), text.size());
  }
  template <class T>
  void put(const T& value) {
    if constexpr (detail::kBitwiseCodable<T>) {
      raw(value);
    } else if constexpr (std::is_same_v<T, std::string>) {
      put(std::string_view(value));
    } else {
      std::ostringstream stream(std::ios::binary);
      {
        boost::archive::binary_oarchive archive(stream, detail::kArchiveFlags);
        archive << value;
      }
      put(std::string_view(stream.view()));
    }
  }

 private:
  std::vector<std::byte>& out_;
};

/// Reads encodings back, in order. Running past the end throws InputError (a short or
/// corrupt buffer never reads out of bounds).
class Decoder {
 public:
  explicit Decoder(std::span<const std::byte> in) : in_(in) {}

  bool empty() const noexcept { return pos_ == in_.size(); }
  std::size_t remaining() const noexcept { return in_.size() - pos_; }
  std::size_t position() const noexcept { return pos_; }
  /// The bytes consumed from `from` up to the current position.
  std::span<const std::byte> consumed_since(std::size_t from) const {
    return in_.subspan(from, pos_ - from);
  }

  std::span<const std::byte> bytes(std::size_t size) {
    if (size > remaining()) throw InputError("truncated encoded value");
    const auto out = in_.subspan(pos_, size);
    pos_ += size;
    return out;
  }
  template <class T>
  requires detail::kBitwiseCodable<T> T raw() {
    T value;
    std::memcpy(&value, bytes(sizeof(T)).data(), sizeof(T));
    return value;
  }
  std::string_view text() {
    const auto size = raw<std::uint64_t>();
    const auto data =
        bytes(static_cast<std::size_t>(std::min<std::uint64_t>(size, remaining() + 1)));
    return {reinterpret_cast<const char*>(data.data()), data.size()};
  }
  template <class T>
  T get() {
    if constexpr (detail::kBitwiseCodable<T>) {
      return raw<T>();
    } else if constexpr (std::is_same_v<T, std::string>) {
      return std::string(text());
    } else {
      const std::string_view data = text();
      std::istringstream stream(std::string(data), std::ios::binary);
      T value{};
      try {
        boost::archive::binary_iarchive archive(stream, detail::kArchiveFlags);
        archive >> value;
      } catch (const std::exception& error) {
        throw InputError(std::string("corrupt encoded value: ") + error.what());
      }
      return value;
    }
  }

 private:
  std::span<const std::byte> in_;
  std::size_t pos_ = 0;
};

/// The encoding of one value.
template <class T>
std::vector<std::byte> encode(const T& value) {
  std::vector<std::byte> out;
  Encoder(out).put(value);
  return out;
}

/// Decodes one value that fills `in` exactly.
template <class T>
T decode(std::span<const std::byte> in) {
  Decoder decoder(in);
  T value = decoder.get<T>();
  if (!decoder.empty()) throw InputError("trailing bytes after an encoded value");
  return value;
}

}  // namespace parakit::io
