// What the papers' architecture tables say and parameter counts cannot see, checked on the
// op trace of a forward pass and on the module tree: where every CIFAR network starts and
// ends, where dropout and strides sit, what a gate computes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "cnnzoo/models/highway.hpp"
#include "cnnzoo/models/rir.hpp"
#include "cnnzoo/models/squeezenet.hpp"
#include "cnnzoo/nn/init.hpp"
#include "cnnzoo/nn/layers.hpp"
#include "cnnzoo/ops.hpp"
#include "export/trace.hpp"
#include "model_test.hpp"

using namespace cnnzoo;
using cnnzoo::testing::build;
using cnnzoo::testing::input_tensor;
using cnnzoo::testing::module_at;

namespace {

struct Traced {
  trace::Recorder rec;
  Var input, output;
};

// One forward pass of `m` on x, every op recorded (eval mode unless `training`).
std::unique_ptr<Traced> trace_forward(nn::Module& m, const Tensor& x, bool training = false) {
  auto t = std::make_unique<Traced>();
  m.train(training);
  t->input = Var(x, false);
  NoGradGuard no_grad;
  trace::Scope scope(t->rec);
  t->output = m.forward(t->input);
  return t;
}

const trace::Event* producer(const Traced& t, const std::shared_ptr<Node<real>>& node) {
  for (const auto& e : t.rec.events)
    if (e.output == node) return &e;
  return nullptr;
}

class CifarModel : public ::testing::TestWithParam<std::string> {};

}  // namespace

// Every CIFAR network reads the image with a convolution (no normalisation or activation of
// the raw input) and ends in a linear classifier, except the all-convolutional heads: NIN
// and SqueezeNet average the class maps of their last convolution.
TEST_P(CifarModel, StartsWithAConvolutionAndEndsWithItsClassifier) {
  const std::string name = GetParam();
  const models::ModelInfo& info = models::find_model(name);
  auto model = build(name);
  auto t = trace_forward(*model, input_tensor({1, info.in_channels, 32, 32}));
  ASSERT_FALSE(t->rec.events.empty());
  const trace::Event& first = t->rec.events.front();
  EXPECT_EQ(first.op, "conv2d") << name;
  ASSERT_FALSE(first.inputs.empty());
  EXPECT_EQ(first.inputs[0], t->input.node()) << name << ": the first op must read the image";

  const trace::Event* last = producer(*t, t->output.node());
  while (last && last->op == "reshape") last = producer(*t, last->inputs[0]);
  ASSERT_NE(last, nullptr) << name;
  static const std::set<std::string> conv_heads = {"nin", "nin-bn", "squeezenet-cifar"};
  if (conv_heads.count(name)) {
    EXPECT_TRUE(last->op == "adaptive_avg_pool2d" || last->op == "avg_pool2d" ||
                last->op == "global_avg_pool2d")
        << name << " ends with " << last->op;
  } else {
    EXPECT_EQ(last->op, "linear") << name;
  }
}

INSTANTIATE_TEST_SUITE_P(Zoo, CifarModel,
                         ::testing::ValuesIn(cnnzoo::testing::registry_names("cifar")),
                         [](const auto& info) { return cnnzoo::testing::test_name(info.param); });

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

// ResNeXt: a block that halves the resolution does it in its grouped 3x3 convolution (the
// 1x1 reductions keep stride 1), as in the reference implementation.
TEST(ResNeXtCifar, TheStrideIsOnTheGroupedConvolution) {
  auto model = build("resnext29-2x64d", 10, {{"bottleneck_width", "4"}});
  for (const std::string block : {"layer2.0", "layer3.0"}) {
    auto* conv1 = dynamic_cast<nn::Conv2d*>(&module_at(*model, block + ".conv1"));
    auto* conv2 = dynamic_cast<nn::Conv2d*>(&module_at(*model, block + ".conv2"));
    auto* conv3 = dynamic_cast<nn::Conv2d*>(&module_at(*model, block + ".conv3"));
    ASSERT_TRUE(conv1 && conv2 && conv3) << block;
    EXPECT_EQ(conv2->options.groups, 2) << block;
    EXPECT_EQ(conv2->options.stride.h, 2) << block;
    EXPECT_EQ(conv1->options.stride.h, 1) << block;
    EXPECT_EQ(conv3->options.stride.h, 1) << block;
  }
}

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

