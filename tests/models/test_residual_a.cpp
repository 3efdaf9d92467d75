// Residual family, part A: CIFAR ResNets, pre-activation ResNets, wide ResNets, stochastic
// depth, SE-ResNets, RoR and weighted residuals. Parameter counts, forward/backward through
// every registered model, and the stochastic regularisers' training/evaluation behaviour.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "cnnzoo/models.hpp"
#include "cnnzoo/models/preact_resnet.hpp"
#include "cnnzoo/models/resnet_cifar.hpp"
#include "cnnzoo/models/ror.hpp"
#include "cnnzoo/models/senet_cifar.hpp"
#include "cnnzoo/models/stochastic_depth.hpp"
#include "cnnzoo/models/weighted_resnet.hpp"
#include "cnnzoo/models/wide_resnet.hpp"
#include "cnnzoo/nn/init.hpp"
#include "cnnzoo/ops/arith.hpp"
#include "cnnzoo/ops/loss.hpp"

using namespace cnnzoo;
using namespace cnnzoo::models;

namespace {

Var random_input(Shape shape, uint64_t seed = 7) {
  Generator g(seed);
  Tensor t = Tensor::empty(std::move(shape));
  nn::init::normal(t, 0.0, 1.0, g);
  return Var(t, true);
}

std::vector<int64_t> labels_for(int64_t n, int64_t classes) {
  std::vector<int64_t> y;
  for (int64_t i = 0; i < n; ++i) y.push_back((3 * i + 1) % classes);
  return y;
}

bool all_finite(const Tensor& t) {
  for (float v : t)
    if (!std::isfinite(v)) return false;
  return true;
}

ModelSpec spec_of(const std::string& name, std::map<std::string, std::string> options = {},
                  int64_t classes = -1) {
  ModelSpec s;
  s.name = name;
  s.num_classes = classes;
  s.options = std::move(options);
  return s;
}

// What a registered name must build: the exact count derived in its model file, the table's
// (rounded) number and its printed unit, and the batch and input size used for forward +
// backward (the deepest and widest models run one smaller image to keep the suite quick;
// every model here is fully convolutional up to its global pooling).
struct Expected {
  std::string name;
  int64_t params;      // exact, 10 classes
  double paper;        // the table, in millions (0: "per paper"/none)
  double paper_unit;   // last printed digit of the table's number, in millions
  int64_t last_width;  // features into the classifier (for the 100-class count)
  int64_t batch;
  int64_t input = 32;
};

const std::vector<Expected>& expected() {
  static const std::vector<Expected> e = {
      {"resnet20", 269722, 0.27, 0.01, 64, 2},
      {"resnet32", 464154, 0.46, 0.01, 64, 2},
      {"resnet44", 658586, 0.66, 0.01, 64, 2},
      {"resnet56", 853018, 0.85, 0.01, 64, 2},
      {"resnet110", 1727962, 1.7, 0.1, 64, 2},
      {"resnet1202", 19421274, 19.4, 0.1, 64, 1, 16},
      {"preact-resnet110", 1730522, 1.7, 0.1, 64, 2},
      {"preact-resnet164", 1703258, 1.7, 0.1, 256, 2},
      {"preact-resnet1001", 10327706, 10.2, 0.1, 256, 1, 16},
      {"wrn-16-4", 2748890, 2.7, 0.1, 256, 2},
      {"wrn-16-8", 10961370, 11.0, 0.1, 512, 2},
      {"wrn-28-10", 36479194, 36.5, 0.1, 640, 1, 16},
      {"wrn-40-4", 8949210, 8.9, 0.1, 256, 2},
      {"wrn-40-10", 55841754, 55.8, 0.1, 640, 1, 16},
      {"resnet110-sd", 1727962, 1.7, 0.1, 64, 2},
      {"weighted-resnet", 19230188, 0.0, 0.0, 64, 1, 16},
      {"ror3-wrn58-4", 13646938, 13.6, 0.1, 256, 1},
      {"se-preact-resnet164", 1905362, 0.0, 0.0, 256, 2},
      {"se-resnet110", 1744760, 0.0, 0.0, 64, 2},
  };
  return e;
}

class ResidualA : public ::testing::TestWithParam<Expected> {};

std::string test_name(const ::testing::TestParamInfo<Expected>& info) {
  std::string s = info.param.name;
  for (char& c : s)
    if (c == '-') c = '_';
  return s;
}

}  // namespace

