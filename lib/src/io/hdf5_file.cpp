#include "parakit/io/hdf5_file.hpp"

#include <fcntl.h>
#include <hdf5.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <utility>

#include "parakit/core/error.hpp"
#include "parakit/sys/error_text.hpp"
#include "parakit/sys/unique_fd.hpp"

namespace parakit::io {
namespace {

/// Silences HDF5's automatic error-stack printing while alive (errors become exceptions with
/// one line of text instead), restoring the caller's handler afterwards.
class QuietErrors {
 public:
  QuietErrors() {
    H5Eget_auto2(H5E_DEFAULT, &func_, &data_);
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  }
  ~QuietErrors() { H5Eset_auto2(H5E_DEFAULT, func_, data_); }
  QuietErrors(const QuietErrors&) = delete;
  QuietErrors& operator=(const QuietErrors&) = delete;

 private:
  H5E_auto2_t func_ = nullptr;
  void* data_ = nullptr;
};

/// The innermost message on HDF5's error stack (the most specific one), then clears it.
std::string hdf5_error() {
  std::string text;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_UPWARD,
      [](unsigned n, const H5E_error2_t* error, void* out) -> herr_t {
        if (n == 0 && error->desc != nullptr) *static_cast<std::string*>(out) = error->desc;
        return 0;
      },
      &text);
  H5Eclear2(H5E_DEFAULT);
  return text.empty() ? std::string("HDF5 error") : text;
}

/// An hid_t closed by `Close` on destruction.
template <herr_t (*Close)(hid_t)>
class Handle {
 public:
  Handle() = default;
  explicit Handle(hid_t id) : id_(id) {}
  ~Handle() { reset(); }
  Handle(Handle&& other) noexcept : id_(std::exchange(other.id_, H5I_INVALID_HID)) {}
  Handle& operator=(Handle&& other) noexcept {
    if (this != &other) {
      reset();
      id_ = std::exchange(other.id_, H5I_INVALID_HID);
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  hid_t get() const noexcept { return id_; }
  explicit operator bool() const noexcept { return id_ >= 0; }
  void reset() noexcept {
    if (id_ >= 0) Close(id_);
    id_ = H5I_INVALID_HID;
  }

 private:
  hid_t id_ = H5I_INVALID_HID;
};

using File = Handle<H5Fclose>;
using Dataset = Handle<H5Dclose>;
using Space = Handle<H5Sclose>;
using Type = Handle<H5Tclose>;
using Plist = Handle<H5Pclose>;

/// Opens `path` read-only with `fapl`; InputError "PATH: cannot open as HDF5: ...".
File open_file(const std::string& path, hid_t fapl) {
  File file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl));
  if (!file) throw InputError(path + ": cannot open as HDF5: " + hdf5_error());
  return file;
}

/// The file's datasets (absolute names), in name order, at most `limit` + 1 of them.
std::vector<std::string> list_datasets(hid_t file, std::size_t limit) {
  struct Found {
    std::vector<std::string> names;
    std::size_t limit;
  } found{{}, limit};
  H5Ovisit2(
      file, H5_INDEX_NAME, H5_ITER_INC,
      [](hid_t, const char* name, const H5O_info_t* info, void* data) -> herr_t {
        auto& out = *static_cast<Found*>(data);
        if (info->type == H5O_TYPE_DATASET) out.names.push_back(std::string("/") + name);
        return out.names.size() > out.limit ? 1 : 0;
      },
      &found, H5O_INFO_BASIC);
  H5Eclear2(H5E_DEFAULT);
  return found.names;
}

/// `name` made absolute ("x" -> "/x").
std::string absolute(const std::string& name) {
  return name.starts_with('/') ? name : "/" + name;
}

/// Checks that every group on the way to `name` and `name` itself exist and that `name` is a
/// dataset, so the message can say which part is missing.
void check_dataset_path(hid_t file, const std::string& path, const std::string& name) {
  std::size_t pos = 0;
  while (pos != std::string::npos) {
    pos = name.find('/', pos + 1);
    const std::string prefix = name.substr(0, pos);
    if (prefix.size() <= 1) continue;
    const htri_t exists = H5Lexists(file, prefix.c_str(), H5P_DEFAULT);
    if (exists <= 0) {
      H5Eclear2(H5E_DEFAULT);
      std::string message = path;
      message += ": no dataset ";
      message += name;
      if (prefix != name) {
        message += " (no ";
        message += prefix;
        message += ")";
      }
      throw InputError(message);
    }
    H5O_info_t info{};
    std::string message = path;
    message += ": ";
    message += prefix;
    if (H5Oget_info_by_name2(file, prefix.c_str(), &info, H5O_INFO_BASIC, H5P_DEFAULT) < 0) {
      message += ": ";
      message += hdf5_error();
      throw InputError(message);
    }
    if (prefix == name && info.type != H5O_TYPE_DATASET) {
      message += info.type == H5O_TYPE_GROUP ? " is a group, not a dataset" : " is not a dataset";
      throw InputError(message);
    }
  }
}

}  // namespace

