// safetensors: 8-byte little-endian header length, JSON header, raw little-endian tensor data.
#include "cnnzoo/io/safetensors.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "cnnzoo/error.hpp"
#include "cnnzoo/io/file.hpp"
#include "io/byte_source.hpp"
#include "io/convert.hpp"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "safetensors data is little-endian and is copied without byte swapping");

namespace cnnzoo::io {

namespace {

// ordered_json keeps the header order, which breaks ties between equal offsets (empty
// tensors) in the order the writer used.
using json = nlohmann::ordered_json;
using namespace detail;

// The reference implementation refuses headers above 100 MB; a larger length is corruption.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
// A header is an object of objects holding short arrays: depth 3. Deeper nesting is hostile
// (200k levels would exhaust the stack of whoever walks the tree).
constexpr int kMaxJsonDepth = 16;

// A name as it may appear in a one-line message: control characters escaped.
std::string printable(const std::string& name) {
  std::string out;
  for (unsigned char c : name) {
    if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

struct DtypeInfo {
  const char* name;
  uint64_t itemsize;
  void (*convert)(const unsigned char*, float*, size_t);  // nullptr: bytes are float32
};

constexpr DtypeInfo kDtypes[] = {
    {"F32", 4, nullptr},
    {"F64", 8, convert_plain<double, float>},
    {"F16", 2, convert_f16},
    {"BF16", 2, convert_bf16},
    {"I64", 8, convert_plain<int64_t, float>},
    {"I32", 4, convert_plain<int32_t, float>},
    {"I16", 2, convert_plain<int16_t, float>},
    {"I8", 1, convert_plain<int8_t, float>},
    {"U64", 8, convert_plain<uint64_t, float>},
    {"U32", 4, convert_plain<uint32_t, float>},
    {"U16", 2, convert_plain<uint16_t, float>},
    {"U8", 1, convert_plain<uint8_t, float>},
    {"BOOL", 1, convert_bool<float>},
};

const DtypeInfo* find_dtype(const std::string& name) {
  for (const DtypeInfo& d : kDtypes)
    if (name == d.name) return &d;
  return nullptr;
}

// One header entry, validated, before its data is read.
struct PendingEntry {
  SafetensorsEntry entry;
  const DtypeInfo* dtype;
  uint64_t begin, end;
};

PendingEntry parse_entry(const std::string& where, const std::string& name, const json& value,
                         uint64_t data_size) {
  const std::string at = where + "tensor '" + printable(name) + "': ";
  check(value.is_object(), at + "header entry is not a JSON object");
  auto field = [&](const char* key) -> const json& {
    auto it = value.find(key);
    check(it != value.end(), at + "missing \"" + key + "\"");
    return *it;
  };

  PendingEntry p;
  p.entry.name = name;
  const json& dtype = field("dtype");
  check(dtype.is_string(), at + "\"dtype\" is not a string");
  p.entry.dtype = dtype.get<std::string>();
  p.dtype = find_dtype(p.entry.dtype);
  check(p.dtype != nullptr, at + "unknown dtype '" + p.entry.dtype + "'");

  const json& shape = field("shape");
  check(shape.is_array(), at + "\"shape\" is not an array");
  uint64_t numel = 1;
  for (const json& d : shape) {
    bool ok = d.is_number_unsigned() && d.get<uint64_t>() <= uint64_t(INT64_MAX);
    check(ok, at + "\"shape\" has an entry that is not a non-negative integer: " + d.dump());
    uint64_t n = d.get<uint64_t>();
    if (n != 0 && numel > uint64_t(INT64_MAX) / n)
      throw Error(at + "\"shape\" " + shape.dump() + " has too many elements");
    numel *= n;
    p.entry.shape.push_back(static_cast<int64_t>(n));
  }

  const json& offsets = field("data_offsets");
  check(offsets.is_array() && offsets.size() == 2 && offsets[0].is_number_unsigned() &&
            offsets[1].is_number_unsigned(),
        at + "\"data_offsets\" is not a pair of non-negative integers: " + offsets.dump());
  p.begin = offsets[0].get<uint64_t>();
  p.end = offsets[1].get<uint64_t>();
  check(p.begin <= p.end, at + "\"data_offsets\" " + offsets.dump() + " end before they begin");
  check(numel <= std::numeric_limits<uint64_t>::max() / p.dtype->itemsize,
        at + "\"shape\" " + shape.dump() + " has too many elements");
  uint64_t nbytes = numel * p.dtype->itemsize;
  check(p.end - p.begin == nbytes, at + "\"data_offsets\" " + offsets.dump() + " span " +
                                       std::to_string(p.end - p.begin) + " bytes but shape " +
                                       shape_str(p.entry.shape) + " of " + p.entry.dtype +
                                       " needs " + std::to_string(nbytes));
  check(p.end <= data_size, at + "\"data_offsets\" " + offsets.dump() +
                                " run past the end of the file (" + std::to_string(data_size) +
                                " data bytes)");
  return p;
}

SafetensorsFile parse(const detail::ByteSource& src) {
  const std::string where = "safetensors: '" + src.name() + "': ";
  const uint64_t size = src.size();
  check(size >= 8, where + "file is " + std::to_string(size) +
                       " bytes, too short for the 8-byte header length");
  unsigned char len_bytes[8];
  src.read(0, 8, len_bytes);
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | len_bytes[i];
  check(header_len <= size - 8, where + "header length " + std::to_string(header_len) +
                                    " runs past the end of the file (" + std::to_string(size) +
                                    " bytes)");
  check(header_len <= kMaxHeaderBytes,
        where + "header length " + std::to_string(header_len) + " exceeds the 100 MB limit");

  std::string text(static_cast<size_t>(header_len), '\0');
  src.read(8, text.size(), text.data());
  json header;
  std::set<std::string> names;
  // Nesting depth and duplicate names are checked while parsing (a JSON object keeps the last
  // of two equal keys, silently).
  auto watch = [&](int depth, json::parse_event_t event, json& parsed) {
    if ((event == json::parse_event_t::object_start || event == json::parse_event_t::array_start) &&
        depth >= kMaxJsonDepth)
      throw Error(where + "header nests deeper than " + std::to_string(kMaxJsonDepth) + " levels");
    if (event == json::parse_event_t::key && depth == 1 &&
        !names.insert(parsed.get<std::string>()).second)
      throw Error(where + "header names tensor '" + printable(parsed.get<std::string>()) +
                  "' twice");
    return true;
  };
  try {
    header = json::parse(text, watch);
  } catch (const json::exception& e) {
    // parse errors, and numbers out of range (1e999) which nlohmann reports as its own kind
    throw Error(where + "header is not valid JSON: " + e.what());
  }
  check(header.is_object(), where + "header is not a JSON object");

  const uint64_t data_start = 8 + header_len;
  const uint64_t data_size = size - data_start;
  SafetensorsFile file;
  std::vector<PendingEntry> pending;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (it->is_null()) continue;
      check(it->is_object(), where + "\"__metadata__\" is not a JSON object");
      for (auto m = it->begin(); m != it->end(); ++m) {
        check(m->is_string(),
              where + "\"__metadata__\" value for '" + m.key() + "' is not a string");
        file.metadata[m.key()] = m->get<std::string>();
      }
      continue;
    }
    pending.push_back(parse_entry(where, it.key(), *it, data_size));
  }

  // File data order, which is the order save_safetensors was given.
  std::stable_sort(pending.begin(), pending.end(),
                   [](const PendingEntry& a, const PendingEntry& b) {
                     return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
                   });
  // The format's rule: the tensors' byte ranges tile the data buffer, no overlaps, no holes.
  uint64_t covered = 0;
  for (const PendingEntry& p : pending) {
    check(p.begin >= covered, where + "tensor '" + printable(p.entry.name) +
                                  "' overlaps the tensor before it (bytes " +
                                  std::to_string(p.begin) + ".." + std::to_string(p.end) + ")");
    check(p.begin == covered, where + "bytes " + std::to_string(covered) + ".." +
                                  std::to_string(p.begin) + " of the data belong to no tensor");
    covered = p.end;
  }
  check(covered == data_size, where + "bytes " + std::to_string(covered) + ".." +
                                  std::to_string(data_size) + " of the data belong to no tensor");
  file.tensors.reserve(pending.size());
  std::vector<unsigned char> raw;
  for (PendingEntry& p : pending) {
    SafetensorsEntry& e = p.entry;
    e.value = Tensor::empty(e.shape);
    const size_t nbytes = static_cast<size_t>(p.end - p.begin);
    if (!p.dtype->convert) {
      src.read(data_start + p.begin, nbytes, e.value.data());
    } else {
      raw.resize(nbytes);
      src.read(data_start + p.begin, nbytes, raw.data());
      p.dtype->convert(raw.data(), e.value.data(), static_cast<size_t>(e.value.numel()));
    }
    file.tensors.push_back(std::move(e));
  }
  return file;
}

// The header text, already padded with spaces so the data starts 8-byte aligned: the float
// tensors, then the raw ones.
std::string make_header(const NamedTensors& tensors, const std::vector<RawTensor>& raw,
                        const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  if (!metadata.empty()) {
    json m = json::object();
    for (const auto& kv : metadata) m[kv.first] = kv.second;
    header["__metadata__"] = std::move(m);
  }
  std::set<std::string> seen;
  uint64_t offset = 0;
  auto add = [&](const std::string& name, const char* dtype, const Shape& shape, uint64_t nbytes) {
    check(name != "__metadata__",
          "save_safetensors: '__metadata__' is reserved, not a tensor name");
    check(seen.insert(name).second, "save_safetensors: duplicate tensor name '" + name + "'");
    json entry = json::object();
    entry["dtype"] = dtype;
    entry["shape"] = shape;
    entry["data_offsets"] = {offset, offset + nbytes};
    header[name] = std::move(entry);
    offset += nbytes;
  };
  for (const auto& [name, t] : tensors) {
    check(t.defined(), "save_safetensors: tensor '" + name + "' is undefined");
    add(name, "F32", t.shape(), static_cast<uint64_t>(t.numel()) * sizeof(float));
  }
  for (const RawTensor& r : raw) {
    const DtypeInfo* d = find_dtype(r.dtype);
    check(d != nullptr, "save_safetensors: tensor '" + r.name + "' has unknown dtype " + r.dtype);
    check(static_cast<uint64_t>(shape_numel(r.shape)) * d->itemsize == r.bytes.size(),
          "save_safetensors: tensor '" + r.name + "' has " + std::to_string(r.bytes.size()) +
              " bytes for shape " + shape_str(r.shape) + " of " + r.dtype);
    add(r.name, d->name, r.shape, r.bytes.size());
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("save_safetensors: a tensor name or metadata string is not valid "
                            "UTF-8: ") +
                e.what());
  }
  text.append((8 - text.size() % 8) % 8, ' ');
  return text;
}

void write_safetensors(std::ostream& os, const std::string& header, const NamedTensors& tensors,
                       const std::vector<RawTensor>& raw) {
  unsigned char len_bytes[8];
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) len_bytes[i] = static_cast<unsigned char>(n >> (8 * i));
  os.write(reinterpret_cast<const char*>(len_bytes), 8);
  os.write(header.data(), static_cast<std::streamsize>(header.size()));
  for (const auto& kv : tensors)
    os.write(reinterpret_cast<const char*>(kv.second.data()),
             static_cast<std::streamsize>(kv.second.numel() * sizeof(float)));
  for (const RawTensor& r : raw)
    os.write(r.bytes.data(), static_cast<std::streamsize>(r.bytes.size()));
}

}  // namespace

