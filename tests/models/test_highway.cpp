// Highway networks (Srivastava et al. 2015): y = H(x) T(x) + x (1 - T(x)) with a negative gate
// bias.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "cnnzoo/models/highway.hpp"
#include "cnnzoo/nn/layers.hpp"
#include "cnnzoo/ops.hpp"
#include "model_test.hpp"

using namespace cnnzoo;
using namespace cnnzoo::models;
using namespace cnnzoo::testing;

CNNZOO_PAPER_TABLE(highway, {row("highway-19", 2342406).paper(2.3e6, 0.02).classifier(500)});

// Highway: y = H(x) T(x) + x (1 - T(x)), H = ReLU(conv(x)), T = sigmoid(conv_T(x)), with the
// transform gate's bias starting at -2 (the layers begin by carrying their input).
TEST(Highway, GateFormulaAndNegativeGateBias) {
  auto model = build("highway-19");
  int layers = 0;
  for (auto& [path, m] : model->named_modules()) {
    auto* layer = dynamic_cast<models::highway::HighwayConv*>(m);
    if (!layer) continue;
    ++layers;
    auto* plain = dynamic_cast<nn::Conv2d*>(&module_at(*model, path + ".plain"));
    auto* gate = dynamic_cast<nn::Conv2d*>(&module_at(*model, path + ".gate"));
    ASSERT_TRUE(plain && gate) << path;
    for (float b : gate->bias.value()) EXPECT_EQ(b, -2.0f) << path;
    if (layers > 1) continue;
    const int64_t c = plain->weight.shape()[1];
    layer->eval();
    Tensor x = input_tensor({2, c, 6, 6}, 3);
    NoGradGuard no_grad;
    Tensor y = layer->forward(Var(x)).value();
    Tensor h = relu(plain->forward(Var(x))).value();
    Tensor g = sigmoid(gate->forward(Var(x))).value();
    for (int64_t i = 0; i < y.numel(); ++i)
      EXPECT_NEAR(y[i], h[i] * g[i] + x[i] * (1 - g[i]), 1e-5) << path << " element " << i;
  }
  EXPECT_GT(layers, 0);
}
