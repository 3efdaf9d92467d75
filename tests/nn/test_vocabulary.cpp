// The layer vocabulary models are written in: chainable options, ConvBnAct, initialisation
// over a module tree by layer type, and parameter constraints.
#include <gtest/gtest.h>

#include <cmath>

#include "cnnzoo/autograd.hpp"
#include "cnnzoo/nn/init.hpp"
#include "cnnzoo/nn/layers.hpp"
#include "cnnzoo/ops/activation.hpp"

using namespace cnnzoo;
using namespace cnnzoo::nn;

namespace {

Tensor uniform_tensor(Shape shape, double lo, double hi) {
  Tensor t = Tensor::empty(std::move(shape));
  init::uniform(t, lo, hi);
  return t;
}

void expect_close(const Tensor& a, const Tensor& b, double tol) {
  ASSERT_EQ(a.shape(), b.shape());
  for (int64_t i = 0; i < a.numel(); ++i) ASSERT_NEAR(a[i], b[i], tol) << "at " << i;
}

// A tree of two conv layers, a linear and a BN, to initialise by type.
class Tree : public Module {
 public:
  Tree() {
    a = register_module("a", std::make_shared<Conv2d>(Conv2dOptions(8, 64, 3)));
    b = register_module("b", std::make_shared<Conv2d>(Conv2dOptions(64, 64, 3).bias(false)));
    bn = register_module("bn", std::make_shared<BatchNorm>(64));
    fc = register_module("fc", std::make_shared<Linear>(256, 100));
  }
  Var forward(const Var& x) override { return x; }
  std::shared_ptr<Conv2d> a, b;
  std::shared_ptr<BatchNorm> bn;
  std::shared_ptr<Linear> fc;
};

double stddev(const Tensor& t) {
  double s = 0, s2 = 0;
  for (float v : t) {
    s += v;
    s2 += double(v) * v;
  }
  double n = static_cast<double>(t.numel()), m = s / n;
  return std::sqrt(s2 / n - m * m);
}

}  // namespace

TEST(Vocabulary, Conv2dOptionsChainWithPyTorchNamesAndDefaults) {
  Conv2dOptions o = Conv2dOptions(16, 32, {3, 5}).stride(2).padding({1, 2}).groups(4).bias(false);
  EXPECT_EQ(o.in_channels(), 16);
  EXPECT_EQ(o.out_channels(), 32);
  EXPECT_EQ(o.kernel_size(), Size2(3, 5));
  EXPECT_EQ(o.stride(), Size2(2));
  EXPECT_EQ(o.padding(), Padding2d(1, 2));
  EXPECT_EQ(o.dilation(), Size2(1));
  EXPECT_EQ(o.groups(), 4);
  EXPECT_FALSE(o.bias());
  EXPECT_TRUE(Conv2dOptions(1, 1, 1).bias()) << "PyTorch's default: a conv has a bias";
  Conv2d conv(o);
  EXPECT_EQ(conv.weight.shape(), (Shape{32, 4, 3, 5}));
  EXPECT_FALSE(conv.bias.defined());
  EXPECT_EQ(conv.extra_repr(),
            "16, 32, kernel_size=(3, 5), stride=2, padding=(1, 2), groups=4, bias=False");
  BatchNormOptions b = BatchNormOptions().eps(1e-3).momentum(0.01).affine(false);
  EXPECT_DOUBLE_EQ(b.eps(), 1e-3);
  EXPECT_DOUBLE_EQ(b.momentum(), 0.01);
  EXPECT_FALSE(b.affine());
  EXPECT_TRUE(b.track_running_stats());
}

