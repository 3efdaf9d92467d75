// SqueezeNet (Iandola et al. 2016): torchvision's v1.0 and v1.1, and the CIFAR version's simple
// bypasses around fire3, 5, 7 and 9.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "cnnzoo/models/squeezenet.hpp"
#include "cnnzoo/nn/layers.hpp"
#include "cnnzoo/ops.hpp"
#include "model_test.hpp"

using namespace cnnzoo;
using namespace cnnzoo::models;
using namespace cnnzoo::testing;

CNNZOO_PAPER_TABLE(squeezenet, {row("squeezenet-cifar", 732010).classifier(512).macs(202211328),
                                row("squeezenet1_0", 1248424).step(1, 0),
                                row("squeezenet1_1", 1235496).step(1, 0)});

// SqueezeNet's simple bypass (the paper's best variant): identity shortcuts around fire3, 5,
// 7 and 9, where the fire module's input and output widths match, and nowhere else; the
// shortcut adds the module's input to its concatenated expand outputs.
TEST(SqueezeNetCifar, SimpleBypassesAroundFire3579AddTheInput) {
  auto model = build("squeezenet-cifar");
  std::vector<std::pair<std::string, models::FireBN*>> fires;
  for (auto& [name, m] : model->named_modules())
    if (auto* f = dynamic_cast<models::FireBN*>(m)) fires.emplace_back(name, f);
  ASSERT_EQ(fires.size(), 8u) << "fire2 to fire9";
  for (size_t i = 0; i < fires.size(); ++i)
    EXPECT_EQ(fires[i].second->bypass, i % 2 == 1)
        << "fire" << i + 2 << " (" << fires[i].first << ")";
  models::FireBN& fire3 = *fires[1].second;
  fire3.eval();
  NoGradGuard no_grad;
  const Tensor x = input_tensor({2, 128, 6, 6}, 3);
  const Tensor with = fire3.forward(Var(x)).value();
  fire3.bypass = false;
  const Tensor without = fire3.forward(Var(x)).value();
  fire3.bypass = true;
  for (int64_t i = 0; i < x.numel(); ++i) ASSERT_EQ(with[i], without[i] + x[i]) << i;
}
