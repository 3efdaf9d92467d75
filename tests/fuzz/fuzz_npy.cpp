// .npy: parse (float and int64 readers); what parses writes back to the same bytes' tensor.
#include "cnnzoo/io/npy.hpp"
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::expect_clean([&] {
    cnnzoo::Tensor t = cnnzoo::io::parse_npy_bytes(fuzz::bytes(data, size), "fuzz");
    cnnzoo::Tensor u = cnnzoo::io::parse_npy_bytes(cnnzoo::io::to_npy_bytes(t), "round trip");
    if (u.shape() != t.shape()) std::abort();
  });
  fuzz::expect_clean([&] {
    cnnzoo::Shape shape;
    cnnzoo::io::load_npy_i64(fuzz::write("x.npy", data, size), &shape);
  });
  return 0;
}
