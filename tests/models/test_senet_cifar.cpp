// SENet on CIFAR (Hu et al. 2017): se-resnet110 is pre-activation, the reduction option, and a
// per-sample gate applied to the residual before the addition.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "cnnzoo/models/senet_cifar.hpp"
#include "cnnzoo/nn/layers.hpp"
#include "cnnzoo/ops.hpp"
#include "model_test.hpp"

using namespace cnnzoo;
using namespace cnnzoo::models;
using namespace cnnzoo::testing;

CNNZOO_PAPER_TABLE(senet_cifar, {row("se-preact-resnet164", 1905362).classifier(256),
                                 row("se-resnet110", 1744760)
                                     .classifier(64)
                                     // Its SE bottlenecks are 1, 2 and 4 units wide (C / 16): a
                                     // unit whose ReLU is off for both images passes no gradient.
                                     .zero_gradients_allowed()});

// SENet's CIFAR ResNet-110 (5.21% against 6.37%) is the pre-activation ResNet-110 of
// "Identity Mappings": every unit starts with BN-ReLU, a BN-ReLU ends the body before the
// pooling, and the SE module rescales the residual before the addition.
TEST(SENetCifar, SEResNet110IsPreActivation) {
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

TEST(SENetCifar, SEReduction) {
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

// SE: the gate is computed per sample (batching does not mix samples) and scales the residual
// before the addition of the shortcut.
TEST(SENetCifar, PerSampleGateAppliedBeforeTheAddition) {
  auto model = build("se-preact-resnet164", 10, {{"se_reduction", "16"}});
  nn::Module& block = module_at(*model, "layer2.1");
  Tensor both = input_tensor({2, 128, 8, 8}, 5);
  Tensor one = Tensor::empty({1, 128, 8, 8});
  std::copy(both.begin(), both.begin() + one.numel(), one.begin());
  block.eval();
  NoGradGuard no_grad;
  Tensor y2 = block.forward(Var(both)).value(), y1 = block.forward(Var(one)).value();
  for (int64_t i = 0; i < y1.numel(); ++i) ASSERT_NEAR(y1[i], y2[i], 1e-5) << i;

  auto t = trace_forward(block, both);
  const trace::Event* sum = producer(*t, t->output.node());
  ASSERT_NE(sum, nullptr);
  EXPECT_EQ(sum->op, "add");
  bool gated_residual = false;
  for (const auto& in : sum->inputs) {
    const trace::Event* p = producer(*t, in);
    gated_residual = gated_residual || (p && p->op == "mul_channel");
  }
  EXPECT_TRUE(gated_residual) << "one addend of the block's sum is the SE-scaled residual";
}
