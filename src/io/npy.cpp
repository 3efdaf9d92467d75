// NumPy .npy: magic, version, header length, a Python dict literal header, raw array data.
#include "cnnzoo/io/npy.hpp"

#include <cctype>
#include <cstring>
#include <limits>
#include <sstream>

#include "cnnzoo/error.hpp"
#include "cnnzoo/io/file.hpp"
#include "io/byte_source.hpp"
#include "io/convert.hpp"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "npy data is read and written as little-endian without byte swapping");

namespace cnnzoo::io {

namespace {

using namespace detail;

constexpr char kMagic[] = "\x93NUMPY";  // 6 bytes
constexpr size_t kMagicLen = 6;
constexpr size_t kAlign = 64;  // numpy aligns the data start to 64 bytes

struct NpyDtype {
  char kind;  // 'f', 'i', 'u', 'b'
  uint64_t itemsize;
  void (*to_float)(const unsigned char*, float*, size_t);  // nullptr: float32
  void (*to_i64)(const unsigned char*, int64_t*, size_t);  // nullptr: not an integer
};

constexpr NpyDtype kDtypes[] = {
    {'f', 4, nullptr, nullptr},
    {'f', 8, convert_plain<double, float>, nullptr},
    {'f', 2, convert_f16, nullptr},
    {'i', 8, convert_plain<int64_t, float>, convert_plain<int64_t, int64_t>},
    {'i', 4, convert_plain<int32_t, float>, convert_plain<int32_t, int64_t>},
    {'i', 2, convert_plain<int16_t, float>, convert_plain<int16_t, int64_t>},
    {'i', 1, convert_plain<int8_t, float>, convert_plain<int8_t, int64_t>},
    {'u', 1, convert_plain<uint8_t, float>, convert_plain<uint8_t, int64_t>},
    {'b', 1, convert_bool<float>, convert_bool<int64_t>},
};

struct NpyHeader {
  std::string descr;
  const NpyDtype* dtype = nullptr;
  Shape shape;
  uint64_t numel = 1;
  uint64_t data_offset = 0;
};

// Just enough of Python's literal syntax for the header numpy writes:
// {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
class HeaderParser {
 public:
  HeaderParser(const std::string& text, const std::string& where) : s_(text), where_(where) {}

  NpyHeader parse() {
    NpyHeader h;
    bool have_descr = false, have_order = false, have_shape = false;
    expect('{');
    while (true) {
      skip_space();
      if (peek() == '}') break;
      std::string key = parse_string();
      expect(':');
      if (key == "descr") {
        h.descr = parse_string();
        have_descr = true;
      } else if (key == "fortran_order") {
        bool fortran = parse_bool();
        check(!fortran, where_ +
                            "fortran_order True is not supported (save a C-contiguous "
                            "array, e.g. np.ascontiguousarray)");
        have_order = true;
      } else if (key == "shape") {
        h.shape = parse_shape();
        have_shape = true;
      } else {
        fail("unexpected key '" + key + "'");
      }
      skip_space();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() != '}') fail("expected ',' or '}'");
    }
    ++pos_;
    skip_space();
    if (pos_ != s_.size()) fail("unexpected text after the closing '}'");
    if (!have_descr || !have_order || !have_shape)
      fail(std::string("missing key '") +
           (!have_descr   ? "descr"
            : !have_order ? "fortran_order"
                          : "shape") +
           "'");
    return h;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw Error(where_ + "malformed header (" + what + " at character " + std::to_string(pos_) +
                ")");
  }
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  void skip_space() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }
  void expect(char c) {
    skip_space();
    if (peek() != c) fail(std::string("expected '") + c + "'");
    ++pos_;
  }
  std::string parse_string() {
    skip_space();
    char quote = peek();
    if (quote != '\'' && quote != '"') fail("expected a quoted string");
    size_t end = s_.find(quote, pos_ + 1);
    if (end == std::string::npos) fail("unterminated string");
    std::string out = s_.substr(pos_ + 1, end - pos_ - 1);
    pos_ = end + 1;
    return out;
  }
  bool parse_bool() {
    skip_space();
    if (s_.compare(pos_, 4, "True") == 0) {
      pos_ += 4;
      return true;
    }
    if (s_.compare(pos_, 5, "False") == 0) {
      pos_ += 5;
      return false;
    }
    fail("expected True or False");
  }
  Shape parse_shape() {
    Shape shape;
    expect('(');
    while (true) {
      skip_space();
      if (peek() == ')') break;
      if (!std::isdigit(static_cast<unsigned char>(peek())))
        fail("expected a non-negative integer in the shape");
      int64_t d = 0;
      while (std::isdigit(static_cast<unsigned char>(peek()))) {
        int digit = peek() - '0';
        if (d > (std::numeric_limits<int64_t>::max() - digit) / 10) fail("shape entry too large");
        d = d * 10 + digit;
        ++pos_;
      }
      if (peek() == 'L') ++pos_;  // Python 2 long literal, in files written by old numpy
      shape.push_back(d);
      skip_space();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() != ')') fail("expected ',' or ')' in the shape");
    }
    ++pos_;
    return shape;
  }

  const std::string& s_;
  const std::string& where_;
  size_t pos_ = 0;
};