namespace {

/// The HDF5 signature at byte 0 or after a user block of 512, 1024, 2048, ... bytes.
bool has_hdf5_signature(int fd) {
  static constexpr std::array<unsigned char, 8> kSignature = {0x89, 'H',  'D',  'F',
                                                              '\r', '\n', 0x1a, '\n'};
  std::array<unsigned char, 8> head{};
  for (off_t at = 0; at <= (off_t{1} << 30); at = at == 0 ? 512 : at * 2) {
    const ssize_t got = ::pread(fd, head.data(), head.size(), at);
    if (got != static_cast<ssize_t>(head.size())) return false;
    if (head == kSignature) return true;
  }
  return false;
}

sys::UniqueFd open_or_throw(const std::string& path) {
  sys::UniqueFd fd = sys::open_fd(path, O_RDONLY);
  if (!fd) {
    const int err = errno;
    throw InputError(path + ": cannot open: " + sys::errno_text(err));
  }
  return fd;
}

}  // namespace

bool is_hdf5_file(const std::string& path) {
  for (const char* extension : {".h5", ".hdf5", ".he5", ".hdf"}) {
    if (path.ends_with(extension)) return true;
  }
  return has_hdf5_signature(open_or_throw(path).get());
}

Hdf5DatasetInfo probe_hdf5_dataset(const std::string& path, const std::string& dataset) {
  {
    const sys::UniqueFd fd = open_or_throw(path);
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
      throw InputError(path +
                       (S_ISDIR(st.st_mode) ? ": is a directory" : ": is not a regular file"));
    }
    if (!has_hdf5_signature(fd.get())) {
      throw InputError(path + ": not an HDF5 file (no HDF5 signature)");
    }
  }
  const QuietErrors quiet;
  const File file = open_file(path, H5P_DEFAULT);
  Hdf5DatasetInfo info;
  info.path = path;
  if (dataset.empty()) {
    constexpr std::size_t kListed = 8;
    const auto names = list_datasets(file.get(), kListed);
    if (names.size() != 1) {
      std::string message = path;
      if (names.empty()) {
        message += ": the file holds no dataset";
        throw InputError(message);
      }
      message += ": the file holds several datasets; name one (";
      for (std::size_t i = 0; i < std::min(names.size(), kListed); ++i) {
        if (i > 0) message += ", ";
        message += names[i];
      }
      if (names.size() > kListed) message += ", ...";
      message += ")";
      throw UsageError(message);
    }
    info.dataset = names.front();
  } else {
    info.dataset = absolute(dataset);
    check_dataset_path(file.get(), path, info.dataset);
  }
  const std::string where = path + ": " + info.dataset;
  const Dataset data(H5Dopen2(file.get(), info.dataset.c_str(), H5P_DEFAULT));
  if (!data) throw InputError(where + ": cannot open: " + hdf5_error());
  const Type type(H5Dget_type(data.get()));
  const H5T_class_t type_class = H5Tget_class(type.get());
  const std::size_t type_size = H5Tget_size(type.get());
  if (type_class == H5T_INTEGER) {
    throw InputError(where + " holds " + std::to_string(8 * type_size) +
                     "-bit integers; expected float64 or float32 values");
  }
  if (type_class != H5T_FLOAT) {
    throw InputError(where + " is not a floating-point dataset (expected float64 or float32)");
  }
  if (type_size == 8) {
    info.dtype = DType::f64;
  } else if (type_size == 4) {
    info.dtype = DType::f32;
  } else {
    throw InputError(where + " holds " + std::to_string(8 * type_size) +
                     "-bit floats; expected float64 or float32");
  }
  const Space space(H5Dget_space(data.get()));
  const int rank = H5Sget_simple_extent_ndims(space.get());
  if (rank < 0) throw InputError(where + ": " + hdf5_error());
  if (rank != 1 && rank != 2) {
    throw InputError(where + " has rank " + std::to_string(rank) +
                     "; expected 1 (n values) or 2 (n rows of d columns)");
  }
  std::array<hsize_t, 2> dims{};
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  info.shape.assign(dims.begin(), dims.begin() + rank);
  info.count = 1;
  for (const auto d : info.shape) info.count *= d;
  const Plist create(H5Dget_create_plist(data.get()));
  info.chunked = create && H5Pget_layout(create.get()) == H5D_CHUNKED;
  return info;
}

