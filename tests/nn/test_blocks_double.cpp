// Double-precision gradient checks through whole layers and blocks (the double build of the
// library: Tensor = TensorT<double>).
#include <gtest/gtest.h>

#include "cnnzoo/models/bn_inception.hpp"
#include "cnnzoo/models/densenet_cifar.hpp"
#include "cnnzoo/models/fractalnet.hpp"
#include "cnnzoo/models/googlenet.hpp"
#include "cnnzoo/models/inception_v3.hpp"
#include "cnnzoo/models/resnet_blocks.hpp"
#include "cnnzoo/models/senet_cifar.hpp"
#include "cnnzoo/models/squeezenet.hpp"
#include "cnnzoo/models/swapout.hpp"
#include "cnnzoo/models/xception.hpp"
#include "cnnzoo/nn/layers.hpp"
#include "cnnzoo/ops/arith.hpp"
#include "cnnzoo/testing/gtest.hpp"

using namespace cnnzoo;
using cnnzoo::testing::gradcheck;

namespace {
Tensor random_input(const Shape& shape, uint64_t seed = 5) {
  Generator g(seed);
  Tensor t = Tensor::empty(shape);
  for (auto& v : t) v = g.uniform(-1.0, 1.0);
  return t;
}
}  // namespace

TEST(BlocksDouble, TheBuildIsDouble) {
  static_assert(std::is_same_v<Tensor::value_type, double>);
  static_assert(std::is_same_v<Var, VarT<double>>);
}

TEST(BlocksDouble, ConvBnActInTrainingAndEval) {
  for (nn::Activation act : {nn::Activation::ReLU, nn::Activation::None}) {
    nn::ConvBnAct unit(nn::ConvBnActOptions(3, 4, 3).stride(2).padding(1).activation(act));
    EXPECT_GRADCHECK(gradcheck(unit, random_input({2, 3, 5, 5})));
    unit.eval();
    EXPECT_GRADCHECK(gradcheck(unit, random_input({2, 3, 5, 5})));
  }
}

TEST(BlocksDouble, GroupedAndDepthwiseConvolutions) {
  nn::Conv2d grouped(nn::Conv2dOptions(4, 6, {3, 1}).groups(2).padding({1, 0}));
  EXPECT_GRADCHECK(gradcheck(grouped, random_input({2, 4, 4, 4})));
  nn::Conv2d depthwise(nn::Conv2dOptions(3, 3, 3).groups(3).padding(1).bias(false));
  EXPECT_GRADCHECK(gradcheck(depthwise, random_input({2, 3, 4, 4})));
}

TEST(BlocksDouble, TheCheckFailsOnAWrongGradient) {
  // A module whose forward detaches a parameter: its analytic gradient is missing/zero while
  // the numeric one is not, which the check must report by name.
  class Detached : public nn::Module {
   public:
    Detached() { w = register_parameter("w", Tensor::full({1}, 2.0)); }
    Var forward(const Var& x) override { return scale(x, w.value()[0]); }
    Var w;
  };
  Detached m;
  auto result = gradcheck(m, random_input({1, 3}));
  EXPECT_FALSE(result);
  EXPECT_NE(std::string(result.message()).find("w"), std::string::npos) << result.message();
}

// ---- the zoo's blocks, tiny, through the whole block --------------------------------------

namespace {
// Training mode (batch statistics) and eval mode (running statistics, set away from 0/1).
void check_both_modes(nn::Module& block, const Shape& input_shape, const std::string& what) {
  block.train();
  EXPECT_GRADCHECK(gradcheck(block, random_input(input_shape))) << what << " (training)";
  Generator g(17);
  for (auto& [name, m] : block.named_modules())
    if (auto* bn = dynamic_cast<nn::BatchNorm*>(m)) {
      for (auto& v : bn->running_mean) v = g.uniform(-0.3, 0.3);
      for (auto& v : bn->running_var) v = g.uniform(0.5, 1.5);
    }
  block.eval();
  EXPECT_GRADCHECK(gradcheck(block, random_input(input_shape))) << what << " (eval)";
}
}  // namespace

TEST(BlocksDouble, ResidualBlocks) {
  manual_seed(1);
  models::BasicBlock basic(3, 4, 2, models::projection_shortcut(3, 4, 2));
  check_both_modes(basic, {2, 3, 5, 5}, "BasicBlock (projection shortcut)");
  for (auto sub :
       {models::ZeroPadShortcut::Subsample::Pick, models::ZeroPadShortcut::Subsample::Average}) {
    models::ZeroPadShortcut pad(3, 6, 2, sub);
    check_both_modes(pad, {2, 3, 4, 4}, "zero-padded shortcut (option A, PyramidNet)");
  }
  models::PreActBlock preact(4, 4, 1);
  check_both_modes(preact, {2, 4, 4, 4}, "PreActBlock");
  models::PreActBottleneck bottleneck(4, 8, 2);
  check_both_modes(bottleneck, {2, 4, 4, 4}, "PreActBottleneck");
  models::SqueezeExcitation se(8, 4);
  check_both_modes(se, {2, 8, 3, 3}, "SE gate");
  models::SEPreActBlock se_block(4, 4, 1, false, 2);
  check_both_modes(se_block, {2, 4, 4, 4}, "SE pre-activation block");
}

TEST(BlocksDouble, DenseLayerAndTransition) {
  manual_seed(2);
  models::densenet_cifar::DenseLayer dense(4, 3, /*bottleneck=*/true, 0.0);
  check_both_modes(dense, {2, 4, 4, 4}, "DenseLayer (BC)");
  models::densenet_cifar::Transition transition(6, 3, 0.0);
  check_both_modes(transition, {2, 6, 4, 4}, "Transition");
}

TEST(BlocksDouble, FractalJoinAndSwapoutInEval) {
  manual_seed(3);
  models::fractalnet::FractalBlock fractal(3, 4, 3, 0.0);
  fractal.eval();  // eval: every column, joins are means
  EXPECT_GRADCHECK(gradcheck(fractal, random_input({2, 3, 4, 4})));
  models::swapout::Unit unit(4, 4, 1, false, 0.5);
  unit.eval();  // deterministic inference
  EXPECT_GRADCHECK(gradcheck(unit, random_input({2, 4, 4, 4})));
}

TEST(BlocksDouble, InceptionModules) {
  manual_seed(4);
  models::Inception googlenet(4, 2, 2, 3, 1, 2, 2, 5);
  check_both_modes(googlenet, {2, 4, 5, 5}, "GoogLeNet Inception");
  models::InceptionV3Module::Width w = [](int64_t c) { return std::max<int64_t>(1, c / 32); };
  models::InceptionA a(3, 32, w);
  check_both_modes(a, {2, 3, 5, 5}, "Inception v3 A");
  models::BNInceptionModule reduction(3, {0, 2, 3, 2, 2, true, 0, 2});
  check_both_modes(reduction, {2, 3, 6, 6}, "BN-Inception stride-2 module");
}

TEST(BlocksDouble, FireModulesAndSeparableConvolution) {
  manual_seed(5);
  models::Fire fire(4, 2, 3, 2);
  check_both_modes(fire, {2, 4, 4, 4}, "SqueezeNet fire module");
  models::FireBN bypass(6, 2, 3, /*bypass=*/true);
  check_both_modes(bypass, {2, 6, 4, 4}, "fire module with BN and simple bypass");
  models::SeparableConv2d separable(3, 5);
  EXPECT_GRADCHECK(gradcheck(separable, random_input({2, 3, 5, 5})));
}
