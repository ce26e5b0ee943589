// Tests for .npy / raw float64 probing, range reads and .npy writing.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "parakit/core/error.hpp"
#include "parakit/io/array_file.hpp"

namespace {

namespace fs = std::filesystem;
using parakit::io::ArrayFileInfo;
using parakit::io::DType;
using parakit::io::probe_array_file;
using parakit::io::read_elements;

class ArrayFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = (fs::temp_directory_path() / "parakit-array-XXXXXX").string();
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    dir_ = templ;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  static void write_bytes(const std::string& p, const std::string& bytes) {
    std::ofstream out(p, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }

  /// A .npy file built by hand: magic, version, little-endian header length, the
  /// dictionary text padded as given, then `data`.
  static std::string npy_bytes(int major, const std::string& header, const std::string& data) {
    std::string out = "\x93NUMPY";
    out += static_cast<char>(major);
    out += '\0';
    const std::size_t len_bytes = major == 1 ? 2 : 4;
    for (std::size_t b = 0; b < len_bytes; ++b) {
      out += static_cast<char>((header.size() >> (8 * b)) & 0xff);
    }
    return out + header + data;
  }

  template <class T>
  static std::string raw(const std::vector<T>& v) {
    return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
  }

  /// Expects probe_array_file(p) to throw InputError whose one-line message names
  /// p and contains `needle`.
  static void expect_probe_error(const std::string& p, const std::string& needle) {
    try {
      (void)probe_array_file(p);
      ADD_FAILURE() << "probe accepted " << p;
    } catch (const parakit::InputError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(p), std::string::npos) << msg;
      EXPECT_NE(msg.find(needle), std::string::npos) << "wanted '" << needle << "' in: " << msg;
      EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
      EXPECT_EQ(msg.rfind("parakit", 0), std::string::npos) << msg;
    }
  }

  fs::path dir_;
};

std::vector<double> sample_doubles(std::size_t n) {
  std::vector<double> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = std::ldexp(static_cast<double>(i) + 0.1, -3) - 7;
  if (n > 2) {
    v[1] = -0.0;
    v[2] = std::numeric_limits<double>::denorm_min();
  }
  return v;
}

TEST_F(ArrayFileTest, RoundTripFloat64Shapes) {
  const std::vector<std::vector<std::uint64_t>> shapes = {{},     {0},       {1},      {7},
                                                          {3, 4}, {2, 3, 5}, {4, 0, 2}};
  for (const auto& shape : shapes) {
    std::uint64_t n = 1;
    for (auto d : shape) n *= d;
    if (shape.empty()) n = 0;  // {} = 1-D of the data size; use no data
    const std::vector<double> data = sample_doubles(n);
    const std::string p = path("a.npy");
    parakit::io::write_npy(p, data, shape);
    const ArrayFileInfo info = probe_array_file(p);
    EXPECT_EQ(info.path, p);
    EXPECT_EQ(info.dtype, DType::f64);
    EXPECT_EQ(info.count, n);
    EXPECT_EQ(info.shape, shape.empty() ? std::vector<std::uint64_t>{0} : shape);
    EXPECT_EQ(info.data_offset % 64, 0u);
    EXPECT_EQ(fs::file_size(p), info.data_offset + 8 * n);
    std::vector<double> back(n, 99.0);
    read_elements(info, 0, back);
    if (n > 0) {
      EXPECT_EQ(std::memcmp(back.data(), data.data(), n * sizeof(double)), 0);
    }
  }
}

TEST_F(ArrayFileTest, RoundTripFloat32) {
  std::vector<float> data(12);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<float>(i) * 0.25f - 1.1f;
  const std::string p = path("f.npy");
  parakit::io::write_npy(p, data, {3, 4});
  const ArrayFileInfo info = probe_array_file(p);
  EXPECT_EQ(info.dtype, DType::f32);
  EXPECT_EQ(info.count, 12u);
  EXPECT_EQ(info.shape, (std::vector<std::uint64_t>{3, 4}));
  std::vector<float> back(12);
  read_elements(info, 0, back);
  EXPECT_EQ(back, data);
  // Widening read into doubles is exact.
  std::vector<double> wide(5);
  read_elements(info, 6, wide);
  for (std::size_t i = 0; i < wide.size(); ++i)
    EXPECT_EQ(wide[i], static_cast<double>(data[6 + i]));
  // A float read of a float64 file is a programming error.
  parakit::io::write_npy(path("d.npy"), std::vector<double>{1.0});
  std::vector<float> one(1);
  EXPECT_THROW(read_elements(probe_array_file(path("d.npy")), 0, one), parakit::InternalError);
}

