// Stochastic depth (Huang et al. 2016): the linear survival rule, observed survival, the
// deterministic evaluation that scales the branch, and dropped downsampling blocks.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "cnnzoo/models/stochastic_depth.hpp"
#include "cnnzoo/nn/layers.hpp"
#include "cnnzoo/ops.hpp"
#include "model_test.hpp"

using namespace cnnzoo;
using namespace cnnzoo::models;
using namespace cnnzoo::testing;

CNNZOO_PAPER_TABLE(stochastic_depth,
                   {row("resnet110-sd", 1727962).paper(1.7e6, 0.0294).classifier(64)});

TEST(StochasticDepth, LinearRuleUsesOneToL) {
  std::vector<double> p = linear_survival(54, 0.5);
  ASSERT_EQ(p.size(), 54u);
  EXPECT_DOUBLE_EQ(p.front(), 1.0 - 0.5 / 54);  // block l = 1 is already gated
  EXPECT_DOUBLE_EQ(p.back(), 0.5);              // the last block reaches p_L exactly
  EXPECT_DOUBLE_EQ(p[26], 1.0 - 27.0 / 54 * 0.5);
  for (size_t i = 1; i < p.size(); ++i) EXPECT_LT(p[i], p[i - 1]);

  nn::ModulePtr m = build_model("resnet110-sd");
  std::vector<SurvivalGate*> gates = survival_gates(*m);
  ASSERT_EQ(gates.size(), 54u);
  for (size_t i = 0; i < gates.size(); ++i) EXPECT_DOUBLE_EQ(gates[i]->survival(), p[i]);
  nn::ModulePtr m8 = build_model(spec_of("resnet110-sd", {{"p_L", "0.8"}}));
  EXPECT_DOUBLE_EQ(survival_gates(*m8).back()->survival(), 0.8);
  EXPECT_THROW(build_model(spec_of("resnet110-sd", {{"p_L", "0"}})), Error);
  EXPECT_THROW(build_model(spec_of("resnet110-sd", {{"p_L", "1.2"}})), Error);

  nn::ModulePtr ror = build_model("ror3-wrn58-4");
  std::vector<SurvivalGate*> rg = survival_gates(*ror);
  ASSERT_EQ(rg.size(), 27u);  // final-level units only
  EXPECT_DOUBLE_EQ(rg.back()->survival(), 0.5);
  EXPECT_DOUBLE_EQ(rg.front()->survival(), 1.0 - 0.5 / 27);
}

// Over many training passes each gate keeps its branch with frequency p_l (4.5 sigma per
// gate; the mean over gates much tighter).
TEST(StochasticDepth, ObservedSurvivalMatchesSchedule) {
  manual_seed(2024);
  nn::ModulePtr m = build_model("resnet110-sd");
  m->train();
  std::vector<SurvivalGate*> gates = survival_gates(*m);
  for (auto* g : gates) g->reset_counts();
  const int passes = 300;
  {
    NoGradGuard no_grad;
    Var x = random_input({2, 3, 4, 4});
    for (int i = 0; i < passes; ++i) m->forward(x);
  }
  std::vector<double> p = linear_survival(54, 0.5);
  double observed_total = 0, expected_total = 0, var_total = 0;
  for (size_t i = 0; i < gates.size(); ++i) {
    ASSERT_EQ(gates[i]->draws(), passes);
    double f = static_cast<double>(gates[i]->kept()) / passes;
    double sigma = std::sqrt(p[i] * (1 - p[i]) / passes);
    EXPECT_NEAR(f, p[i], 4.5 * sigma + 1e-12) << "block " << i + 1;
    observed_total += gates[i]->kept();
    expected_total += p[i] * passes;
    var_total += p[i] * (1 - p[i]) * passes;
  }
  EXPECT_NEAR(observed_total, expected_total, 4.0 * std::sqrt(var_total));
  // The later half of the network really drops more than the first half.
  int64_t early = 0, late = 0;
  for (size_t i = 0; i < 27; ++i) early += gates[i]->kept();
  for (size_t i = 27; i < 54; ++i) late += gates[i]->kept();
  EXPECT_GT(early, late);
}

