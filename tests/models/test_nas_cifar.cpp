// The NAS-found CIFAR network (Zoph & Le 2016): the skip table gives each layer the input
// widths of the paper's figure.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "cnnzoo/models/nas_cifar.hpp"
#include "cnnzoo/nn/layers.hpp"
#include "cnnzoo/ops.hpp"
#include "model_test.hpp"

using namespace cnnzoo;
using namespace cnnzoo::models;
using namespace cnnzoo::testing;

CNNZOO_PAPER_TABLE(nas_cifar, {row("nas-cifar", 4120990).classifier(48).macs(4218089952)});

// The 15 searched layers take 3, 36, 84, ... input channels (models-spec.md section 2.22, the
// transcription of Figure 7): the skip table concatenates the right layers.
TEST(NasCifar, LayerInputWidths) {
  auto model = build("nas-cifar");
  const int64_t in[] = {3, 36, 84, 120, 72, 168, 216, 132, 168, 324, 336, 240, 360, 180, 228};
  const int64_t out[] = {36, 48, 36, 36, 48, 48, 48, 36, 36, 36, 36, 48, 48, 48, 48};
  const int64_t fh[] = {3, 3, 3, 5, 3, 7, 7, 7, 7, 7, 5, 7, 7, 7, 7};
  const int64_t fw[] = {3, 3, 3, 5, 7, 7, 7, 3, 1, 7, 7, 7, 5, 5, 5};
  std::map<std::string, Shape> shapes;
  for (auto& [k, t] : model->state_dict()) shapes[k] = t.shape();
  for (int l = 0; l < 15; ++l) {
    std::string key = "layer" + std::to_string(l + 1) + ".conv.weight";
    ASSERT_TRUE(shapes.count(key)) << key;
    EXPECT_EQ(shapes[key], (Shape{out[l], in[l], fh[l], fw[l]})) << key;
  }
  EXPECT_EQ(shapes["fc.weight"], (Shape{10, 48}));  // only layer 15 is left unconsumed
}

TEST(NasCifar, PaperErrorRecorded) {
  EXPECT_EQ(find_model("nas-cifar").paper_cifar10_error, "5.50");
}
