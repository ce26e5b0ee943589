#include "parakit/io/array_file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cctype>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <limits>
#include <string_view>
#include <utility>

#include "parakit/core/error.hpp"
#include "parakit/io/atomic_file.hpp"
#include "read_support.hpp"

namespace parakit::io {

// Files are little-endian; elements are copied to and from memory as is.
static_assert(std::endian::native == std::endian::little,
              "array_file.cpp assumes a little-endian host");

namespace detail {
namespace {

constexpr std::string_view kNpyMagic = "\x93NUMPY";

std::string lower_extension(const std::string& path) {
  const auto slash = path.find_last_of('/');
  const auto dot = path.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "";
  std::string ext = path.substr(dot);
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext;
}

/// What the .npy header dictionary says.
struct NpyHeader {
  std::string descr;
  bool fortran_order = false;
  std::vector<std::uint64_t> shape;
};

/// Parses the Python literal dict of a .npy header, e.g.
/// {'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }
class HeaderParser {
 public:
  HeaderParser(const std::string& path, std::string_view text) : path_(path), s_(text) {}

  NpyHeader parse() {
    NpyHeader h;
    bool have_descr = false, have_order = false, have_shape = false;
    skip_ws();
    expect('{');
    while (true) {
      skip_ws();
      if (consume('}')) break;
      const std::string key = parse_string();
      skip_ws();
      expect(':');
      skip_ws();
      if (key == "descr") {
        check_unique(have_descr, key);
        h.descr = peek() == '\'' || peek() == '"' ? parse_string() : std::string(parse_raw());
      } else if (key == "fortran_order") {
        check_unique(have_order, key);
        h.fortran_order = parse_bool();
      } else if (key == "shape") {
        check_unique(have_shape, key);
        h.shape = parse_shape();
      } else {
        bad("unexpected key '" + key + "'");
      }
      skip_ws();
      if (consume(',')) continue;
      expect('}');
      break;
    }
    skip_ws();
    if (pos_ != s_.size()) bad("unexpected text after the dictionary");
    if (!have_descr) bad("no 'descr' key");
    if (!have_order) bad("no 'fortran_order' key");
    if (!have_shape) bad("no 'shape' key");
    return h;
  }

 private:
  [[noreturn]] void bad(const std::string& what) const { fail(path_, "bad .npy header: " + what); }
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  void skip_ws() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' ||
                                s_[pos_] == '\r' || s_[pos_] == '\0'))
      ++pos_;
  }
  bool consume(char c) {
    if (peek() != c || pos_ >= s_.size()) return false;
    ++pos_;
    return true;
  }
  void expect(char c) {
    if (!consume(c)) {
      bad(pos_ < s_.size() ? std::string("expected '") + c + "' at offset " + std::to_string(pos_)
                           : std::string("expected '") + c + "' before the end");
    }
  }
  void check_unique(bool& seen, const std::string& key) {
    if (seen) bad("duplicate key '" + key + "'");
    seen = true;
  }
  std::string parse_string() {
    const char q = peek();
    if (q != '\'' && q != '"') bad("expected a quoted string at offset " + std::to_string(pos_));
    ++pos_;
    std::string out;
    while (pos_ < s_.size() && s_[pos_] != q) {
      if (s_[pos_] == '\\' && pos_ + 1 < s_.size()) ++pos_;
      out += s_[pos_++];
    }
    if (pos_ >= s_.size()) bad("unterminated string");
    ++pos_;
    return out;
  }
  /// A bracketed value such as a structured dtype list, returned verbatim.
  std::string_view parse_raw() {
    const std::size_t start = pos_;
    int depth = 0;
    while (pos_ < s_.size()) {
      const char c = s_[pos_];
      if (c == '\'' || c == '"') {
        parse_string();
        continue;
      }
      if (c == '[' || c == '(' || c == '{') ++depth;
      if (c == ']' || c == ')' || c == '}') {
        if (depth == 0) break;
        --depth;
      }
      if (c == ',' && depth == 0) break;
      ++pos_;
    }
    if (pos_ == start) bad("missing value for 'descr'");
    return s_.substr(start, pos_ - start);
  }
  bool parse_bool() {
    if (s_.substr(pos_).starts_with("True")) {
      pos_ += 4;
      return true;
    }
    if (s_.substr(pos_).starts_with("False")) {
      pos_ += 5;
      return false;
    }
    bad("'fortran_order' is not True or False");
  }
  std::vector<std::uint64_t> parse_shape() {
    std::vector<std::uint64_t> shape;
    if (!consume('(')) bad("'shape' is not a tuple");
    while (true) {
      skip_ws();
      if (consume(')')) break;
      if (!std::isdigit(static_cast<unsigned char>(peek()))) {
        bad("'shape' holds something other than non-negative integers");
      }
      std::uint64_t v = 0;
      while (std::isdigit(static_cast<unsigned char>(peek()))) {
        const auto d = static_cast<std::uint64_t>(s_[pos_++] - '0');
        if (v > (std::numeric_limits<std::uint64_t>::max() - d) / 10) bad("'shape' overflows");
        v = v * 10 + d;
      }
      consume('L');  // Python 2 long literal
      shape.push_back(v);
      skip_ws();
      if (consume(',')) continue;
      expect(')');
      break;
    }
    return shape;
  }