// ---- every registered name -----------------------------------------------------------------

TEST(ResidualA, EveryNameRegistered) {
  for (const auto& e : expected()) {
    const ModelInfo& info = find_model(e.name);
    EXPECT_EQ(info.dataset, "cifar") << e.name;
    EXPECT_EQ(info.num_classes, 10) << e.name;
    EXPECT_EQ(info.input_size, 32) << e.name;
    EXPECT_FALSE(info.arxiv.empty()) << e.name;
  }
}

// Count, then one training step on the model with the default 10 classes: output [N, 10],
// a finite gradient for every parameter.
TEST_P(ResidualA, ParametersForwardBackward) {
  const Expected& e = GetParam();
  manual_seed(1);
  nn::ModulePtr model = build_model(e.name);
  EXPECT_EQ(model->num_parameters(), e.params) << e.name;
  if (e.paper > 0) {
    double millions = static_cast<double>(e.params) / 1e6;
    if (e.name == "preact-resnet1001") {
      // Documented in preact_resnet.cpp: 10.2M is the conv + fc weight count of this plan.
      int64_t weights = 0;
      for (auto& [n, p] : model->named_parameters())
        if (p.dim() >= 2) weights += p.value().numel();
      EXPECT_NEAR(static_cast<double>(weights) / 1e6, e.paper, e.paper_unit / 2) << e.name;
      EXPECT_NEAR(millions, e.paper, 0.015 * e.paper) << e.name;
    } else {
      EXPECT_NEAR(millions, e.paper, e.paper_unit / 2 + 1e-9) << e.name;
    }
  }
  // Stochastic depth would leave dropped branches without gradients: keep every branch.
  set_gate_mode(*model, SurvivalGate::Mode::AlwaysKeep);
  model->train();
  Var x = random_input({e.batch, 3, e.input, e.input});
  Var logits = model->forward(x);
  ASSERT_EQ(logits.shape(), (Shape{e.batch, 10})) << e.name;
  Var loss = cross_entropy(logits, labels_for(e.batch, 10));
  ASSERT_TRUE(std::isfinite(loss.value().item())) << e.name;
  backward(loss);
  double fc_norm = 0.0;
  for (auto& [name, p] : model->named_parameters()) {
    ASSERT_TRUE(p.grad().defined()) << e.name << ": no gradient for " << name;
    ASSERT_EQ(p.grad().shape(), p.shape()) << e.name << ": " << name;
    ASSERT_TRUE(all_finite(p.grad())) << e.name << ": non-finite gradient in " << name;
    if (name == "fc.weight")
      for (float g : p.grad()) fc_norm += static_cast<double>(g) * g;
  }
  EXPECT_GT(fc_norm, 0.0) << e.name;
  ASSERT_TRUE(x.grad().defined()) << e.name;
  EXPECT_TRUE(all_finite(x.grad())) << e.name;
}

// `--classes 100`: only the classifier grows; the output is [N, 100] (a small input keeps
// this cheap). Training-mode statistics: an untrained post-activation ResNet-1202 overflows
// with the initial running statistics, as it does in PyTorch.
TEST_P(ResidualA, HundredClasses) {
  const Expected& e = GetParam();
  nn::ModulePtr model = build_model(e.name, 100);
  EXPECT_EQ(model->num_parameters(), e.params + 90 * (e.last_width + 1)) << e.name;
  model->train();
  NoGradGuard no_grad;
  Var y = model->forward(random_input({2, 3, 8, 8}));
  EXPECT_EQ(y.shape(), (Shape{2, 100})) << e.name;
  EXPECT_TRUE(all_finite(y.value())) << e.name;
}

