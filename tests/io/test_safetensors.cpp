// safetensors: round trips, the byte layout we promise, dtype conversion, and corrupt input.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "cnnzoo/error.hpp"
#include "cnnzoo/io/file.hpp"
#include "cnnzoo/io/safetensors.hpp"
#include "io/temp_dir.hpp"

using namespace cnnzoo;
using cnnzoo::testing::read_raw;
using cnnzoo::testing::write_raw;

namespace {

// A safetensors file built by hand from header text and data bytes, independent of the writer.
std::string build(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + header + data;
}

template <class T>
std::string raw(std::initializer_list<T> values) {
  std::string out(values.size() * sizeof(T), '\0');
  size_t i = 0;
  for (T v : values) std::memcpy(&out[sizeof(T) * i++], &v, sizeof(T));
  return out;
}

// Parsing `bytes` must throw an Error naming the file and mentioning `problem`.
void expect_error(const std::string& bytes, const std::string& problem) {
  try {
    io::parse_safetensors_bytes(bytes, "bad.safetensors");
    ADD_FAILURE() << "no exception; expected: " << problem;
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("bad.safetensors"), std::string::npos) << msg;
    EXPECT_NE(msg.find(problem), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "multi-line message: " << msg;
  }
}

const std::string kOneTensor = R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";

}  // namespace

class Safetensors : public cnnzoo::testing::TempDirTest {};

TEST_F(Safetensors, RoundTripKeepsValuesNamesOrderShapesAndMetadata) {
  Tensor big = Tensor::empty({70000});  // larger than the writer's buffer
  for (int64_t i = 0; i < big.numel(); ++i) big[i] = std::sin(static_cast<float>(i));
  io::NamedTensors tensors = {
      {"z.weight", Tensor::from_vector({2, 3}, {1.f, -2.f, 3.5f, 1e-30f, -0.f, 65504.f})},
      {"a.bias", Tensor::scalar(-7.25f)},
      {"m.empty", Tensor::zeros({0, 4})},
      {"b.big", big},
      {"inf.nan", Tensor::from_vector({3}, {INFINITY, -INFINITY, NAN})},
  };
  std::map<std::string, std::string> metadata = {
      {"format", "pt"},
      {"trainer", R"({"epoch": 3, "rng": "12 34", "note": "quotes \" and \\ and \n"})"},
      {"unicode", "größe ✓"},
  };
  const std::string p = path("model.safetensors");
  io::save_safetensors(p, tensors, metadata);
  EXPECT_EQ(listing(), (std::set<std::string>{"model.safetensors"}));

  io::SafetensorsFile f = io::load_safetensors(p);
  EXPECT_EQ(f.metadata, metadata);
  ASSERT_EQ(f.tensors.size(), tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    const io::SafetensorsEntry& e = f.tensors[i];
    const Tensor& want = tensors[i].second;
    EXPECT_EQ(e.name, tensors[i].first);
    EXPECT_EQ(e.dtype, "F32");
    EXPECT_EQ(e.shape, want.shape());
    EXPECT_EQ(e.value.shape(), want.shape());
    ASSERT_EQ(e.value.numel(), want.numel());
    // Bitwise: -0, nan and denormals must survive unchanged.
    EXPECT_EQ(std::memcmp(e.value.data(), want.data(), want.numel() * sizeof(float)), 0) << e.name;
  }
  EXPECT_EQ(f.tensors[1].value.dim(), 0);
  EXPECT_EQ(f.tensors[1].value.item(), -7.25f);
  EXPECT_EQ(f.tensors[2].value.numel(), 0);
}

TEST_F(Safetensors, LayoutMatchesTheFormat) {
  io::NamedTensors tensors = {{"w", Tensor::from_vector({2}, {1.f, -2.f})},
                              {"b", Tensor::scalar(0.5f)}};
  std::string bytes = io::to_safetensors_bytes(tensors, {{"k", "v"}});
  ASSERT_GE(bytes.size(), 8u);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
  EXPECT_EQ(n % 8, 0u) << "data must start 8-byte aligned";
  ASSERT_EQ(bytes.size(), 8 + n + 12);
  std::string header = bytes.substr(8, n);
  EXPECT_EQ(header[0], '{');
  size_t close = header.rfind('}');
  EXPECT_EQ(header.find_first_not_of(' ', close + 1), std::string::npos) << "pad with spaces";
  EXPECT_LT(header.size() - close - 1, 8u);
  nlohmann::json expected = nlohmann::json::parse(R"({
    "__metadata__": {"k": "v"},
    "w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
    "b": {"dtype": "F32", "shape": [], "data_offsets": [8, 12]}})");
  EXPECT_EQ(nlohmann::json::parse(header), expected);
  EXPECT_EQ(bytes.substr(8 + n), raw<float>({1.f, -2.f, 0.5f}));

  const std::string p = path("w.safetensors");
  io::save_safetensors(p, tensors, {{"k", "v"}});
  EXPECT_EQ(read_raw(p), bytes);
}