TEST_F(ArrayFileTest, ScalarShape) {
  const std::string p = path("s.npy");
  parakit::io::write_npy_scalar(p, 2.5);
  const ArrayFileInfo info = probe_array_file(p);
  EXPECT_TRUE(info.shape.empty());
  EXPECT_EQ(info.count, 1u);
  std::vector<double> v(1);
  read_elements(info, 0, v);
  EXPECT_EQ(v[0], 2.5);
  // A hand-written scalar header too.
  write_bytes(path("s2.npy"),
              npy_bytes(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (), }\n",
                        raw(std::vector<double>{-3.0})));
  const ArrayFileInfo info2 = probe_array_file(path("s2.npy"));
  EXPECT_EQ(info2.count, 1u);
  read_elements(info2, 0, v);
  EXPECT_EQ(v[0], -3.0);
}

TEST_F(ArrayFileTest, RangeReadsAtOffsets) {
  const std::vector<double> data = sample_doubles(1000);
  parakit::io::write_npy(path("r.npy"), data);
  const ArrayFileInfo info = probe_array_file(path("r.npy"));
  for (std::uint64_t first : {0u, 1u, 499u, 990u}) {
    for (std::size_t n : {0u, 1u, 7u, 10u}) {
      std::vector<double> part(n);
      read_elements(info, first, part);
      for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(part[i], data[first + i]);
    }
  }
  std::vector<double> past(2);
  EXPECT_THROW(read_elements(info, 999, past), parakit::InputError);
  EXPECT_THROW(read_elements(info, ~0ull, past), parakit::InputError);
  // The file shrank after probing: a short read is an InputError naming the file.
  fs::resize_file(path("r.npy"), info.data_offset + 8 * 500);
  std::vector<double> tail(10);
  try {
    read_elements(info, 495, tail);
    ADD_FAILURE() << "short read not detected";
  } catch (const parakit::InputError& e) {
    EXPECT_NE(std::string(e.what()).find(path("r.npy")), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
  }
}

TEST_F(ArrayFileTest, Version2And3Headers) {
  const std::vector<double> data = {1.5, -2.25, 3.0};
  // v2.0 with a 4-byte header length, keys in another order, odd spacing, trailing comma.
  const std::string hdr2 = "{ 'shape' : ( 3 , ) ,'fortran_order':False,  \"descr\": '<f8'}    \n";
  write_bytes(path("v2.npy"), npy_bytes(2, hdr2, raw(data)));
  ArrayFileInfo info = probe_array_file(path("v2.npy"));
  EXPECT_EQ(info.count, 3u);
  EXPECT_EQ(info.data_offset, 12 + hdr2.size());
  std::vector<double> back(3);
  read_elements(info, 0, back);
  EXPECT_EQ(back, data);

  write_bytes(path("v3.npy"),
              npy_bytes(3, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2)}\n",
                        raw(std::vector<float>{0.5f, 8.0f})));
  info = probe_array_file(path("v3.npy"));
  EXPECT_EQ(info.dtype, DType::f32);
  EXPECT_EQ(info.shape, (std::vector<std::uint64_t>{1, 2}));
}

TEST_F(ArrayFileTest, EquivalentSpellings) {
  for (const char* descr : {"|f8", "=f8"}) {
    write_bytes(path("e.npy"), npy_bytes(1,
                                         std::string("{'descr': '") + descr +
                                             "', 'fortran_order': False, 'shape': (2,), }\n",
                                         raw(std::vector<double>{1, 2})));
    EXPECT_EQ(probe_array_file(path("e.npy")).dtype, DType::f64) << descr;
  }
  // Fortran order over a layout that is the same as C order (one long dimension).
  write_bytes(path("fo.npy"), npy_bytes(1,
                                        "{'descr': '<f8', 'fortran_order': True, 'shape': (1, 2, "
                                        "1), }\n",
                                        raw(std::vector<double>{1, 2})));
  EXPECT_EQ(probe_array_file(path("fo.npy")).count, 2u);
  // The \x93NUMPY magic wins over the extension.
  parakit::io::write_npy(path("npy-in-disguise.bin"), std::vector<double>{4, 5, 6});
  EXPECT_EQ(probe_array_file(path("npy-in-disguise.bin")).count, 3u);
}

TEST_F(ArrayFileTest, LargeHeaderUsesVersion2) {
  // A shape with many dimensions needs more than 65535 header bytes.
  std::vector<std::uint64_t> shape(30000, 1);
  shape[0] = 2;
  parakit::io::write_npy(path("big.npy"), std::vector<double>{1, 2}, shape);
  std::ifstream in(path("big.npy"), std::ios::binary);
  char pre[8];
  in.read(pre, 8);
  EXPECT_EQ(pre[6], 2);
  const ArrayFileInfo info = probe_array_file(path("big.npy"));
  EXPECT_EQ(info.shape, shape);
  EXPECT_EQ(info.data_offset % 64, 0u);
}

