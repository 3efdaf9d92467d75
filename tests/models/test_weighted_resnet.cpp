// Weighted residuals (Shen & Zeng 2016): lambda starts at zero and is projected onto [-1, 1].
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "cnnzoo/models/weighted_resnet.hpp"
#include "cnnzoo/nn/layers.hpp"
#include "cnnzoo/ops.hpp"
#include "model_test.hpp"

using namespace cnnzoo;
using namespace cnnzoo::models;
using namespace cnnzoo::testing;

CNNZOO_PAPER_TABLE(
    weighted_resnet,
    {row("weighted-resnet", 19230188).classifier(64).step(1, 16).zero_gradients_allowed()});

TEST(WeightedResidual, LambdaStartsAtZeroAndIsProjected) {
  manual_seed(6);
  nn::ModulePtr m = build_model(spec_of("weighted-resnet", {{"depth", "22"}, {"p_L", "1"}}));
  std::vector<Var> lambdas;
  for (auto& [name, p] : m->named_parameters())
    if (name.size() > 6 && name.substr(name.size() - 6) == ".alpha") lambdas.push_back(p);
  ASSERT_EQ(lambdas.size(), 9u);  // one per block, n = 3
  for (auto& l : lambdas) EXPECT_EQ(l.value()[0], 0.0f);
  EXPECT_EQ(m->num_parameters(), 269722 + (16 * 32 + 64) + (32 * 64 + 128) + 9);

  // With every lambda 0 a block is exactly its shortcut.
  auto net = std::dynamic_pointer_cast<CifarResNet>(m);
  ASSERT_TRUE(net);
  auto& block = dynamic_cast<WeightedResidualBlock&>((*net->layer1)[1]);
  block.eval();
  {
    NoGradGuard ng;
    Var h = random_input({1, 16, 8, 8});
    EXPECT_EQ(block.forward(h).value().to_vector(), h.value().to_vector());
  }
  // Projection: no forward writes lambda (evaluation reads it clamped); the constraint that
  // the trainer applies after each optimizer step projects it onto [-1, 1].
  block.alpha.value()[0] = 3.0f;
  {
    NoGradGuard ng;
    Var h = random_input({1, 16, 8, 8});
    Var y3 = block.forward(h);
    block.alpha.value()[0] = 1.0f;
    Var y1 = block.forward(h);
    EXPECT_EQ(y3.value().to_vector(), y1.value().to_vector()) << "eval reads lambda clamped";
    block.alpha.value()[0] = 3.0f;
  }
  EXPECT_EQ(block.alpha.value()[0], 3.0f);
  block.train();
  block.forward(random_input({2, 16, 8, 8}));
  EXPECT_EQ(block.alpha.value()[0], 3.0f) << "a training forward must not write parameters";
  lambdas[0].value()[0] = -2.0f;
  m->apply_constraints();
  EXPECT_EQ(block.alpha.value()[0], 1.0f);
  EXPECT_EQ(lambdas[0].value()[0], -1.0f);

  // Lambda learns: a training step gives it a non-zero gradient.
  m->train();
  for (auto& l : lambdas) l.value()[0] = 0.5f;
  Var logits = m->forward(random_input({2, 3, 16, 16}));
  backward(cross_entropy(logits, labels_for(2, 10)));
  double g = 0;
  for (auto& l : lambdas) g += std::abs(l.grad()[0]);
  EXPECT_GT(g, 0.0);
}

TEST(WeightedResidual, DepthOption) {
  EXPECT_THROW(build_model(spec_of("weighted-resnet", {{"depth", "20"}})), Error);
  nn::ModulePtr m = build_model(spec_of("weighted-resnet", {{"depth", "112"}}));
  EXPECT_EQ(survival_gates(*m).size(), 54u);
  EXPECT_DOUBLE_EQ(survival_gates(*m).back()->survival(), 0.5);
}