TEST_F(Safetensors, NoTensorsNoMetadata) {
  std::string bytes = io::to_safetensors_bytes({});
  EXPECT_EQ(bytes, build("{}      ", ""));
  io::SafetensorsFile f = io::parse_safetensors_bytes(bytes, "empty");
  EXPECT_TRUE(f.tensors.empty());
  EXPECT_TRUE(f.metadata.empty());
}

TEST_F(Safetensors, ConvertsStoredDtypes) {
  std::string data;
  std::string header = "{";
  auto add = [&](const std::string& name, const std::string& dtype, const std::string& shape,
                 const std::string& bytes) {
    if (header.size() > 1) header += ",";
    header += "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape +
              ",\"data_offsets\":[" + std::to_string(data.size()) + "," +
              std::to_string(data.size() + bytes.size()) + "]}";
    data += bytes;
  };
  add("f64", "F64", "[2]", raw<double>({1.5, -0.25}));
  // 1.0, -2.0, +inf, smallest subnormal 2^-24, 0x3555 = 1365/4096 * 2^-1 ... = 0.333251953125
  add("f16", "F16", "[5]", raw<uint16_t>({0x3C00, 0xC000, 0x7C00, 0x0001, 0x3555}));
  add("bf16", "BF16", "[2]", raw<uint16_t>({0x3F80, 0xC040}));  // 1.0, -3.0
  add("i64", "I64", "[2]", raw<int64_t>({-3, int64_t(1) << 40}));
  add("i32", "I32", "[2,1]", raw<int32_t>({7, -1}));
  add("u8", "U8", "[3]", raw<uint8_t>({0, 128, 255}));
  add("bool", "BOOL", "[2]", raw<uint8_t>({0, 1}));
  add("i8", "I8", "[1]", raw<int8_t>({-128}));
  header += "}";
  io::SafetensorsFile f = io::parse_safetensors_bytes(build(header, data), "dtypes");

  auto values = [&](const std::string& name) {
    const io::SafetensorsEntry* e = f.find(name);
    EXPECT_NE(e, nullptr) << name;
    return e ? e->value.to_vector() : std::vector<float>{};
  };
  EXPECT_EQ(values("f64"), (std::vector<float>{1.5f, -0.25f}));
  std::vector<float> f16 = values("f16");
  ASSERT_EQ(f16.size(), 5u);
  EXPECT_EQ(f16[0], 1.f);
  EXPECT_EQ(f16[1], -2.f);
  EXPECT_TRUE(std::isinf(f16[2]) && f16[2] > 0);
  EXPECT_EQ(f16[3], std::ldexp(1.f, -24));
  EXPECT_EQ(f16[4], 0.333251953125f);
  EXPECT_EQ(values("bf16"), (std::vector<float>{1.f, -3.f}));
  EXPECT_EQ(values("i64"), (std::vector<float>{-3.f, 1099511627776.f}));
  EXPECT_EQ(values("i32"), (std::vector<float>{7.f, -1.f}));
  EXPECT_EQ(values("u8"), (std::vector<float>{0.f, 128.f, 255.f}));
  EXPECT_EQ(values("bool"), (std::vector<float>{0.f, 1.f}));
  EXPECT_EQ(values("i8"), (std::vector<float>{-128.f}));
  EXPECT_EQ(f.find("f16")->dtype, "F16");
  EXPECT_EQ(f.find("i32")->shape, (Shape{2, 1}));
  EXPECT_EQ(f.find("i32")->value.shape(), (Shape{2, 1}));
  EXPECT_EQ(f.find("nope"), nullptr);
}

TEST_F(Safetensors, UnsortedOffsetsLoad) {
  std::string header = R"({"late":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},)"
                       R"("early":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  io::SafetensorsFile f =
      io::parse_safetensors_bytes(build(header, raw<float>({1.f, 2.f, 3.f})), "unsorted");
  ASSERT_EQ(f.tensors.size(), 2u);
  EXPECT_EQ(f.tensors[0].name, "early");  // sorted by data offset
  EXPECT_EQ(f.tensors[1].name, "late");
  EXPECT_EQ(f.find("early")->value.to_vector(), (std::vector<float>{1.f, 2.f}));
  EXPECT_EQ(f.find("late")->value.to_vector(), (std::vector<float>{3.f}));
}

