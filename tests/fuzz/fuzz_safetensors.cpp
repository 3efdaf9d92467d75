// safetensors: parse; what parses must write back and parse to the same tensors; the file
// loader agrees with the bytes parser.
#include "cnnzoo/io/safetensors.hpp"
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::expect_clean([&] {
    cnnzoo::io::SafetensorsFile f = cnnzoo::io::parse_safetensors_bytes(fuzz::bytes(data, size), "fuzz");
    cnnzoo::io::NamedTensors tensors;
    for (const auto& e : f.tensors) tensors.emplace_back(e.name, e.value);
    const std::string again = cnnzoo::io::to_safetensors_bytes(tensors, f.metadata);
    cnnzoo::io::SafetensorsFile g = cnnzoo::io::parse_safetensors_bytes(again, "round trip");
    if (g.tensors.size() != f.tensors.size() || g.metadata != f.metadata) std::abort();
    for (size_t i = 0; i < g.tensors.size(); ++i)
      if (g.tensors[i].name != f.tensors[i].name || g.tensors[i].shape != f.tensors[i].shape)
        std::abort();
  });
  fuzz::expect_clean([&] {
    cnnzoo::io::load_safetensors(fuzz::write("f.safetensors", data, size));
  });
  return 0;
}
