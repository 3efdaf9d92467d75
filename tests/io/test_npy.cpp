// .npy: files written by real numpy, round trips through save_npy, and corrupt input.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "cnnzoo/error.hpp"
#include "cnnzoo/io/npy.hpp"
#include "io/temp_dir.hpp"

using namespace cnnzoo;
using cnnzoo::testing::read_raw;
using cnnzoo::testing::write_raw;

namespace {

template <size_t N>
std::string bytes(const char (&literal)[N]) {
  return std::string(literal, N - 1);
}

// Byte-for-byte output of numpy 1.24 np.save (np.lib.format.write_array for versions 2 and 3).
// np.array([[1.5, -2], [0.25, 3]], dtype='<f8')
const std::string kNumpyF8 = bytes(
    "\x93NUMPY\x01\x00v\x00{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }     "
    "                                                     \x0a\x00\x00\x00\x00\x00\x00\xf8\x3f"
    "\x00\x00\x00\x00\x00\x00\x00\xc0\x00\x00\x00\x00\x00\x00\xd0\x3f\x00\x00\x00\x00\x00\x00"
    "\x08@");
// np.array([0, 60, 255], dtype=np.uint8)
const std::string kNumpyU1 = bytes(
    "\x93NUMPY\x01\x00v\x00{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }       "
    "                                                     \x0a\x00<\xff");
// np.array([-1, 2**40, 7], dtype='<i8')
const std::string kNumpyI8 = bytes(
    "\x93NUMPY\x01\x00v\x00{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }       "
    "                                                     \x0a\xff\xff\xff\xff\xff\xff\xff\xff"
    "\x00\x00\x00\x00\x00\x01\x00\x00\x07\x00\x00\x00\x00\x00\x00\x00");
// np.array(3.5, dtype=np.float32)
const std::string kNumpyF4Scalar = bytes(
    "\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (), }         "
    "                                                     \x0a\x00\x00`@");
// np.array([1, 2], dtype=np.float32), versions 2.0 and 3.0
const std::string kNumpyF4V2 = bytes(
    "\x93NUMPY\x02\x00t\x00\x00\x00{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }   "
    "                                                       \x0a\x00\x00\x80\x3f\x00\x00\x00@");
const std::string kNumpyF4V3 = bytes(
    "\x93NUMPY\x03\x00t\x00\x00\x00{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }   "
    "                                                       \x0a\x00\x00\x80\x3f\x00\x00\x00@");
// np.zeros((0, 3), dtype=np.float32)
const std::string kNumpyEmpty = bytes(
    "\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (0, 3), }     "
    "                                                     \x0a");
// np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3))
const std::string kNumpyFortran = bytes(
    "\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }      "
    "                                                     \x0a\x00\x00\x00\x00\x00\x00@@\x00"
    "\x00\x80\x3f\x00\x00\x80@\x00\x00\x00@\x00\x00\xa0@");

// A version 1.0 file with the given header dict text, built by hand.
std::string npy_v1(const std::string& dict, const std::string& data) {
  std::string header = dict + "\n";
  std::string out = bytes("\x93NUMPY\x01\x00");
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  return out + header + data;
}

std::string f4(std::initializer_list<float> values) {
  std::string out(values.size() * 4, '\0');
  size_t i = 0;
  for (float v : values) std::memcpy(&out[4 * i++], &v, 4);
  return out;
}

void expect_error(const std::string& file_bytes, const std::string& problem) {
  try {
    io::parse_npy_bytes(file_bytes, "bad.npy");
    ADD_FAILURE() << "no exception; expected: " << problem;
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("bad.npy"), std::string::npos) << msg;
    EXPECT_NE(msg.find(problem), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "multi-line message: " << msg;
  }
}

}  // namespace

class Npy : public cnnzoo::testing::TempDirTest {};

TEST_F(Npy, LoadsFilesWrittenByNumpy) {
  Tensor f8 = io::parse_npy_bytes(kNumpyF8, "f8");
  EXPECT_EQ(f8.shape(), (Shape{2, 2}));
  EXPECT_EQ(f8.to_vector(), (std::vector<float>{1.5f, -2.f, 0.25f, 3.f}));

  Tensor u1 = io::parse_npy_bytes(kNumpyU1, "u1");
  EXPECT_EQ(u1.shape(), (Shape{3}));
  EXPECT_EQ(u1.to_vector(), (std::vector<float>{0.f, 60.f, 255.f}));

  Tensor i8 = io::parse_npy_bytes(kNumpyI8, "i8");
  EXPECT_EQ(i8.to_vector(), (std::vector<float>{-1.f, 1099511627776.f, 7.f}));

  Tensor scalar = io::parse_npy_bytes(kNumpyF4Scalar, "scalar");
  EXPECT_EQ(scalar.dim(), 0);
  EXPECT_EQ(scalar.item(), 3.5f);

  for (const std::string* file : {&kNumpyF4V2, &kNumpyF4V3}) {
    Tensor t = io::parse_npy_bytes(*file, "v2/v3");
    EXPECT_EQ(t.shape(), (Shape{2}));
    EXPECT_EQ(t.to_vector(), (std::vector<float>{1.f, 2.f}));
  }

  Tensor empty = io::parse_npy_bytes(kNumpyEmpty, "empty");
  EXPECT_EQ(empty.shape(), (Shape{0, 3}));
  EXPECT_EQ(empty.numel(), 0);
}