INSTANTIATE_TEST_SUITE_P(Models, ResidualA, ::testing::ValuesIn(expected()), test_name);

// ---- structure: the paper's version, not the seed's defects ------------------------------

TEST(ResidualAStructure, NoConvBiasLinearHeadStrideOnFirstConv) {
  for (const char* name : {"resnet20", "preact-resnet164", "wrn-16-4", "resnet110-sd",
                           "se-resnet110", "ror3-wrn58-4"}) {
    nn::ModulePtr m = build_model(name);
    for (auto& [n, mod] : m->named_modules())
      if (auto* c = dynamic_cast<nn::Conv2d*>(mod))
        EXPECT_FALSE(c->bias.defined()) << name << ": conv bias in " << n;
    // The classifier is the last child and a plain Linear (no BN/ReLU on the logits).
    const auto& children = m->named_children();
    ASSERT_FALSE(children.empty());
    EXPECT_EQ(children.back().first, "fc") << name;
    EXPECT_NE(dynamic_cast<nn::Linear*>(children.back().second.get()), nullptr) << name;
  }
  auto r = std::dynamic_pointer_cast<CifarResNet>(build_model("resnet20"));
  ASSERT_TRUE(r);
  auto& b = dynamic_cast<BasicBlock&>((*r->layer2)[0]);
  EXPECT_EQ(b.conv1->options.stride, Size2(2));
  EXPECT_EQ(b.conv2->options.stride, Size2(1));
  EXPECT_NE(dynamic_cast<ZeroPadShortcut*>(b.downsample.get()), nullptr);
  auto p = std::dynamic_pointer_cast<PreActCifarResNet>(build_model("preact-resnet164"));
  ASSERT_TRUE(p);
  auto& u = dynamic_cast<PreActBottleneck&>((*p->layer3)[0]);
  EXPECT_EQ(u.conv1->options.stride, Size2(2));  // the first 1x1, as resnet-pre-act.lua
  EXPECT_EQ(u.conv2->options.stride, Size2(1));
  ASSERT_TRUE(u.shortcut_conv);
  EXPECT_EQ(u.shortcut_conv->options.stride, Size2(2));
  // The 16 -> 64 unit after the stem projects too; later units of a stage are identities.
  EXPECT_TRUE(dynamic_cast<PreActBottleneck&>((*p->layer1)[0]).shortcut_conv);
  EXPECT_FALSE(dynamic_cast<PreActBottleneck&>((*p->layer1)[1]).shortcut_conv);
  // Basic pre-act: the unit after the stem activates before the split (identity-shaped).
  auto b110 = std::dynamic_pointer_cast<PreActCifarResNet>(build_model("preact-resnet110"));
  ASSERT_TRUE(b110);
  EXPECT_TRUE(dynamic_cast<PreActBlock&>((*b110->layer1)[0]).shares_preactivation());
  EXPECT_FALSE(dynamic_cast<PreActBlock&>((*b110->layer1)[1]).shares_preactivation());
  EXPECT_TRUE(dynamic_cast<PreActBlock&>((*b110->layer2)[0]).shortcut_conv != nullptr);
}

// SENet's CIFAR ResNet-110 (5.21% against 6.37%) is the pre-activation ResNet-110 of
// "Identity Mappings": every unit starts with BN-ReLU, a BN-ReLU ends the body before the
// pooling, and the SE module rescales the residual before the addition.
TEST(ResidualAStructure, SEResNet110IsPreActivation) {
  auto m = std::dynamic_pointer_cast<PreActCifarResNet>(build_model("se-resnet110"));
  ASSERT_TRUE(m);
  ASSERT_TRUE(m->bn);
  EXPECT_EQ(m->bn->weight.value().numel(), 64);
  int units = 0;
  for (auto* stage : {m->layer1.get(), m->layer2.get(), m->layer3.get()})
    for (size_t i = 0; i < stage->size(); ++i) {
      const auto& parts = (*stage)[i].named_children();
      ASSERT_GE(parts.size(), 2u);
      EXPECT_EQ(parts[0].first, "bn1");
      EXPECT_EQ(parts[0].second->type_name(), "BatchNorm");
      EXPECT_EQ(parts[1].first, "conv1");
      EXPECT_EQ(parts.back().second->type_name(), "SqueezeExcitation");
      ++units;
    }
  EXPECT_EQ(units, 54);
  // The unit after the stem takes the stem's activation on both paths.
  EXPECT_TRUE(dynamic_cast<PreActBlock&>((*m->layer1)[0]).shares_preactivation());
  EXPECT_FALSE(dynamic_cast<PreActBlock&>((*m->layer1)[1]).shares_preactivation());
}

