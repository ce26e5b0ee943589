// Reading and writing flat arrays of floating-point numbers: NumPy .npy files
// (format versions 1.0, 2.0 and 3.0) and raw little-endian float64 files.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace parakit::io {

enum class DType { f64, f32 };

/// "float64" or "float32".
const char* to_string(DType dtype) noexcept;

/// Bytes per element of dtype.
constexpr std::uint64_t dtype_size(DType dtype) noexcept {
  return dtype == DType::f64 ? 8 : 4;
}

/// What probe_array_file found out about a file.
struct ArrayFileInfo {
  std::string path;
  DType dtype = DType::f64;
  std::uint64_t count = 0;           ///< total elements (product of shape)
  std::uint64_t data_offset = 0;     ///< byte offset of element 0
  std::vector<std::uint64_t> shape;  ///< {count} for raw files; {} for a .npy scalar
};

/// A shape as NumPy prints it: "(3, 4)", "(5,)", "()".
std::string shape_to_string(const std::vector<std::uint64_t>& shape);

/// Probes a .npy file (recognised by the `\x93NUMPY` magic, whatever its extension;
/// versions 1.0, 2.0 and 3.0) or a raw little-endian float64 file (extension
/// .bin, .f64 or .raw). Accepts dtypes '<f8' and '<f4' (also spelled with '|'
/// or '=', which mean little-endian on this host), C order (Fortran order only
/// where it is the same layout: at most one dimension longer than 1), any shape
/// including () and 0-sized ones.
///
/// Throws InputError with a one-line message starting with the path for: a
/// missing, unreadable, non-regular or empty file; a bad magic, version or
/// header; a big-endian or non-float dtype (named); fortran_order True; data
/// shorter than the header promises ("truncated") or followed by extra bytes; a
/// raw file whose size is not a multiple of 8; an unknown extension.
ArrayFileInfo probe_array_file(const std::string& path);

/// True if probe_array_file reads `path`: a .npy file (by its magic, or named *.npy) or a raw
/// float64 file (.bin, .f64, .raw); false for anything else (CSV text, say). Throws
/// InputError "PATH: cannot open: ..." when the name does not decide and the file cannot be read.
bool is_array_file(const std::string& path);

/// Reads elements [first, first + out.size()) of the file into out with
/// positioned reads (pread), touching only those bytes. The double overload
/// reads float64 files and widens float32 files exactly; the float overload
/// needs a float32 file (InternalError otherwise). Throws InputError if the
/// range lies beyond info.count or the file is shorter than probed.
void read_elements(const ArrayFileInfo& info, std::uint64_t first, std::span<double> out);
void read_elements(const ArrayFileInfo& info, std::uint64_t first, std::span<float> out);

/// A read-only memory map of a range of an array file's elements: the page cache's own pages,
/// read without a copy (what streaming a large file reads through). Unmapped on destruction.
class ElementMap {
 public:
  ElementMap() = default;
  ~ElementMap();
  ElementMap(ElementMap&& other) noexcept;
  ElementMap& operator=(ElementMap&& other) noexcept;
  ElementMap(const ElementMap&) = delete;
  ElementMap& operator=(const ElementMap&) = delete;

  /// The elements as T (float for a float32 file, double for float64).
  template <class T>
  std::span<const T> values() const noexcept {
    return {reinterpret_cast<const T*>(data_), count_};
  }

 private:
  friend ElementMap map_elements(const ArrayFileInfo&, std::uint64_t, std::uint64_t);
  void* base_ = nullptr;
  std::size_t length_ = 0;
  const unsigned char* data_ = nullptr;
  std::size_t count_ = 0;
};

/// Maps elements [first, first + count) of the file read-only (mmap of the pages holding
/// them, with the kernel told to read them ahead). Throws InputError if the range lies beyond
/// info.count, or the file is now shorter than probed or cannot be mapped. The file must not
/// shrink while the map lives (reading a page past its end would raise SIGBUS).
ElementMap map_elements(const ArrayFileInfo& info, std::uint64_t first, std::uint64_t count);

/// The header of a C-order .npy of `shape` (version 1.0, or 2.0 if the header needs it), padded
/// so that the data after it starts 64-byte aligned: what write_npy writes before the values,
/// for writers that append the values in blocks.
std::string npy_header(DType dtype, const std::vector<std::uint64_t>& shape);

/// Writes a C-order .npy (version 1.0, or 2.0 if the header needs it) of
/// float64 ('<f8') or float32 ('<f4') atomically (AtomicFile). An empty `shape`
/// means the 1-D shape {data.size()}; otherwise the product of `shape` must equal
/// data.size() (InternalError if not). Throws InputError if the file cannot be
/// written.
void write_npy(const std::string& path, std::span<const double> data,
               std::vector<std::uint64_t> shape = {});
void write_npy(const std::string& path, std::span<const float> data,
               std::vector<std::uint64_t> shape = {});

/// Like write_npy but writes a 0-dimensional array (shape ()) holding `value`.
void write_npy_scalar(const std::string& path, double value);

}  // namespace parakit::io
