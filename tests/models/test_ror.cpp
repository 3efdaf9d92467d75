// Residual networks of residual networks (Zhang et al. 2016): dropped units keep their shapes and
// the multilevel shortcuts still train.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "cnnzoo/models/ror.hpp"
#include "cnnzoo/nn/layers.hpp"
#include "cnnzoo/ops.hpp"
#include "model_test.hpp"

using namespace cnnzoo;
using namespace cnnzoo::models;
using namespace cnnzoo::testing;

CNNZOO_PAPER_TABLE(
    ror, {row("ror3-wrn58-4", 13646938).paper(13.6e6, 0.00368).classifier(256).step(1, 32)});

TEST(RoR, DroppedUnitsKeepShapesAndShortcutsTrain) {
  manual_seed(4);
  // A small RoR-3-WRN (depth 16, k = 2) keeps this quick; the structure is the same.
  nn::ModulePtr m = build_model(spec_of("ror3-wrn58-4", {{"depth", "16"}, {"widen_factor", "2"}}));
  set_gate_mode(*m, SurvivalGate::Mode::AlwaysDrop);
  m->train();
  Var x = random_input({2, 3, 16, 16});
  Var logits = m->forward(x);
  ASSERT_EQ(logits.shape(), (Shape{2, 10}));
  backward(cross_entropy(logits, labels_for(2, 10)));
  std::map<std::string, bool> grads;
  for (auto& [name, p] : m->named_parameters()) grads[name] = p.grad().defined();
  // Middle, root and final-level projection shortcuts always run.
  EXPECT_TRUE(grads.at("root.0.weight"));
  EXPECT_TRUE(grads.at("middle3.0.weight"));
  EXPECT_TRUE(grads.at("layer2.0.shortcut.weight"));
  EXPECT_TRUE(grads.at("layer2.0.bn1.weight"));  // the BN-ReLU feeding the projection
  EXPECT_FALSE(grads.at("layer2.0.conv1.weight"));
  EXPECT_FALSE(grads.at("layer2.1.bn1.weight"));

  GatedPreActBlock u(32, 64, 2, 0.5);
  u.gate.mode = SurvivalGate::Mode::AlwaysDrop;
  u.train();
  EXPECT_EQ(u.forward(random_input({2, 32, 8, 8})).shape(), (Shape{2, 64, 4, 4}));
}
