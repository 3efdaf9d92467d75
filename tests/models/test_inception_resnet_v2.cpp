// Inception-ResNet-v2 blocks (Szegedy et al. 2016): a scaled residual is added, and the last
// block is unscaled and without ReLU.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "cnnzoo/models/inception_resnet_v2.hpp"
#include "cnnzoo/nn/layers.hpp"
#include "cnnzoo/ops.hpp"
#include "model_test.hpp"

using namespace cnnzoo;
using namespace cnnzoo::models;
using namespace cnnzoo::testing;

TEST(InceptionResNetV2, BlocksAddAScaledResidualAndTheLastIsLinear) {
  manual_seed(4);
  for (double s : {0.17, 1.0}) {
    Block35 block(s);
    block.eval();
    EXPECT_DOUBLE_EQ(block.residual_scale, s);
    Tensor x = input_tensor({1, 320, 5, 5}, 6);
    std::vector<Var> branches;
    for (const char* b : {"branch0", "branch1", "branch2"})
      branches.push_back(Var(run(module_at(block, b), x)));
    Tensor up = run(*block.up, concat(branches).value());
    Var want = relu(add(Var(x), scale(Var(up), s)));
    expect_equal(run(block, x), want.value(), 1e-5, "relu(x + s * up(concat(branches)))");
  }
  Block8 last(1.0, /*activate=*/false);
  last.eval();
  Tensor x = input_tensor({1, 2080, 3, 3}, 7);
  Tensor y = run(last, x);
  bool negative = false;
  for (float v : y) negative = negative || v < 0;
  EXPECT_TRUE(negative) << "no ReLU after the last block";
  // The network: 10 x 0.17, 20 x 0.10, 9 x 0.20 and a last unscaled block without ReLU.
  auto net = cnnzoo::testing::build("inception-resnet-v2");
  std::map<std::string, std::vector<std::pair<double, bool>>> seen;
  for (auto& [name, m] : net->named_modules())
    if (auto* b = dynamic_cast<InceptionResNetBlock*>(m))
      seen[b->type_name()].push_back({b->residual_scale, b->activate});
  ASSERT_EQ(seen["Block35"].size(), 10u);
  ASSERT_EQ(seen["Block17"].size(), 20u);
  ASSERT_EQ(seen["Block8"].size(), 10u);
  for (auto [scale_, act] : seen["Block35"]) EXPECT_TRUE(scale_ == 0.17 && act);
  for (auto [scale_, act] : seen["Block17"]) EXPECT_TRUE(scale_ == 0.10 && act);
  for (size_t i = 0; i < 9; ++i)
    EXPECT_TRUE(seen["Block8"][i].first == 0.20 && seen["Block8"][i].second);
  EXPECT_EQ(seen["Block8"][9], std::make_pair(1.0, false));
}