// The format's rule, which the reference implementation enforces: tensors tile the data, so
// two names never share bytes and no byte is left over.
TEST_F(Safetensors, OverlapsHolesAndDuplicateNamesAreRefused) {
  const std::string data = raw<float>({1.f, 2.f, 3.f});
  expect_error(build(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                     R"("alias":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},)"
                     R"("c":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                     data),
               "'alias' overlaps the tensor before it");
  expect_error(build(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                     R"("c":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                     data),
               "bytes 4..8 of the data belong to no tensor");
  expect_error(build(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", data),
               "bytes 8..12 of the data belong to no tensor");
  expect_error(build(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                     R"("a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                     data),
               "names tensor 'a' twice");
}

// Headers built to hurt the parser: 200,000 nested arrays (a stack overflow for a recursive
// reader), a number beyond double range, a name holding a newline (a two-line message).
TEST_F(Safetensors, HostileHeadersAreOneLineErrors) {
  expect_error(build(R"({"t":)" + std::string(200000, '[') + std::string(200000, ']') + "}", ""),
               "nests deeper than");
  expect_error(
      build(R"({"t":{"dtype":"F32","shape":[1e999],"data_offsets":[0,4]}})", raw<float>({1.f})),
      "not valid JSON");
  expect_error(build("{\"line\\nbreak\":{\"dtype\":\"F99\",\"shape\":[1],\"data_offsets\":[0,4]}}",
                     raw<float>({1.f})),
               "tensor 'line\\x0abreak'");
}

TEST_F(Safetensors, AcceptsWhitespacePaddingAndNullMetadata) {
  std::string header =
      R"({"__metadata__":null, "t" : {"shape":[2],"data_offsets":[0,8],"dtype":"F32"}})";
  header += "     ";
  io::SafetensorsFile f = io::parse_safetensors_bytes(build(header, raw<float>({4.f, 5.f})), "x");
  ASSERT_EQ(f.tensors.size(), 1u);
  EXPECT_EQ(f.tensors[0].value.to_vector(), (std::vector<float>{4.f, 5.f}));
}

TEST_F(Safetensors, TruncatedOrTooShortFiles) {
  expect_error("", "too short");
  expect_error(std::string("\x08\0\0\0\0\0\0", 7), "too short");
  std::string good = build(kOneTensor, raw<float>({1.f, 2.f}));
  ASSERT_NO_THROW(io::parse_safetensors_bytes(good, "good"));
  expect_error(good.substr(0, good.size() - 1), "past the end");
  expect_error(good.substr(0, 8 + kOneTensor.size() - 3), "past the end");
  expect_error(good.substr(0, 8), "past the end of the file");
  expect_error(build("", ""), "not valid JSON");
}

TEST_F(Safetensors, AbsurdHeaderLength) {
  std::string data = kOneTensor + raw<float>({1.f, 2.f});
  expect_error(std::string(8, '\xff') + data, "header length 18446744073709551615");
  std::string len(8, '\0');
  len[0] = '\x00';
  len[1] = '\x10';  // 4096 bytes, longer than the file
  expect_error(len + data, "past the end of the file");
  std::string negative_looking("\0\0\0\0\0\0\0\x80", 8);
  expect_error(negative_looking + data, "past the end of the file");
}

TEST_F(Safetensors, BadJson) {
  expect_error(build(R"({"t": {"dtype": "F32", )", ""), "not valid JSON");
  expect_error(build("{not json}", ""), "not valid JSON");
  expect_error(build(std::string("{\"t\0\":1}", 8), ""), "not valid JSON");
  expect_error(build("[1, 2]", ""), "not a JSON object");
  expect_error(build("\"str\"", ""), "not a JSON object");
}

TEST_F(Safetensors, MissingOrIllTypedFields) {
  const std::string data = raw<float>({1.f, 2.f});
  expect_error(build(R"({"t":{"shape":[2],"data_offsets":[0,8]}})", data), "missing \"dtype\"");
  expect_error(build(R"({"t":{"dtype":"F32","data_offsets":[0,8]}})", data), "missing \"shape\"");
  expect_error(build(R"({"t":{"dtype":"F32","shape":[2]}})", data), "missing \"data_offsets\"");
  expect_error(build(R"({"t":[1,2]})", data), "not a JSON object");
  expect_error(build(R"({"t":{"dtype":7,"shape":[2],"data_offsets":[0,8]}})", data),
               "\"dtype\" is not a string");
  expect_error(build(R"({"t":{"dtype":"F32","shape":2,"data_offsets":[0,8]}})", data),
               "\"shape\" is not an array");
  expect_error(build(R"({"t":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", data),
               "non-negative integer");
  expect_error(build(R"({"t":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})", data),
               "non-negative integer");
  expect_error(build(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", data),
               "\"data_offsets\"");
  expect_error(build(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8,8]}})", data),
               "\"data_offsets\"");
  expect_error(build(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}})", data),
               "\"data_offsets\"");
  expect_error(build(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", data),
               "end before they begin");
  expect_error(build(R"({"__metadata__":{"a":1}})", ""), "is not a string");
  expect_error(build(R"({"__metadata__":["a"]})", ""), "\"__metadata__\" is not a JSON object");
}