TEST(Vocabulary, ConvBnActIsConvThenBnThenActivationInTrainingAndFoldedAtInference) {
  for (Activation act : {Activation::ReLU, Activation::None}) {
    ConvBnAct unit(ConvBnActOptions(3, 6, 3).stride(2).padding(1).eps(1e-3).activation(act));
    EXPECT_FALSE(unit.conv->bias.defined()) << "ConvBnAct's conv has no bias";
    EXPECT_DOUBLE_EQ(unit.bn->options.eps(), 1e-3);
    ASSERT_EQ(unit.named_children().size(), 2u);
    EXPECT_EQ(unit.named_children()[0].first, "conv");
    EXPECT_EQ(unit.named_children()[1].first, "bn");
    unit.bn->weight.value().copy_from(uniform_tensor({6}, 0.5, 2.0));
    unit.bn->bias.value().copy_from(uniform_tensor({6}, -1.0, 1.0));
    unit.bn->running_mean.copy_from(uniform_tensor({6}, -0.5, 0.5));
    unit.bn->running_var.copy_from(uniform_tensor({6}, 0.1, 3.0));
    Var x(uniform_tensor({2, 3, 9, 9}, -1, 1), false);
    for (bool training : {true, false}) {
      unit.train(training);
      BatchNorm& bn = *unit.bn;
      // The reference: the layers one after another (eval BN on its running statistics;
      // in training, both forwards update the running statistics alike, so clone them).
      Tensor mean = bn.running_mean.clone(), var = bn.running_var.clone();
      Var want = bn.forward(unit.conv->forward(x));
      if (act == Activation::ReLU) want = relu(want);
      bn.running_mean.copy_from(mean);
      bn.running_var.copy_from(var);
      NoGradGuard no_grad;
      Var got = unit.forward(x);
      expect_close(got.value(), want.value(), 1e-4);
      bool negative = false;
      for (float v : got.value()) negative = negative || v < 0;
      EXPECT_EQ(negative, act == Activation::None) << "the activation must be what was asked";
    }
  }
}

TEST(Vocabulary, KaimingNormalOverATreeTouchesOnlyTheNamedLayerTypeAndZeroesBiases) {
  Tree t;
  Tensor fc_before = t.fc->weight.value().clone();
  Tensor a_bias_before = t.a->bias.value().clone();
  init::kaiming_normal<Conv2d>(t, init::FanMode::FanOut, "relu", init::Bias::Keep);
  // fan_out of b: 64 * 9; std = sqrt(2 / fan_out).
  EXPECT_NEAR(stddev(t.b->weight.value()), std::sqrt(2.0 / (64 * 9)), 0.02 * std::sqrt(2.0 / 576));
  EXPECT_NEAR(stddev(t.a->weight.value()), std::sqrt(2.0 / (64 * 9)), 0.05 * std::sqrt(2.0 / 576));
  expect_close(t.a->bias.value(), a_bias_before, 0.0);  // Bias::Keep
  expect_close(t.fc->weight.value(), fc_before, 0.0);   // not a Conv2d
  init::kaiming_normal<Conv2d>(t, init::FanMode::FanIn);
  EXPECT_NEAR(stddev(t.b->weight.value()), std::sqrt(2.0 / (64 * 9)), 0.02 * std::sqrt(2.0 / 576));
  EXPECT_NEAR(stddev(t.a->weight.value()), std::sqrt(2.0 / (8 * 9)), 0.05 * std::sqrt(2.0 / 72));
  for (float v : t.a->bias.value()) EXPECT_EQ(v, 0.0f);  // Bias::Zero, the default
}

// A loader's build: random initialisers write zeros and draw nothing, constants still apply,
// and the scope ends where it was opened (nested guards included).
TEST(Vocabulary, SkipInitGuardDrawsNothingWithinItsScope) {
  manual_seed(7);
  const std::string before = global_generator().state();
  std::unique_ptr<Tree> skipped;
  {
    init::SkipInitGuard outer;
    { init::SkipInitGuard inner; }
    skipped = std::make_unique<Tree>();
    init::kaiming_normal<Conv2d>(*skipped);
    init::xavier_uniform<Linear>(*skipped);
    init::batchnorm(*skipped, 0.5, 0.25);
  }
  EXPECT_EQ(global_generator().state(), before);
  for (Tensor* w :
       {&skipped->a->weight.value(), &skipped->a->bias.value(), &skipped->b->weight.value(),
        &skipped->fc->weight.value(), &skipped->fc->bias.value()})
    for (float v : *w) ASSERT_EQ(v, 0.0f);
  for (float v : skipped->bn->weight.value()) EXPECT_EQ(v, 0.5f);
  // Outside the scope the same tree draws again, from where the generator was.
  Tree drawn;
  EXPECT_NE(global_generator().state(), before);
  EXPECT_GT(stddev(drawn.b->weight.value()), 0.0);
}