  const std::string& path_;
  std::string_view s_;
  std::size_t pos_ = 0;
};

std::uint64_t checked_product(const std::string& path, const std::vector<std::uint64_t>& shape) {
  std::uint64_t count = 1;
  for (const std::uint64_t d : shape) {
    if (d != 0 && count > std::numeric_limits<std::uint64_t>::max() / d) {
      fail(path, "shape " + shape_to_string(shape) + " is too large");
    }
    count *= d;
  }
  return count;
}

DType dtype_from_descr(const std::string& path, const std::string& descr) {
  if (descr.size() == 3 && (descr[0] == '<' || descr[0] == '|' || descr[0] == '=')) {
    if (descr.substr(1) == "f8") return DType::f64;
    if (descr.substr(1) == "f4") return DType::f32;
  }
  if (descr == ">f8" || descr == ">f4") {
    fail(path, "big-endian dtype '" + descr + "' is not supported (expected '<f8' or '<f4')");
  }
  fail(path, "unsupported dtype '" + descr + "' (expected '<f8' or '<f4')");
}

ArrayFileInfo probe_npy(const std::string& path, int fd, std::uint64_t file_size) {
  unsigned char pre[12];
  const std::uint64_t got = pread_full(path, fd, pre, std::min<std::uint64_t>(12, file_size), 0);
  if (got < 10) fail(path, "truncated .npy header");
  const int major = pre[6], minor = pre[7];
  std::uint64_t header_len = 0, header_start = 0;
  if (major == 1) {
    header_len = pre[8] | (std::uint64_t{pre[9]} << 8);
    header_start = 10;
  } else if (major == 2 || major == 3) {
    if (got < 12) fail(path, "truncated .npy header");
    header_len = pre[8] | (std::uint64_t{pre[9]} << 8) | (std::uint64_t{pre[10]} << 16) |
                 (std::uint64_t{pre[11]} << 24);
    header_start = 12;
  } else {
    fail(path, "unsupported .npy version " + std::to_string(major) + "." + std::to_string(minor));
  }
  if (header_start + header_len > file_size) {
    fail(path, "truncated .npy header (" + std::to_string(header_len) + " header bytes promised, " +
                   std::to_string(file_size - header_start) + " present)");
  }
  std::string text(header_len, '\0');
  if (pread_full(path, fd, text.data(), header_len, header_start) != header_len) {
    fail(path, "truncated .npy header");
  }
  const NpyHeader h = HeaderParser(path, text).parse();

  ArrayFileInfo info;
  info.path = path;
  info.dtype = dtype_from_descr(path, h.descr);
  info.shape = h.shape;
  info.count = checked_product(path, h.shape);
  info.data_offset = header_start + header_len;
  if (h.fortran_order) {
    const auto long_dims =
        std::count_if(h.shape.begin(), h.shape.end(), [](std::uint64_t d) { return d > 1; });
    if (long_dims > 1) fail(path, "fortran_order True is not supported (C order expected)");
  }
  const std::uint64_t item = dtype_size(info.dtype);
  if (info.count > std::numeric_limits<std::uint64_t>::max() / item - info.data_offset) {
    fail(path, "shape " + shape_to_string(h.shape) + " is too large");
  }
  const std::uint64_t data_bytes = info.count * item;
  const std::uint64_t present = file_size - info.data_offset;
  if (present < data_bytes) {
    fail(path, "truncated: header promises " + std::to_string(info.count) + " " +
                   to_string(info.dtype) + " elements (" + std::to_string(data_bytes) +
                   " bytes) but only " + std::to_string(present) + " bytes follow the header");
  }
  if (present > data_bytes) {
    fail(path, std::to_string(present - data_bytes) + " unexpected bytes after the " +
                   std::to_string(info.count) + " elements the header promises");
  }
  return info;
}