TEST_F(Safetensors, UnknownDtype) {
  const std::string data = raw<float>({1.f, 2.f});
  expect_error(build(R"({"t":{"dtype":"f32","shape":[2],"data_offsets":[0,8]}})", data),
               "unknown dtype 'f32'");
  expect_error(build(R"({"t":{"dtype":"F8_E4M3","shape":[8],"data_offsets":[0,8]}})", data),
               "unknown dtype 'F8_E4M3'");
  expect_error(build(R"({"t":{"dtype":"","shape":[2],"data_offsets":[0,8]}})", data),
               "unknown dtype");
}

TEST_F(Safetensors, OffsetsInconsistentWithShape) {
  const std::string data = raw<float>({1.f, 2.f, 3.f, 4.f});
  expect_error(build(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", data), "needs 8");
  expect_error(build(R"({"t":{"dtype":"F32","shape":[],"data_offsets":[0,0]}})", data), "needs 4");
  expect_error(build(R"({"t":{"dtype":"F16","shape":[2],"data_offsets":[0,8]}})", data), "needs 4");
  expect_error(build(R"({"t":{"dtype":"F32","shape":[4294967296,4294967296,16],)"
                     R"("data_offsets":[0,16]}})",
                     data),
               "too many elements");
  expect_error(build(R"({"t":{"dtype":"F64","shape":[4611686018427387904],)"
                     R"("data_offsets":[0,16]}})",
                     data),
               "too many elements");
}

TEST_F(Safetensors, OffsetsPastTheEnd) {
  const std::string data = raw<float>({1.f, 2.f});
  expect_error(build(R"({"t":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", data),
               "past the end of the file");
  expect_error(build(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", data),
               "past the end of the file");
  expect_error(build(R"({"t":{"dtype":"F32","shape":[1],)"
                     R"("data_offsets":[18446744073709551612,18446744073709551616]}})",
                     data),
               "\"data_offsets\"");
}

TEST_F(Safetensors, FileErrorsNameThePath) {
  const std::string p = path("broken.safetensors");
  write_raw(p, build(kOneTensor, raw<float>({1.f})));  // 4 data bytes of 8
  try {
    io::load_safetensors(p);
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
  }
  const std::string missing = path("missing.safetensors");
  try {
    io::load_safetensors(missing);
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(missing), std::string::npos) << e.what();
  }
}

TEST_F(Safetensors, SaveRejectsBadInputWithoutTouchingTheFile) {
  const std::string p = path("keep.safetensors");
  write_raw(p, "old");
  Tensor t = Tensor::ones({2});
  EXPECT_THROW(io::save_safetensors(p, {{"a", t}, {"a", t}}), Error);
  EXPECT_THROW(io::save_safetensors(p, {{"__metadata__", t}}), Error);
  EXPECT_THROW(io::save_safetensors(p, {{"a", Tensor()}}), Error);
  EXPECT_THROW(io::save_safetensors(p, {{std::string("\xff\xfe"), t}}), Error);
  EXPECT_EQ(read_raw(p), "old");
  EXPECT_EQ(listing(), (std::set<std::string>{"keep.safetensors"}));
  EXPECT_THROW(io::save_safetensors(path("no/dir/x.safetensors"), {{"a", t}}), Error);
}

TEST_F(Safetensors, EveryTruncationAndByteFlipIsHandled) {
  std::string good = io::to_safetensors_bytes(
      {{"a", Tensor::from_vector({2}, {1.f, 2.f})}, {"b", Tensor::scalar(3.f)}}, {{"k", "v"}});
  for (size_t n = 0; n < good.size(); ++n)
    EXPECT_THROW(io::parse_safetensors_bytes(good.substr(0, n), "cut"), Error) << n;
  // A flipped byte either still parses (e.g. inside a float) or throws cnnzoo::Error; any
  // other exception escapes and fails the test.
  for (size_t i = 0; i < good.size(); ++i) {
    for (char c : {'\0', '\xff', '"', '9', '{', ']', '-'}) {
      std::string bad = good;
      bad[i] = c;
      try {
        io::parse_safetensors_bytes(bad, "flipped");
      } catch (const Error&) {
      }
    }
  }
}