const NpyDtype* find_dtype(const std::string& descr, const std::string& where) {
  const std::string bad = where + "unsupported dtype '" + descr + "'";
  check(descr.size() >= 3, bad);
  check(descr[0] != '>', where + "big-endian dtype '" + descr + "' is not supported");
  check(descr[0] == '<' || descr[0] == '|' || descr[0] == '=', bad);
  for (size_t i = 2; i < descr.size(); ++i)
    check(std::isdigit(static_cast<unsigned char>(descr[i])), bad);
  check(descr.size() <= 4, bad);
  char kind = descr[1];
  uint64_t size = std::stoul(descr.substr(2));
  for (const NpyDtype& d : kDtypes)
    if (d.kind == kind && d.itemsize == size) return &d;
  throw Error(bad);
}

NpyHeader read_header(const ByteSource& src, const std::string& where) {
  const uint64_t size = src.size();
  check(size >= kMagicLen + 4,
        where + "file is " + std::to_string(size) + " bytes, too short for an .npy header");
  unsigned char prefix[12] = {};
  src.read(0, kMagicLen + 4, prefix);
  check(std::memcmp(prefix, kMagic, kMagicLen) == 0, where + "not an .npy file (bad magic)");
  const int major = prefix[6], minor = prefix[7];
  check((major == 1 || major == 2 || major == 3) && minor == 0,
        where + "unsupported .npy format version " + std::to_string(major) + "." +
            std::to_string(minor));
  uint64_t header_len, header_start;
  if (major == 1) {
    header_len = prefix[8] | (uint64_t(prefix[9]) << 8);
    header_start = kMagicLen + 4;
  } else {
    check(size >= kMagicLen + 6, where + "file is too short for an .npy header");
    src.read(kMagicLen + 4, 2, prefix + 10);
    header_len = 0;
    for (int i = 11; i >= 8; --i) header_len = (header_len << 8) | prefix[i];
    header_start = kMagicLen + 6;
  }
  check(header_len <= size - header_start, where + "header length " + std::to_string(header_len) +
                                               " runs past the end of the file (" +
                                               std::to_string(size) + " bytes)");
  std::string text(static_cast<size_t>(header_len), '\0');
  src.read(header_start, text.size(), text.data());

  NpyHeader h = HeaderParser(text, where).parse();
  h.dtype = find_dtype(h.descr, where);
  for (int64_t d : h.shape) {
    if (d != 0 && h.numel > uint64_t(INT64_MAX) / uint64_t(d))
      throw Error(where + "shape " + shape_str(h.shape) + " has too many elements");
    h.numel *= uint64_t(d);
  }
  h.data_offset = header_start + header_len;
  const uint64_t have = size - h.data_offset;
  check(h.numel <= std::numeric_limits<uint64_t>::max() / h.dtype->itemsize,
        where + "shape " + shape_str(h.shape) + " has too many elements");
  const uint64_t need = h.numel * h.dtype->itemsize;
  check(have >= need, where + "truncated: " + std::to_string(have) + " data bytes but shape " +
                          shape_str(h.shape) + " of '" + h.descr + "' needs " +
                          std::to_string(need));
  check(have == need, where + std::to_string(have - need) +
                          " unexpected bytes after the array data (shape " + shape_str(h.shape) +
                          " of '" + h.descr + "')");
  return h;
}