TEST_F(Npy, LoadFromFile) {
  const std::string p = path("x.npy");
  write_raw(p, kNumpyF8);
  Tensor t = io::load_npy(p);
  EXPECT_EQ(t.shape(), (Shape{2, 2}));
  EXPECT_EQ(t.to_vector(), (std::vector<float>{1.5f, -2.f, 0.25f, 3.f}));
}

TEST_F(Npy, FortranOrderIsAnError) {
  expect_error(kNumpyFortran, "fortran_order");
}

TEST_F(Npy, RoundTripThroughFiles) {
  Tensor big = Tensor::empty({3, 40000});
  for (int64_t i = 0; i < big.numel(); ++i) big[i] = std::cos(static_cast<float>(i) * 0.01f);
  std::vector<Tensor> tensors = {
      Tensor::from_vector({2, 3}, {1.f, -2.f, 3.5f, -0.f, NAN, 1e-40f}),
      Tensor::scalar(-1.25f),
      Tensor::zeros({0, 5}),
      Tensor::from_vector({7}, {1, 2, 3, 4, 5, 6, 7}),
      Tensor::full({1, 1, 2, 2, 1}, 9.f),
      big,
  };
  for (size_t k = 0; k < tensors.size(); ++k) {
    const Tensor& want = tensors[k];
    const std::string p = path("t" + std::to_string(k) + ".npy");
    io::save_npy(p, want);
    Tensor got = io::load_npy(p);
    EXPECT_EQ(got.shape(), want.shape()) << k;
    ASSERT_EQ(got.numel(), want.numel());
    EXPECT_EQ(std::memcmp(got.data(), want.data(), want.numel() * sizeof(float)), 0) << k;
    EXPECT_EQ(read_raw(p), io::to_npy_bytes(want));
  }
  EXPECT_EQ(listing().size(), tensors.size());  // no temporary files left behind
}