TEST(ResidualAStructure, PyTorchStyleNames) {
  auto names = [](const nn::Module& m) {
    std::vector<std::string> out;
    for (auto& [n, p] : m.named_parameters()) out.push_back(n);
    return out;
  };
  auto has = [](const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
  };
  auto r = names(*build_model(spec_of("resnet20", {{"shortcut", "B"}})));
  EXPECT_EQ(r.front(), "conv1.weight");
  EXPECT_TRUE(has(r, "layer2.0.downsample.0.weight"));
  EXPECT_TRUE(has(r, "layer2.0.downsample.1.bias"));
  EXPECT_FALSE(has(r, "layer2.1.downsample.0.weight"));
  EXPECT_EQ(r.back(), "fc.bias");
  auto w = names(*build_model("wrn-16-4"));
  EXPECT_TRUE(has(w, "layer1.0.shortcut.weight"));
  EXPECT_TRUE(has(w, "bn.weight"));
  auto s = names(*build_model("se-resnet110"));
  EXPECT_TRUE(has(s, "layer3.17.se.fc2.bias"));
  auto o = names(*build_model("ror3-wrn58-4"));
  EXPECT_TRUE(has(o, "root.0.weight"));
  EXPECT_TRUE(has(o, "middle2.1.weight"));
  auto q = names(*build_model(spec_of("weighted-resnet", {{"depth", "22"}})));
  EXPECT_TRUE(has(q, "layer1.0.alpha"));
}

// ---- options --------------------------------------------------------------------------------

TEST(ResidualAOptions, ShortcutTypes) {
  EXPECT_EQ(build_model(spec_of("resnet20", {{"shortcut", "A"}}))->num_parameters(), 269722);
  // B: 1x1 conv + BN where the width doubles (16->32, 32->64).
  EXPECT_EQ(build_model(spec_of("resnet20", {{"shortcut", "B"}}))->num_parameters(),
            269722 + (16 * 32 + 64) + (32 * 64 + 128));
  // C: a projection on every block.
  EXPECT_EQ(build_model(spec_of("resnet20", {{"shortcut", "C"}}))->num_parameters(), 283962);
  EXPECT_THROW(build_model(spec_of("resnet20", {{"shortcut", "D"}})), Error);
  EXPECT_THROW(build_model(spec_of("resnet20", {{"p_L", "0.5"}})), Error);  // unknown key
  nn::ModulePtr c = build_model(spec_of("resnet20", {{"shortcut", "C"}}));
  c->train();
  EXPECT_EQ(c->forward(random_input({2, 3, 16, 16})).shape(), (Shape{2, 10}));
}

TEST(ResidualAOptions, WideResNetGenericAndDropout) {
  // wrn-16-4 built as wrn-40-4 through the options.
  EXPECT_EQ(build_model(spec_of("wrn-16-4", {{"depth", "40"}}))->num_parameters(), 8949210);
  EXPECT_EQ(build_model(spec_of("wrn-16-8", {{"widen_factor", "4"}}))->num_parameters(), 2748890);
  EXPECT_THROW(build_model(spec_of("wrn-16-4", {{"depth", "17"}})), Error);
  nn::ModulePtr m = build_model(spec_of("wrn-16-4", {{"drop_rate", "0.3"}}));
  EXPECT_EQ(m->num_parameters(), 2748890);
  int dropouts = 0;
  for (auto& [n, mod] : m->named_modules())
    if (auto* d = dynamic_cast<nn::Dropout*>(mod)) {
      ++dropouts;
      EXPECT_DOUBLE_EQ(d->p, 0.3);
    }
  EXPECT_EQ(dropouts, 6);  // one per unit, between the two convolutions
  EXPECT_THROW(build_model(spec_of("wrn-16-4", {{"drop_rate", "1.5"}})), Error);
}