struct Hdf5Reader::Handles {
  File file;
  Dataset data;
  Space space;
  Plist transfer;
};

Hdf5Reader::Hdf5Reader(const Hdf5DatasetInfo& info, MPI_Comm comm)
    : info_(info), handles_(std::make_unique<Handles>()) {
  const QuietErrors quiet;
  const Plist access(H5Pcreate(H5P_FILE_ACCESS));
  handles_->transfer = Plist(H5Pcreate(H5P_DATASET_XFER));
  if (comm != MPI_COMM_NULL) {
    // MPI-IO, metadata read once and broadcast (collective metadata operations), and
    // collective transfers so MPI-IO can aggregate the ranks' ranges.
    H5Pset_fapl_mpio(access.get(), comm, MPI_INFO_NULL);
    H5Pset_all_coll_metadata_ops(access.get(), true);
    H5Pset_dxpl_mpio(handles_->transfer.get(), H5FD_MPIO_COLLECTIVE);
  }
  handles_->file = open_file(info.path, access.get());
  handles_->data = Dataset(H5Dopen2(handles_->file.get(), info.dataset.c_str(), H5P_DEFAULT));
  if (!handles_->data) {
    throw InputError(info.path + ": " + info.dataset + ": cannot open: " + hdf5_error());
  }
  handles_->space = Space(H5Dget_space(handles_->data.get()));
}

Hdf5Reader::~Hdf5Reader() = default;
Hdf5Reader::Hdf5Reader(Hdf5Reader&&) noexcept = default;
Hdf5Reader& Hdf5Reader::operator=(Hdf5Reader&&) noexcept = default;

void Hdf5Reader::read(std::uint64_t first, std::span<double> out) {
  read_into(first, out.size(), out.data(), true);
}

void Hdf5Reader::read(std::uint64_t first, std::span<float> out) {
  if (info_.dtype != DType::f32) {
    throw InternalError("Hdf5Reader::read: a float64 dataset read into floats");
  }
  read_into(first, out.size(), out.data(), false);
}

void Hdf5Reader::read_into(std::uint64_t first, std::uint64_t count, void* out, bool as_double) {
  const std::string where = info_.path + ": " + info_.dataset;
  if (first > info_.count || count > info_.count - first) {
    throw InputError(where + ": elements " + std::to_string(first) + ".." +
                     std::to_string(first + count) + " are beyond its " +
                     std::to_string(info_.count));
  }
  const QuietErrors quiet;
  const hid_t file_space = handles_->space.get();
  H5Sselect_none(file_space);
  // Elements [first, first + count) of a row-major (rows, cols) array: a partial first row,
  // whole rows, a partial last row. A 1-D dataset is one row of all its elements.
  const hsize_t cols = info_.shape.size() == 2 ? info_.shape[1] : info_.count;
  const bool two_d = info_.shape.size() == 2;
  auto select = [&](hsize_t row, hsize_t col, hsize_t rows, hsize_t width) {
    if (rows == 0 || width == 0) return;
    const std::array<hsize_t, 2> start = {row, col};
    const std::array<hsize_t, 2> extent = {rows, width};
    const hsize_t* s = two_d ? start.data() : start.data() + 1;
    const hsize_t* e = two_d ? extent.data() : extent.data() + 1;
    if (H5Sselect_hyperslab(file_space, H5S_SELECT_OR, s, nullptr, e, nullptr) < 0) {
      throw InputError(where + ": " + hdf5_error());
    }
  };
  std::uint64_t at = first;
  const std::uint64_t end = first + count;
  if (count > 0 && cols > 0) {
    if (at % cols != 0) {
      const std::uint64_t take = std::min<std::uint64_t>(end, (at / cols + 1) * cols) - at;
      select(at / cols, at % cols, 1, take);
      at += take;
    }
    const std::uint64_t whole = (end - at) / cols;
    select(at / cols, 0, whole, cols);
    at += whole * cols;
    if (at < end) select(at / cols, 0, 1, end - at);
  }
  const hsize_t memory_extent = std::max<hsize_t>(count, 1);
  const Space memory(H5Screate_simple(1, &memory_extent, nullptr));
  if (count == 0) H5Sselect_none(memory.get());
  const hid_t memory_type = as_double ? H5T_NATIVE_DOUBLE : H5T_NATIVE_FLOAT;
  double nothing = 0;  // HDF5 wants a buffer even for an empty selection
  if (H5Dread(handles_->data.get(), memory_type, memory.get(), file_space, handles_->transfer.get(),
              out != nullptr ? out : &nothing) < 0) {
    throw InputError(where + ": cannot read: " + hdf5_error());
  }
}

}  // namespace parakit::io
