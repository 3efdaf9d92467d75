// A write-only protobuf encoder, enough for ONNX's messages: varints, length-delimited
// strings and sub-messages, packed repeated integers, fixed 32-bit floats.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace cnnzoo::protobuf {

class Message {
 public:
  Message& varint(int field, uint64_t v) {
    key(field, 0);
    put_varint(v);
    return *this;
  }
  Message& int64(int field, int64_t v) { return varint(field, static_cast<uint64_t>(v)); }
  Message& bytes(int field, const std::string& s) {
    key(field, 2);
    put_varint(s.size());
    out_ += s;
    return *this;
  }
  Message& message(int field, const Message& m) { return bytes(field, m.out_); }
  // The key and length of a length-delimited field whose `length` bytes of contents the
  // caller appends itself (large payloads, written without an intermediate copy).
  Message& header(int field, uint64_t length) {
    key(field, 2);
    put_varint(length);
    return *this;
  }
  Message& raw(const char* data, size_t n) {
    out_.append(data, n);
    return *this;
  }
  Message& float32(int field, float v) {
    key(field, 5);
    char b[4];
    std::memcpy(b, &v, 4);  // little-endian hosts only (x86-64, ARM64)
    out_.append(b, 4);
    return *this;
  }
  Message& packed_int64(int field, const std::vector<int64_t>& vs) {
    Message packed;
    for (int64_t v : vs) packed.put_varint(static_cast<uint64_t>(v));
    return bytes(field, packed.out_);
  }
  Message& packed_float32(int field, const std::vector<float>& vs) {
    std::string b(vs.size() * 4, '\0');
    if (!vs.empty()) std::memcpy(&b[0], vs.data(), b.size());
    return bytes(field, b);
  }
  const std::string& str() const { return out_; }
  std::string take() { return std::move(out_); }
  size_t size() const { return out_.size(); }

 private:
  void key(int field, int wire_type) {
    put_varint((static_cast<uint64_t>(field) << 3) | wire_type);
  }
  void put_varint(uint64_t v) {
    while (v >= 0x80) {
      out_.push_back(static_cast<char>((v & 0x7f) | 0x80));
      v >>= 7;
    }
    out_.push_back(static_cast<char>(v));
  }
  std::string out_;
};

}  // namespace cnnzoo::protobuf