TEST(Vocabulary, KaimingUniformAndTheLeakyReluSlopeOverATree) {
  Tree t;
  init::kaiming_uniform<Conv2d>(t, init::FanMode::FanIn);
  // U(-b, b), b = sqrt(6 / fan_in): std sqrt(2 / fan_in); fan_in of b: 64 * 9.
  double bound = 0;
  for (float v : t.b->weight.value()) bound = std::max(bound, std::abs(double(v)));
  EXPECT_LE(bound, std::sqrt(6.0 / 576));
  EXPECT_GT(bound, 0.99 * std::sqrt(6.0 / 576));
  EXPECT_NEAR(stddev(t.b->weight.value()), std::sqrt(2.0 / 576), 0.02 * std::sqrt(2.0 / 576));
  for (float v : t.a->bias.value()) EXPECT_EQ(v, 0.0f);
  // PReLU's initial slope a: std = sqrt(2 / ((1 + a^2) fan_in)).
  init::kaiming_normal<Conv2d>(t, init::FanMode::FanIn, "leaky_relu", init::Bias::Zero, 0.25);
  EXPECT_NEAR(stddev(t.b->weight.value()), std::sqrt(2.0 / (1.0625 * 576)),
              0.02 * std::sqrt(2.0 / 576));
}

TEST(Vocabulary, Conv3x3AndConv1x1AreTheBiasFreeResidualConvolutions) {
  auto c3 = conv3x3(16, 32, 2, 4);
  EXPECT_EQ(c3->extra_repr(), "16, 32, kernel_size=3, stride=2, padding=1, groups=4, bias=False");
  auto c1 = conv1x1(16, 32, 2);
  EXPECT_EQ(c1->extra_repr(), "16, 32, kernel_size=1, stride=2, bias=False");
  EXPECT_EQ(conv3x3(8, 8)->extra_repr(), "8, 8, kernel_size=3, padding=1, bias=False");
}

TEST(Vocabulary, NormalXavierZeroBiasAndBatchNormOverATree) {
  Tree t;
  init::normal<Linear>(t, 0.0, 0.01);
  EXPECT_NEAR(stddev(t.fc->weight.value()), 0.01, 0.0005);
  for (float v : t.fc->bias.value()) EXPECT_EQ(v, 0.0f);
  init::xavier_uniform<Linear>(t);
  // U(-a, a), a = sqrt(6 / (fan_in + fan_out)): std a / sqrt(3).
  EXPECT_NEAR(stddev(t.fc->weight.value()), std::sqrt(6.0 / 356) / std::sqrt(3.0), 0.002);
  init::zero_bias<Conv2d>(t);
  for (float v : t.a->bias.value()) EXPECT_EQ(v, 0.0f);
  init::batchnorm(t, 0.0, 0.5);
  for (float v : t.bn->weight.value()) EXPECT_EQ(v, 0.0f);
  for (float v : t.bn->bias.value()) EXPECT_EQ(v, 0.5f);
  int convs = 0;
  init::for_each<Conv2d>(t, [&](Conv2d&) { ++convs; });
  EXPECT_EQ(convs, 2);
}

namespace {
class Scaled : public Module {
 public:
  Scaled() {
    lambda = register_parameter("lambda", Tensor::full({3}, 0.0f));
    constrain_parameter("lambda", -1.0, 1.0);
  }
  Var forward(const Var& x) override { return x; }
  Var lambda;
};
class Outer : public Module {
 public:
  Outer() { inner = register_module("inner", std::make_shared<Scaled>()); }
  Var forward(const Var& x) override { return inner->forward(x); }
  std::shared_ptr<Scaled> inner;
};
}  // namespace

TEST(Vocabulary, ApplyConstraintsProjectsDeclaredParametersOfTheWholeTree) {
  Outer m;
  Tensor l = m.inner->lambda.value();
  l[0] = 3.0f;
  l[1] = -7.0f;
  l[2] = 0.25f;
  m.forward(Var(Tensor::zeros({1})));
  EXPECT_EQ(l[0], 3.0f) << "forward must not write parameters";
  m.apply_constraints();
  EXPECT_EQ(l[0], 1.0f);
  EXPECT_EQ(l[1], -1.0f);
  EXPECT_EQ(l[2], 0.25f);
}
