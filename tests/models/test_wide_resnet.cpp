// Wide ResNets (Zagoruyko & Komodakis 2016): depth and widening factor options, and dropout
// between the two convolutions of every block, in training only.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "cnnzoo/models/wide_resnet.hpp"
#include "cnnzoo/nn/layers.hpp"
#include "cnnzoo/ops.hpp"
#include "model_test.hpp"

using namespace cnnzoo;
using namespace cnnzoo::models;
using namespace cnnzoo::testing;

CNNZOO_PAPER_TABLE(
    wide_resnet, {row("wrn-16-4", 2748890).paper(2.7e6, 0.0185).classifier(256),
                  row("wrn-16-8", 10961370).paper(11e6, 0.00455).classifier(512),
                  row("wrn-28-10", 36479194).paper(36.5e6, 0.00137).classifier(640).step(1, 16),
                  row("wrn-40-4", 8949210).paper(8.9e6, 0.00562).classifier(256),
                  row("wrn-40-10", 55841754).paper(55.8e6, 0.000896).classifier(640).step(1, 16)});

TEST(WideResNet, WideResNetGenericAndDropout) {
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

// Dropout in wide ResNets acts in training only.
TEST(WideResNet, WideResNetDropoutIsStochasticInTraining) {
  manual_seed(10);
  nn::ModulePtr m = build_model(spec_of("wrn-16-4", {{"drop_rate", "0.3"}, {"widen_factor", "1"}}));
  m->train();
  NoGradGuard ng;
  Var x = random_input({2, 3, 16, 16});
  EXPECT_NE(m->forward(x).value().to_vector(), m->forward(x).value().to_vector());
}

// Wide ResNet: dropout sits between the two 3x3 convolutions of a block, after the second
// BN-ReLU, once per block (wrn-16-4: 2 blocks per stage).
TEST(WideResNet, DropoutBetweenTheTwoConvolutionsOfEveryBlock) {
  auto model = build("wrn-16-4", 10, {{"drop_rate", "0.3"}});
  auto t = trace_forward(*model, input_tensor({2, 3, 32, 32}), /*training=*/true);
  const auto& ev = t->rec.events;
  int dropouts = 0;
  for (size_t k = 0; k < ev.size(); ++k) {
    if (ev[k].op != "dropout") continue;
    ++dropouts;
    ASSERT_GT(k, 0u);
    ASSERT_LT(k + 1, ev.size());
    EXPECT_EQ(ev[k + 1].op, "conv2d") << "dropout " << dropouts << " feeds " << ev[k + 1].op;
    EXPECT_EQ(ev[k + 1].inputs[0], ev[k].output);
    EXPECT_TRUE(ev[k - 1].op == "batch_norm_relu" || ev[k - 1].op == "relu") << ev[k - 1].op;
  }
  EXPECT_EQ(dropouts, 6);
}
