// The metadata of weights and checkpoint files: a safetensors header's __metadata__ read
// as a model's facts (model, options, classes, normalisation, preprocessing).
#include "cnnzoo/inference.hpp"
#include "cnnzoo/io/safetensors.hpp"
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Key\0value\0key\0value... as metadata, so the fuzzer reaches the fields directly.
  std::map<std::string, std::string> meta;
  const std::string in = fuzz::bytes(data, size);
  size_t pos = 0;
  while (pos < in.size()) {
    size_t k = in.find('\0', pos);
    if (k == std::string::npos) break;
    size_t v = in.find('\0', k + 1);
    meta[in.substr(pos, k - pos)] = in.substr(k + 1, v == std::string::npos ? v : v - k - 1);
    if (v == std::string::npos) break;
    pos = v + 1;
  }
  fuzz::expect_clean([&] { cnnzoo::ModelMetadata::from_file_metadata(meta, "fuzz"); });
  return 0;
}
