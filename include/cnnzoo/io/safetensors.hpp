// safetensors reading and writing: the weight and checkpoint format (docs/file-formats.md).
#pragma once
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "cnnzoo/tensor.hpp"

namespace cnnzoo::io {

// Tensors in the order they are written (a state dict keeps its module order).
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

struct SafetensorsEntry {
  std::string name;
  std::string dtype;  // as stored in the file: "F32", "F16", "BF16", "I64", ...
  Shape shape;
  Tensor value;  // converted to float whatever the stored dtype
};

struct SafetensorsFile {
  std::vector<SafetensorsEntry> tensors;        // in data order (by offsets, then header order)
  std::map<std::string, std::string> metadata;  // the header's "__metadata__"

  const SafetensorsEntry* find(const std::string& name) const;  // nullptr when absent
};

// Reads a safetensors file. Stored dtypes F32, F64, F16, BF16, I64, I32, I16, I8, U64, U32,
// U16, U8 and BOOL are converted to float; callers decide which dtypes they accept. Any
// malformed input (truncated file, bad header length, bad JSON, missing or ill-typed fields,
// unknown dtype, offsets that disagree with the shape or run past the end of the file)
// throws cnnzoo::Error naming the file and the problem.
SafetensorsFile load_safetensors(const std::string& path);

// The same parser over bytes in memory; `name_for_errors` stands in for the path in messages.
SafetensorsFile parse_safetensors_bytes(const std::string& bytes,
                                        const std::string& name_for_errors);

// Writes the tensors as F32 in the given order, with an optional "__metadata__" map, via
// atomic_write. Throws cnnzoo::Error for duplicate or reserved names, undefined tensors, and
// I/O failures.
void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// A tensor stored as it is given: raw little-endian bytes of its dtype ("U8" masks, packed
// codes), written after the float tensors.
struct RawTensor {
  std::string name;
  std::string dtype;  // "U8", "I64", ...: must be a dtype load_safetensors reads
  Shape shape;
  std::string bytes;  // shape's element count x the dtype's size
};
void save_safetensors_raw(const std::string& path, const NamedTensors& tensors,
                          const std::vector<RawTensor>& raw,
                          const std::map<std::string, std::string>& metadata = {});

// The exact bytes save_safetensors would write.
std::string to_safetensors_bytes(const NamedTensors& tensors,
                                 const std::map<std::string, std::string>& metadata = {});

}  // namespace cnnzoo::io