TEST_F(ArrayFileTest, RawFloat64Files) {
  const std::vector<double> data = sample_doubles(9);
  for (const char* name : {"x.bin", "x.f64", "x.raw", "X.BIN"}) {
    write_bytes(path(name), raw(data));
    const ArrayFileInfo info = probe_array_file(path(name));
    EXPECT_EQ(info.dtype, DType::f64);
    EXPECT_EQ(info.count, 9u);
    EXPECT_EQ(info.data_offset, 0u);
    EXPECT_EQ(info.shape, std::vector<std::uint64_t>{9});
    std::vector<double> part(4);
    read_elements(info, 5, part);
    for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(part[i], data[5 + i]);
  }
}

TEST_F(ArrayFileTest, ErrorsNameTheFile) {
  const std::string good_data = raw(std::vector<double>{1, 2, 3});
  const std::string hdr = "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }\n";

  expect_probe_error(path("missing.npy"), "cannot open");
  write_bytes(path("empty.npy"), "");
  expect_probe_error(path("empty.npy"), "empty");
  write_bytes(path("magic.npy"), "\x93NUMPZ\x01\x00" + hdr + good_data);
  expect_probe_error(path("magic.npy"), "bad magic");
  write_bytes(path("short.npy"), "\x93NU");
  expect_probe_error(path("short.npy"), "bad magic");
  write_bytes(path("trunc.npy"), npy_bytes(1, hdr, good_data.substr(0, 20)));
  expect_probe_error(path("trunc.npy"), "truncated");
  write_bytes(path("trunchdr.npy"), npy_bytes(1, hdr, "").substr(0, 30));
  expect_probe_error(path("trunchdr.npy"), "truncated .npy header");
  write_bytes(path("trunchdr2.npy"), std::string("\x93NUMPY\x01\x00\x76", 9));
  expect_probe_error(path("trunchdr2.npy"), "truncated .npy header");
  write_bytes(path("trailing.npy"), npy_bytes(1, hdr, good_data + "junk"));
  expect_probe_error(path("trailing.npy"), "unexpected bytes");
  write_bytes(
      path("be.npy"),
      npy_bytes(1, "{'descr': '>f8', 'fortran_order': False, 'shape': (3,), }\n", good_data));
  expect_probe_error(path("be.npy"), "big-endian dtype '>f8'");
  write_bytes(
      path("i4.npy"),
      npy_bytes(1, "{'descr': '<i4', 'fortran_order': False, 'shape': (6,), }\n", good_data));
  expect_probe_error(path("i4.npy"), "unsupported dtype '<i4'");
  write_bytes(path("struct.npy"),
              npy_bytes(1, "{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (3,), }\n",
                        good_data));
  expect_probe_error(path("struct.npy"), "unsupported dtype");
  write_bytes(path("fortran.npy"),
              npy_bytes(1, "{'descr': '<f8', 'fortran_order': True, 'shape': (3, 2), }\n",
                        good_data + good_data));
  expect_probe_error(path("fortran.npy"), "fortran_order True");
  write_bytes(path("version.npy"), npy_bytes(4, hdr, good_data));
  expect_probe_error(path("version.npy"), "unsupported .npy version 4.0");
  write_bytes(path("nokey.npy"),
              npy_bytes(1, "{'descr': '<f8', 'fortran_order': False}\n", good_data));
  expect_probe_error(path("nokey.npy"), "no 'shape' key");
  write_bytes(path("garbled.npy"), npy_bytes(1, "{'descr': '<f8', 'shape': [3]}\n", good_data));
  expect_probe_error(path("garbled.npy"), "bad .npy header");
  write_bytes(
      path("extrakey.npy"),
      npy_bytes(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), 'x': 1}\n", good_data));
  expect_probe_error(path("extrakey.npy"), "unexpected key 'x'");
  write_bytes(path("twelve.bin"), std::string(12, '\0'));
  expect_probe_error(path("twelve.bin"), "not a multiple of 8");
  write_bytes(path("empty.bin"), "");
  expect_probe_error(path("empty.bin"), "empty");
  write_bytes(path("data.csv"), "1,2,3\n");
  expect_probe_error(path("data.csv"), "unknown file type '.csv'");
  write_bytes(path("noext"), good_data);
  expect_probe_error(path("noext"), "unknown file type");
  fs::create_directory(path("dir.npy"));
  expect_probe_error(path("dir.npy"), "directory");
}

TEST_F(ArrayFileTest, WriteNpyErrors) {
  EXPECT_THROW(parakit::io::write_npy(path("bad-shape.npy"), std::vector<double>{1, 2, 3}, {2, 2}),
               parakit::InternalError);
  EXPECT_FALSE(fs::exists(path("bad-shape.npy")));
  EXPECT_THROW(parakit::io::write_npy(path("nodir/x.npy"), std::vector<double>{1}),
               parakit::InputError);
}

}  // namespace