void check_range(const ArrayFileInfo& info, std::uint64_t first, std::uint64_t n) {
  if (first > info.count || n > info.count - first) {
    fail(info.path, "elements [" + std::to_string(first) + ", " + std::to_string(first + n) +
                        ") requested but the file has " + std::to_string(info.count));
  }
}

/// Reads elements [first, first + n) of the file open as fd into dst.
void read_exact(const ArrayFileInfo& info, int fd, std::uint64_t first, std::uint64_t n,
                void* dst) {
  const std::uint64_t item = dtype_size(info.dtype);
  const std::uint64_t bytes = n * item;
  const std::uint64_t offset = info.data_offset + first * item;
  const std::uint64_t got = pread_full(info.path, fd, dst, bytes, offset);
  if (got != bytes) {
    fail(info.path, "truncated: expected " + std::to_string(bytes) + " bytes at offset " +
                        std::to_string(offset) + ", read " + std::to_string(got));
  }
}

template <class T>
void write_npy_impl(const std::string& path, std::span<const T> data,
                    std::vector<std::uint64_t> shape, bool scalar) {
  if (shape.empty() && !scalar) shape.push_back(data.size());
  std::uint64_t count = 1;
  for (const std::uint64_t d : shape) count *= d;
  if (count != data.size()) {
    throw InternalError(path + ": write_npy shape " + shape_to_string(shape) + " does not hold " +
                        std::to_string(data.size()) + " elements");
  }
  const std::string head = npy_header(sizeof(T) == 8 ? DType::f64 : DType::f32, shape);
  AtomicFile file(path);
  file.write(head);
  file.write(std::as_bytes(data));
  file.commit();
}

}  // namespace
}  // namespace detail

const char* to_string(DType dtype) noexcept {
  return dtype == DType::f64 ? "float64" : "float32";
}

std::string shape_to_string(const std::vector<std::uint64_t>& shape) {
  std::string s = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) s += ", ";
    s += std::to_string(shape[i]);
  }
  if (shape.size() == 1) s += ",";
  return s + ")";
}

ArrayFileInfo probe_array_file(const std::string& path) {
  const sys::UniqueFd file = detail::open_for_reading(path);
  const std::uint64_t file_size = detail::regular_file_size(path, file.get());
  if (file_size == 0) detail::fail(path, "file is empty");

  char magic[6] = {};
  const std::uint64_t got = detail::pread_full(path, file.get(), magic, sizeof magic, 0);
  if (got == sizeof magic && std::string_view(magic, sizeof magic) == detail::kNpyMagic) {
    return detail::probe_npy(path, file.get(), file_size);
  }
  const std::string ext = detail::lower_extension(path);
  if (ext == ".npy") detail::fail(path, "not a .npy file (bad magic)");
  if (ext == ".bin" || ext == ".f64" || ext == ".raw") {
    if (file_size % 8 != 0) {
      detail::fail(path, "size " + std::to_string(file_size) +
                             " bytes is not a multiple of 8 (raw float64 expected)");
    }
    ArrayFileInfo info;
    info.path = path;
    info.dtype = DType::f64;
    info.count = file_size / 8;
    info.data_offset = 0;
    info.shape = {info.count};
    return info;
  }
  detail::fail(
      path, "unknown file type '" + ext + "' (expected .npy, or raw float64 .bin, .f64 or .raw)");
}

std::string npy_header(DType dtype, const std::vector<std::uint64_t>& shape) {
  const char* descr = dtype == DType::f64 ? "<f8" : "<f4";
  std::string dict = std::string("{'descr': '") + descr +
                     "', 'fortran_order': False, 'shape': " + shape_to_string(shape) + ", }";
  // Pad with spaces and a final newline so that the data starts 64-byte aligned;
  // version 2.0 only when the header length does not fit version 1.0's 16 bits.
  const auto padded = [&](std::size_t preamble) {
    return (preamble + dict.size() + 1 + 63) / 64 * 64 - preamble;
  };
  const std::size_t preamble = padded(10) <= 65535 ? 10 : 12;
  dict.append(padded(preamble) - dict.size() - 1, ' ');
  dict += '\n';
  const std::uint64_t hlen = dict.size();
  std::string head(detail::kNpyMagic);
  if (preamble == 10) {
    head += '\x01';
    head += '\x00';
    head += static_cast<char>(hlen & 0xff);
    head += static_cast<char>((hlen >> 8) & 0xff);
  } else {
    head += '\x02';
    head += '\x00';
    for (int b = 0; b < 4; ++b) head += static_cast<char>((hlen >> (8 * b)) & 0xff);
  }
  head += dict;
  return head;
}