Tensor read_float(const ByteSource& src, const std::string& where) {
  NpyHeader h = read_header(src, where);
  Tensor t = Tensor::empty(h.shape);
  const size_t nbytes = static_cast<size_t>(h.numel * h.dtype->itemsize);
  if (!h.dtype->to_float) {
    src.read(h.data_offset, nbytes, t.data());
  } else {
    std::vector<unsigned char> raw(nbytes);
    src.read(h.data_offset, nbytes, raw.data());
    h.dtype->to_float(raw.data(), t.data(), static_cast<size_t>(h.numel));
  }
  return t;
}

void write_npy(std::ostream& os, const Tensor& t) {
  std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < t.shape().size(); ++i) {
    if (i) dict += ", ";
    dict += std::to_string(t.shape()[i]);
  }
  if (t.shape().size() == 1) dict += ",";  // Python's one-element tuple
  dict += "), }";
  // Version 1.0 stores the header length in 16 bits; 2.0 in 32.
  size_t prefix = kMagicLen + 4;
  size_t total = (prefix + dict.size() + 1 + kAlign - 1) / kAlign * kAlign;
  int major = 1;
  if (total - prefix > 0xffff) {
    major = 2;
    prefix = kMagicLen + 6;
    total = (prefix + dict.size() + 1 + kAlign - 1) / kAlign * kAlign;
  }
  const uint64_t header_len = total - prefix;
  dict.append(header_len - dict.size() - 1, ' ');
  dict += '\n';

  os.write(kMagic, kMagicLen);
  os.put(static_cast<char>(major));
  os.put(0);
  for (size_t i = 0; i < prefix - kMagicLen - 2; ++i)
    os.put(static_cast<char>((header_len >> (8 * i)) & 0xff));
  os.write(dict.data(), static_cast<std::streamsize>(dict.size()));
  os.write(reinterpret_cast<const char*>(t.data()),
           static_cast<std::streamsize>(t.numel() * sizeof(float)));
}

}  // namespace

Tensor load_npy(const std::string& path) {
  return read_float(FileSource(path, "npy"), "npy: '" + path + "': ");
}

Tensor parse_npy_bytes(const std::string& bytes, const std::string& name_for_errors) {
  return read_float(MemorySource(bytes, name_for_errors), "npy: '" + name_for_errors + "': ");
}

std::vector<int64_t> load_npy_i64(const std::string& path, Shape* shape) {
  const std::string where = "npy: '" + path + "': ";
  FileSource src(path, "npy");
  NpyHeader h = read_header(src, where);
  check(h.dtype->to_i64 != nullptr, where + "expected integer data, found dtype '" + h.descr + "'");
  const size_t nbytes = static_cast<size_t>(h.numel * h.dtype->itemsize);
  std::vector<unsigned char> raw(nbytes);
  src.read(h.data_offset, nbytes, raw.data());
  std::vector<int64_t> values(static_cast<size_t>(h.numel));
  h.dtype->to_i64(raw.data(), values.data(), values.size());
  if (shape) *shape = h.shape;
  return values;
}

void save_npy(const std::string& path, const Tensor& tensor) {
  check(tensor.defined(), "save_npy: '" + path + "': tensor is undefined");
  atomic_write(path, [&](std::ostream& os) { write_npy(os, tensor); });
}

std::string to_npy_bytes(const Tensor& tensor) {
  check(tensor.defined(), "to_npy_bytes: tensor is undefined");
  std::ostringstream os;
  write_npy(os, tensor);
  return os.str();
}

}  // namespace cnnzoo::io
