// PReLU-net (He et al. 2015): spatial pyramid pooling bins, the BN and dropout options.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "cnnzoo/models/prelu_net.hpp"
#include "cnnzoo/nn/layers.hpp"
#include "cnnzoo/ops.hpp"
#include "model_test.hpp"

using namespace cnnzoo;
using namespace cnnzoo::models;
using namespace cnnzoo::testing;

CNNZOO_PAPER_TABLE(prelu_net, {row("prelu-net-a", 150646216).grid(9).step(1, 0),
                               row("prelu-net-cifar", 43836234).grid(4).step(1, 0)});

TEST(PReLUNet, DropRateOptionIsHonoured) {
  // drop_rate 0 makes training-mode forwards repeatable (batch statistics are deterministic);
  // the default (0.5) does not.
  Tensor x = input_tensor({2, 3, 32, 32}, 1);
  auto repeatable = [&](const std::map<std::string, std::string>& opts) {
    auto m = build("prelu-net-cifar", -1, opts);
    m->train();
    NoGradGuard no_grad;
    Var a = m->forward(Var(x, false)), b = m->forward(Var(x, false));
    for (int64_t i = 0; i < a.value().numel(); ++i)
      if (a.value()[i] != b.value()[i]) return false;
    return true;
  };
  EXPECT_TRUE(repeatable({{"drop_rate", "0"}}));
  EXPECT_FALSE(repeatable({}));
}

TEST(PReLUNet, BatchNormOption) {
  // The CIFAR version has BN by default (conv biases dropped); batch_norm=false is the
  // paper's BN-free network.
  auto with_bn = build("prelu-net-cifar");
  auto without = build("prelu-net-cifar", -1, {{"batch_norm", "false"}});
  EXPECT_EQ(without->num_parameters(), 43829738);
  int64_t bn_layers = 0, conv_biases = 0;
  for (auto& [key, t] : with_bn->state_dict()) {
    if (key.find("_bn.running_mean") != std::string::npos) ++bn_layers;
    if (key.find("conv") != std::string::npos && key.find(".bias") != std::string::npos &&
        key.find("_bn.") == std::string::npos)
      ++conv_biases;
  }
  EXPECT_EQ(bn_layers, 16);
  EXPECT_EQ(conv_biases, 0);
  for (auto& [key, t] : without->state_dict()) EXPECT_EQ(key.find("_bn."), std::string::npos);
}

// prelu-net-a's spatial pyramid pooling on a 9x9 grid (its size at 224x224): levels 6, 3, 2, 1,
// each the max over bins [floor(i*9/n), ceil((i+1)*9/n)), flattened channel-major, finer levels
// first.
TEST(PReLUNet, SpatialPyramidPoolingBins) {
  auto model = build("prelu-net-a");
  nn::Module& spp = module_at(*model, "spp");
  Tensor x = input_tensor({1, 2, 9, 9}, 13);
  Tensor y = run(spp, x);
  ASSERT_EQ(y.shape(), (Shape{1, 2 * 50}));
  int64_t k = 0;
  for (int64_t n : {6, 3, 2, 1})
    for (int64_t c = 0; c < 2; ++c)
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < n; ++j, ++k) {
          float best = -1e30f;
          for (int64_t h = i * 9 / n; h < ((i + 1) * 9 + n - 1) / n; ++h)
            for (int64_t w = j * 9 / n; w < ((j + 1) * 9 + n - 1) / n; ++w)
              best = std::max(best, x[(c * 9 + h) * 9 + w]);
          EXPECT_EQ(y[k], best) << "level " << n << " channel " << c << " bin " << i << "," << j;
        }
}