TEST_F(Npy, WrittenHeaderFollowsTheFormat) {
  struct Case {
    Shape shape;
    std::string dict;
  };
  for (const Case& c : {Case{{2, 3}, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"},
                        Case{{7}, "{'descr': '<f4', 'fortran_order': False, 'shape': (7,), }"},
                        Case{{}, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }"}}) {
    Tensor t = Tensor::full(c.shape, 2.f);
    std::string b = io::to_npy_bytes(t);
    ASSERT_GE(b.size(), 10u);
    EXPECT_EQ(b.substr(0, 8), bytes("\x93NUMPY\x01\x00"));
    size_t header_len = static_cast<unsigned char>(b[8]) | (static_cast<unsigned char>(b[9]) << 8);
    EXPECT_EQ((10 + header_len) % 64, 0u) << "numpy aligns the data to 64 bytes";
    ASSERT_EQ(b.size(), 10 + header_len + 4 * static_cast<size_t>(t.numel()));
    std::string header = b.substr(10, header_len);
    EXPECT_EQ(header.substr(0, c.dict.size()), c.dict);
    EXPECT_EQ(header.back(), '\n');
    EXPECT_EQ(header.find_first_not_of(' ', c.dict.size()), header_len - 1);
    for (int64_t i = 0; i < t.numel(); ++i)
      EXPECT_EQ(b.substr(10 + header_len + 4 * i, 4), f4({2.f}));
  }
}

TEST_F(Npy, HeaderVariantsNumpyAccepts) {
  const std::string data = f4({1.f, 2.f, 3.f});
  // Python 2 era long literals, double quotes, other key order, no trailing comma.
  EXPECT_EQ(io::parse_npy_bytes(
                npy_v1("{'descr': '<f4', 'fortran_order': False, 'shape': (3L,), }", data), "a")
                .shape(),
            (Shape{3}));
  EXPECT_EQ(io::parse_npy_bytes(
                npy_v1(R"({"shape": (3,), "fortran_order": False, "descr": "<f4"})", data), "b")
                .to_vector(),
            (std::vector<float>{1.f, 2.f, 3.f}));
  EXPECT_EQ(
      io::parse_npy_bytes(npy_v1("{'descr':'=f4','fortran_order':False,'shape':(1,3)}", data), "c")
          .shape(),
      (Shape{1, 3}));
}

TEST_F(Npy, CorruptFiles) {
  expect_error("", "too short");
  expect_error(kNumpyF8.substr(0, 9), "too short");
  std::string magic = kNumpyF8;
  magic[1] = 'M';
  expect_error(magic, "bad magic");
  std::string version = kNumpyF8;
  version[6] = 4;
  expect_error(version, "version 4.0");
  version[6] = 1;
  version[7] = 1;
  expect_error(version, "version 1.1");
  expect_error(kNumpyF8.substr(0, 100), "past the end of the file");
  expect_error(kNumpyF4V2.substr(0, 11), "too short");
  expect_error(kNumpyF8.substr(0, kNumpyF8.size() - 1), "truncated");
  expect_error(kNumpyEmpty + "x", "unexpected bytes after the array");
  expect_error(kNumpyF8 + "x", "unexpected bytes after the array");
  // Every truncation is an Error, never a crash or a partly filled tensor.
  for (size_t n = 0; n < kNumpyI8.size(); ++n)
    EXPECT_THROW(io::parse_npy_bytes(kNumpyI8.substr(0, n), "cut"), Error) << n;
}

TEST_F(Npy, BadHeaders) {
  const std::string data = f4({1.f, 2.f});
  auto dict = [](const std::string& descr, const std::string& shape) {
    return "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  };
  expect_error(npy_v1(dict(">f4", "(2,)"), data), "big-endian");
  expect_error(npy_v1(dict("<c8", "(1,)"), data), "unsupported dtype '<c8'");
  expect_error(npy_v1(dict("|O", "(2,)"), data), "unsupported dtype '|O'");
  expect_error(npy_v1(dict("<f16", "(2,)"), data), "unsupported dtype");
  expect_error(npy_v1(dict("f4", "(2,)"), data), "unsupported dtype");
  expect_error(npy_v1(dict("<f4", "(2, -1)"), data), "malformed header");
  expect_error(npy_v1(dict("<f4", "(2, x)"), data), "malformed header");
  expect_error(npy_v1(dict("<f4", "[2]"), data), "malformed header");
  expect_error(npy_v1(dict("<f4", "(99999999999999999999,)"), data), "malformed header");
  expect_error(npy_v1(dict("<f4", "(4294967296, 4294967296)"), data), "too many elements");
  expect_error(npy_v1(dict("<f4", "(3,)"), data), "truncated");
  expect_error(npy_v1("{'descr': '<f4', 'shape': (2,), }", data), "missing key 'fortran_order'");
  expect_error(npy_v1("{'descr': '<f4', 'fortran_order': False}", data), "missing key 'shape'");
  expect_error(npy_v1("{'descr': '<f4', 'fortran_order': 0, 'shape': (2,)}", data),
               "malformed header");
  expect_error(npy_v1(dict("<f4", "(2,)") + " extra", data), "malformed header");
  expect_error(npy_v1("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", data),
               "unexpected key 'x'");
  expect_error(npy_v1("{'descr': '<f4, 'fortran_order': False, 'shape': (2,)}", data),
               "malformed header");
  expect_error(npy_v1("{'descr': '<f4'", data), "malformed header");
  expect_error(npy_v1("", data), "malformed header");
}

TEST_F(Npy, IntegerLabels) {
  const std::string p = path("labels.npy");
  write_raw(p, kNumpyI8);
  Shape shape;
  EXPECT_EQ(io::load_npy_i64(p, &shape), (std::vector<int64_t>{-1, int64_t(1) << 40, 7}));
  EXPECT_EQ(shape, (Shape{3}));
  write_raw(p, kNumpyU1);
  EXPECT_EQ(io::load_npy_i64(p), (std::vector<int64_t>{0, 60, 255}));
  write_raw(p, kNumpyF8);
  EXPECT_THROW(io::load_npy_i64(p), Error);
}

TEST_F(Npy, FileErrorsNameThePath) {
  const std::string missing = path("missing.npy");
  try {
    io::load_npy(missing);
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(missing), std::string::npos) << e.what();
  }
  const std::string cut = path("cut.npy");
  write_raw(cut, kNumpyF8.substr(0, kNumpyF8.size() - 3));
  try {
    io::load_npy(cut);
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(cut), std::string::npos) << e.what();
  }
  EXPECT_THROW(io::save_npy(path("x.npy"), Tensor()), Error);
  EXPECT_THROW(io::save_npy(path("no/dir/x.npy"), Tensor::ones({2})), Error);
  EXPECT_EQ(listing(), (std::set<std::string>{"cut.npy"}));
}