bool is_array_file(const std::string& path) {
  const std::string ext = detail::lower_extension(path);
  if (ext == ".npy" || ext == ".bin" || ext == ".f64" || ext == ".raw") return true;
  const sys::UniqueFd file = detail::open_for_reading(path);
  char magic[6] = {};
  const std::uint64_t got = detail::pread_full(path, file.get(), magic, sizeof magic, 0);
  return got == sizeof magic && std::string_view(magic, sizeof magic) == detail::kNpyMagic;
}

void read_elements(const ArrayFileInfo& info, std::uint64_t first, std::span<double> out) {
  detail::check_range(info, first, out.size());
  if (out.empty()) return;
  const sys::UniqueFd file = detail::open_for_reading(info.path);
  if (info.dtype == DType::f64) {
    detail::read_exact(info, file.get(), first, out.size(), out.data());
    return;
  }
  // float32 file: read in chunks and widen (exact).
  constexpr std::size_t kChunk = std::size_t{1} << 16;
  std::vector<float> buf(std::min(out.size(), kChunk));
  for (std::size_t done = 0; done < out.size();) {
    const std::size_t n = std::min(out.size() - done, kChunk);
    detail::read_exact(info, file.get(), first + done, n, buf.data());
    std::copy_n(buf.begin(), n, out.begin() + static_cast<std::ptrdiff_t>(done));
    done += n;
  }
}

void read_elements(const ArrayFileInfo& info, std::uint64_t first, std::span<float> out) {
  if (info.dtype != DType::f32) {
    throw InternalError(info.path + ": read_elements(float) on a " + to_string(info.dtype) +
                        " file");
  }
  detail::check_range(info, first, out.size());
  if (out.empty()) return;
  const sys::UniqueFd file = detail::open_for_reading(info.path);
  detail::read_exact(info, file.get(), first, out.size(), out.data());
}

ElementMap::~ElementMap() {
  if (base_ != nullptr) ::munmap(base_, length_);
}

ElementMap::ElementMap(ElementMap&& other) noexcept
    : base_(std::exchange(other.base_, nullptr)),
      length_(std::exchange(other.length_, 0)),
      data_(std::exchange(other.data_, nullptr)),
      count_(std::exchange(other.count_, 0)) {}

ElementMap& ElementMap::operator=(ElementMap&& other) noexcept {
  if (this != &other) {
    ElementMap old(std::move(*this));
    base_ = std::exchange(other.base_, nullptr);
    length_ = std::exchange(other.length_, 0);
    data_ = std::exchange(other.data_, nullptr);
    count_ = std::exchange(other.count_, 0);
  }
  return *this;
}

ElementMap map_elements(const ArrayFileInfo& info, std::uint64_t first, std::uint64_t count) {
  detail::check_range(info, first, count);
  ElementMap map;
  if (count == 0) return map;
  const sys::UniqueFd file = detail::open_for_reading(info.path);
  const std::uint64_t size = dtype_size(info.dtype);
  const std::uint64_t begin = info.data_offset + first * size;
  const std::uint64_t end = begin + count * size;
  struct stat st {};
  if (::fstat(file.get(), &st) != 0 || static_cast<std::uint64_t>(st.st_size) < end) {
    throw InputError(info.path + ": truncated (the file is shorter than when it was opened)");
  }
  static const auto page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  const std::uint64_t start = begin / page * page;
  const auto length = static_cast<std::size_t>(end - start);
  void* base =
      ::mmap(nullptr, length, PROT_READ, MAP_SHARED, file.get(), static_cast<off_t>(start));
  if (base == MAP_FAILED) {
    const int err = errno;
    throw InputError(info.path + ": cannot map: " + sys::errno_text(err));
  }
  ::madvise(base, length, MADV_WILLNEED);
  map.base_ = base;
  map.length_ = length;
  map.data_ = static_cast<const unsigned char*>(base) + (begin - start);
  map.count_ = static_cast<std::size_t>(count);
  return map;
}

void write_npy(const std::string& path, std::span<const double> data,
               std::vector<std::uint64_t> shape) {
  detail::write_npy_impl(path, data, std::move(shape), false);
}

void write_npy(const std::string& path, std::span<const float> data,
               std::vector<std::uint64_t> shape) {
  detail::write_npy_impl(path, data, std::move(shape), false);
}

void write_npy_scalar(const std::string& path, double value) {
  detail::write_npy_impl(path, std::span<const double>(&value, 1), {}, true);
}

}  // namespace parakit::io
