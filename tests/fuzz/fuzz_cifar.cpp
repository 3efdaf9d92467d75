// CIFAR-10 and CIFAR-100 binary batches: the input is the test batch.
#include <filesystem>

#include "cnnzoo/data/dataset.hpp"
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::filesystem::create_directories(fuzz::scratch() + "/c10");
  std::filesystem::create_directories(fuzz::scratch() + "/c100");
  fuzz::write("c10/test_batch.bin", data, size);
  fuzz::expect_clean([&] { cnnzoo::data::load_cifar10_binary(fuzz::scratch() + "/c10", false); });
  fuzz::write("c100/test.bin", data, size);
  fuzz::expect_clean(
      [&] { cnnzoo::data::load_cifar100_binary(fuzz::scratch() + "/c100", false, true); });
  return 0;
}