const SafetensorsEntry* SafetensorsFile::find(const std::string& name) const {
  for (const SafetensorsEntry& e : tensors)
    if (e.name == name) return &e;
  return nullptr;
}

SafetensorsFile load_safetensors(const std::string& path) {
  return parse(detail::FileSource(path, "safetensors"));
}

SafetensorsFile parse_safetensors_bytes(const std::string& bytes,
                                        const std::string& name_for_errors) {
  return parse(detail::MemorySource(bytes, name_for_errors));
}

void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata) {
  save_safetensors_raw(path, tensors, {}, metadata);
}

void save_safetensors_raw(const std::string& path, const NamedTensors& tensors,
                          const std::vector<RawTensor>& raw,
                          const std::map<std::string, std::string>& metadata) {
  // Built before the file is touched, so bad names fail without any I/O.
  const std::string header = make_header(tensors, raw, metadata);
  atomic_write(path, [&](std::ostream& os) { write_safetensors(os, header, tensors, raw); });
}

std::string to_safetensors_bytes(const NamedTensors& tensors,
                                 const std::map<std::string, std::string>& metadata) {
  std::ostringstream os;
  write_safetensors(os, make_header(tensors, {}, metadata), tensors, {});
  return os.str();
}

}  // namespace cnnzoo::io
