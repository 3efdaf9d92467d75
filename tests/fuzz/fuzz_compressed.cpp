// Compressed weights (format cnnzoo-compressed): parse, then decode the codebooks and deflated
// codes; a hostile size, stream or code may only be refused with cnnzoo::Error.
#include "cnnzoo/compression.hpp"
#include "cnnzoo/io/safetensors.hpp"
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::expect_clean([&] {
    const cnnzoo::io::SafetensorsFile f =
        cnnzoo::io::parse_safetensors_bytes(fuzz::bytes(data, size), "fuzz");
    const cnnzoo::io::SafetensorsFile d = cnnzoo::compress::decompress(f, "fuzz");
    for (const auto& e : d.tensors)
      if (e.value.numel() != cnnzoo::shape_numel(e.shape)) std::abort();
  });
  return 0;
}