// PyramidNet: the stem is conv-BN with no ReLU, no ReLU follows a unit's addition, and a
// unit that widens pads its shortcut with zero channels (downsampling ones average-pool it).
TEST(PyramidNet, NoReLUAfterTheStemOrTheAdditionAndAPaddedShortcut) {
  auto model = build("pyramidnet-110-a48", 10, {{"depth", "20"}});
  auto t = trace_forward(*model, input_tensor({2, 3, 32, 32}));
  const auto& ev = t->rec.events;
  ASSERT_GT(ev.size(), 3u);
  EXPECT_EQ(ev[0].op, "conv2d");
  // At inference the stem's BN folds into its conv. No ReLU reads the stem or a unit's sum,
  // but the last sum goes through the final BN-ReLU before pooling.
  const trace::Event* last_add = nullptr;
  for (const auto& e : ev)
    if (e.op == "add") last_add = &e;
  ASSERT_NE(last_add, nullptr);
  for (const auto& e : ev)
    if (e.op == "relu" || e.op == "batch_norm_relu")
      for (const auto& in : e.inputs) {
        const trace::Event* p = producer(*t, in);
        EXPECT_FALSE(p && p->op == "add" && p != last_add) << e.op << " applied to a unit's sum";
        EXPECT_FALSE(p == &ev[0]) << e.op << " applied to the stem";
      }
  int padded = 0, pooled = 0;
  for (const auto& e : ev) {
    padded += e.op == "pad_channels";
    pooled += e.op == "avg_pool2d";
  }
  EXPECT_GT(padded, 0) << "the widening units' shortcuts are zero-padded";
  EXPECT_EQ(pooled, 2) << "two downsampling units average-pool their shortcut";
}

// SE: the gate is computed per sample (batching does not mix samples) and scales the residual
// before the addition of the shortcut.
TEST(SqueezeExcitation, PerSampleGateAppliedBeforeTheAddition) {
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

// FractalNet's base layer is conv -> dropout -> BN -> ReLU: in training every dropout reads a
// convolution's output and feeds a batch normalisation.
TEST(FractalNet, DropoutSitsBetweenEachConvolutionAndItsBatchNorm) {
  auto model = build("fractalnet-20", 10, {{"width_scale", "0.125"}, {"drop_path", "false"}});
  auto t = trace_forward(*model, input_tensor({2, 3, 32, 32}), /*training=*/true);
  int dropouts = 0;
  for (const auto& e : t->rec.events) {
    if (e.op != "dropout") continue;
    ++dropouts;
    const trace::Event* before = producer(*t, e.inputs[0]);
    ASSERT_NE(before, nullptr);
    EXPECT_EQ(before->op, "conv2d");
    bool feeds_bn = false;
    for (const auto& f : t->rec.events)
      for (const auto& in : f.inputs)
        feeds_bn =
            feeds_bn || (in == e.output && (f.op == "batch_norm" || f.op == "batch_norm_relu"));
    EXPECT_TRUE(feeds_bn);
  }
  // Blocks 2-5 drop (rates 0.1-0.4; block 1's rate is 0): 4 of 5 blocks, 7 layers each at C=3.
  EXPECT_EQ(dropouts, 4 * 7);
}

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

namespace {
// With every convolution's weights zero, what remains of a RiR unit is its shortcuts.
void zero_convolutions(nn::Module& m) {
  nn::init::for_each<nn::Conv2d>(m, [](nn::Conv2d& c) { c.weight.value().zero(); });
}
}  // namespace

// ResNet in ResNet: a generalised residual layer computes [r | t] -> [r' | t'] with one conv
// over both streams; only the residual stream r gets the identity shortcut, the transient
// stream t none. A RiR block adds its own outer shortcut to the residual stream again.
TEST(RiR, OnlyTheResidualStreamCarriesShortcuts) {
  // Eval with the initial BN (mean 0, var 1, scale 1, shift 0): BN(z) = z / sqrt(1 + eps).
  const double k = 1.0 / std::sqrt(1.0 + 1e-5);
  const Tensor x = input_tensor({2, 8, 5, 5}, 4);
  const int64_t half = 4 * 25;  // elements of one stream in one sample
  models::rir::GeneralizedResidualLayer layer(8, 8, 1);
  models::rir::RiRBlock block(8, 8, 1);
  for (nn::Module* m : {static_cast<nn::Module*>(&layer), static_cast<nn::Module*>(&block)}) {
    zero_convolutions(*m);
    m->eval();
  }
  NoGradGuard no_grad;
  const Tensor y = layer.forward(Var(x)).value(), z = block.forward(Var(x)).value();
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t i = 0; i < half; ++i) {
      const int64_t r = n * 2 * half + i, t = r + half;
      const double relu_r = std::max(0.0, double(x[r]) * k);
      EXPECT_NEAR(y[r], relu_r, 1e-6) << "residual stream, element " << r;
      EXPECT_EQ(y[t], 0.0f) << "transient stream, element " << t;
      // Two layers (each passing r through its shortcut) plus the block's outer shortcut.
      EXPECT_NEAR(z[r], std::max(0.0, relu_r * k) + x[r], 1e-6) << "block, element " << r;
      EXPECT_EQ(z[t], 0.0f) << "block transient stream, element " << t;
    }
}
