// Loading weights files: PyTorch exports without batch-norm counters, strict names/shapes.
#include <gtest/gtest.h>

#include <filesystem>

#include "cnnzoo/io/safetensors.hpp"
#include "cnnzoo/models.hpp"
#include "cnnzoo/random.hpp"
#include "cnnzoo/train/trainer.hpp"
#include "data_paths.hpp"

using namespace cnnzoo;

TEST(LoadWeights, AcceptsFilesWithoutBatchNormCounters) {
  TempDir tmp;
  manual_seed(11);
  nn::ModulePtr a = models::build_model("resnet18", 10);
  nn::NamedTensors st;
  for (auto& kv : a->state_dict())
    if (kv.first.find("num_batches_tracked") == std::string::npos) st.push_back(kv);
  ASSERT_LT(st.size(), a->state_dict().size());
  io::save_safetensors(tmp / "w.safetensors", st);
  manual_seed(12);
  nn::ModulePtr b = models::build_model("resnet18", 10);
  load_weights(*b, tmp / "w.safetensors");
  auto sa = a->state_dict(), sb = b->state_dict();
  for (size_t i = 0; i < sa.size(); ++i)
    for (int64_t k = 0; k < sa[i].second.numel(); ++k)
      ASSERT_EQ(sa[i].second[k], sb[i].second[k]) << sa[i].first;
  // Any other missing key is still an error naming the file and the key.
  st.erase(st.begin());
  io::save_safetensors(tmp / "w2.safetensors", st);
  try {
    load_weights(*b, tmp / "w2.safetensors");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("conv1.weight"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("w2.safetensors"), std::string::npos) << e.what();
  }
}