TEST(StochasticDepth, EvalIsDeterministicAndScalesTheBranch) {
  manual_seed(5);
  nn::ModulePtr m = build_model("resnet110-sd");
  Var x = random_input({2, 3, 8, 8});
  m->train();
  {
    NoGradGuard ng;
    for (int i = 0; i < 3; ++i) m->forward(x);  // some running statistics, some draws
  }
  m->eval();
  std::vector<SurvivalGate*> gates = survival_gates(*m);
  for (auto* g : gates) g->reset_counts();
  NoGradGuard ng;
  Var y1 = m->forward(x), y2 = m->forward(x);
  EXPECT_EQ(y1.value().to_vector(), y2.value().to_vector());
  for (auto* g : gates) EXPECT_EQ(g->draws(), 0);  // evaluation never draws

  // One block: eval output = ReLU(shortcut + p * F).
  StochasticBasicBlock b(16, 32, 2, 0.7);
  b.eval();
  Var h = random_input({2, 16, 8, 8}, 11);
  Var y = b.forward(h);
  Var s = b.shortcut(h), f = b.residual(h);
  ASSERT_EQ(y.shape(), (Shape{2, 32, 4, 4}));
  for (int64_t i = 0; i < y.value().numel(); ++i)
    EXPECT_NEAR(y.value()[i], std::max(0.0f, s.value()[i] + 0.7f * f.value()[i]), 1e-5);
}

// A dropped downsampling block still halves the resolution and doubles the width (its
// shortcut always runs), and gradients still reach the input through it.
TEST(StochasticDepth, DroppedDownsamplingBlockKeepsShapes) {
  StochasticBasicBlock b(16, 32, 2, 0.5);
  b.gate.mode = SurvivalGate::Mode::AlwaysDrop;
  b.train();
  Var x = random_input({2, 16, 8, 8});
  Var y = b.forward(x);
  ASSERT_EQ(y.shape(), (Shape{2, 32, 4, 4}));
  backward(sum(y));
  ASSERT_TRUE(x.grad().defined());
  EXPECT_EQ(x.grad().shape(), x.shape());
  EXPECT_FALSE(b.conv1->weight.grad().defined());  // the branch was not run
  EXPECT_EQ(b.gate.kept(), 0);

  // The whole network with every gate off.
  manual_seed(3);
  nn::ModulePtr m = build_model("resnet110-sd");
  set_gate_mode(*m, SurvivalGate::Mode::AlwaysDrop);
  m->train();
  Var in = random_input({2, 3, 32, 32});
  Var logits = m->forward(in);
  ASSERT_EQ(logits.shape(), (Shape{2, 10}));
  backward(cross_entropy(logits, labels_for(2, 10)));
  auto named = m->named_parameters();
  for (auto& [name, p] : named) {
    bool in_branch = name.rfind("layer", 0) == 0;
    EXPECT_EQ(p.grad().defined(), !in_branch) << name;
    if (p.grad().defined()) EXPECT_TRUE(all_finite(p.grad())) << name;
  }
  ASSERT_TRUE(in.grad().defined());
  EXPECT_TRUE(all_finite(in.grad()));
  // Stage outputs keep their resolution and width with every branch dropped.
  auto r = std::dynamic_pointer_cast<CifarResNet>(m);
  ASSERT_TRUE(r);
  NoGradGuard ng;
  Var h = random_input({2, 16, 32, 32});
  h = r->layer2->forward(r->layer1->forward(h));
  EXPECT_EQ(h.shape(), (Shape{2, 32, 16, 16}));
  EXPECT_EQ(r->layer3->forward(h).shape(), (Shape{2, 64, 8, 8}));
}