TEST(ResidualAOptions, SEReduction) {
  int64_t base = 1703258;
  auto se = [](int64_t c, int64_t r) {
    int64_t h = std::max<int64_t>(1, c / r);
    return 2 * c * h + h + c;
  };
  int64_t r8 = base + 18 * (se(64, 8) + se(128, 8) + se(256, 8));
  EXPECT_EQ(build_model(spec_of("se-preact-resnet164", {{"se_reduction", "8"}}))->num_parameters(),
            r8);
  EXPECT_EQ(build_model("se-resnet110")->num_parameters(),
            1730522 + 18 * (se(16, 16) + se(32, 16) + se(64, 16)));
  EXPECT_THROW(build_model(spec_of("se-resnet110", {{"se_reduction", "0"}})), Error);
}

// ---- shortcuts ---------------------------------------------------------------------------

TEST(ResidualAShortcuts, OptionAPicksAndTheSDShortcutAverages) {
  Tensor t = Tensor::empty({1, 1, 4, 4});
  for (int64_t i = 0; i < 16; ++i) t[i] = static_cast<float>(i);
  Var x(t);
  ZeroPadShortcut pick(1, 3, 2);
  Var a = pick.forward(x);
  ASSERT_EQ(a.shape(), (Shape{1, 3, 2, 2}));
  EXPECT_EQ(a.value().to_vector(), (std::vector<float>{0, 2, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0}));
  ZeroPadShortcut avg(1, 2, 2, ZeroPadShortcut::Subsample::Average);
  Var b = avg.forward(x);
  ASSERT_EQ(b.shape(), (Shape{1, 2, 2, 2}));
  EXPECT_EQ(b.value().to_vector(), (std::vector<float>{2.5f, 4.5f, 10.5f, 12.5f, 0, 0, 0, 0}));
}

// ---- stochastic depth ----------------------------------------------------------------------

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

TEST(Regularizers, EvalDeterministic) {
  for (auto spec : {spec_of("ror3-wrn58-4", {{"depth", "16"}, {"widen_factor", "1"}}),
                    spec_of("weighted-resnet", {{"depth", "22"}}),
                    spec_of("wrn-16-4", {{"drop_rate", "0.3"}, {"widen_factor", "1"}})}) {
    manual_seed(9);
    nn::ModulePtr m = build_model(spec);
    Var x = random_input({2, 3, 16, 16});
    m->train();
    {
      NoGradGuard ng;
      m->forward(x);  // running statistics move, gates and dropout masks are drawn
      m->forward(x);
    }
    m->eval();
    NoGradGuard ng;
    Var y1 = m->forward(x), y2 = m->forward(x);
    EXPECT_EQ(y1.value().to_vector(), y2.value().to_vector()) << spec.name;
    EXPECT_TRUE(all_finite(y1.value())) << spec.name;
  }
}

// Dropout in wide ResNets acts in training only.
TEST(Regularizers, WideResNetDropoutIsStochasticInTraining) {
  manual_seed(10);
  nn::ModulePtr m = build_model(spec_of("wrn-16-4", {{"drop_rate", "0.3"}, {"widen_factor", "1"}}));
  m->train();
  NoGradGuard ng;
  Var x = random_input({2, 3, 16, 16});
  EXPECT_NE(m->forward(x).value().to_vector(), m->forward(x).value().to_vector());
}

// ---- weighted residuals --------------------------------------------------------------------

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
