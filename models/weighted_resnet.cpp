// Weighted residual networks (Shen and Zeng 2016, arXiv 1605.08831), CIFAR-10.
//
// The headline model has 1192 layers (95.3% on CIFAR-10). We build it as the CIFAR ResNet of
// He et al. 2015 (conv3x3-BN-ReLU stem, stages of 16/32/64 channels, global average pooling,
// fc) with n = 198 weighted residual blocks per stage, and read the depth as
// 1192 = 1 (stem) + 6 * 198 (two convolutions per block) + 2 (the 1x1 projection shortcuts
// where the width doubles) + 1 (fc), i.e. depth = 6n + 4; other depths via `--set depth=`.
// Lambda starts at 0, so every block starts as its shortcut and the very deep network trains
// like a shallow one at first; it is optimised by projected SGD into [-1, 1].
//
// Our reading, where the paper is not available to check here: the "-d" of the headline model
// is stochastic depth, taken with the linear rule p_l = 1 - (l/L)(1 - p_L), l = 1..L, p_L = 0.5
// (the Chainer reproduction this project descends from did the same); the shortcut always
// runs, and evaluation scales the branch by p_l.
//
// Count (depth 1192, 10 classes): 19,230,188 = the option-B ResNet with n = 198 (19,229,594)
// + 594 lambdas.
#include "cnnzoo/models/weighted_resnet.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "cnnzoo/ops/activation.hpp"
#include "cnnzoo/ops/arith.hpp"
#include "models/paper.hpp"
#include "models/papers.hpp"

namespace cnnzoo::models {

WeightedResidualBlock::WeightedResidualBlock(int64_t in_channels, int64_t out_channels,
                                             int64_t stride, double survival) {
  conv1 = register_module("conv1", conv3x3(in_channels, out_channels, stride));
  bn1 = register_module("bn1", std::make_shared<nn::BatchNorm2d>(out_channels));
  conv2 = register_module("conv2", conv3x3(out_channels, out_channels));
  bn2 = register_module("bn2", std::make_shared<nn::BatchNorm2d>(out_channels));
  if (stride != 1 || in_channels != out_channels)
    downsample =
        register_module("downsample", projection_shortcut(in_channels, out_channels, stride));
  alpha = register_parameter("alpha", Tensor::zeros({1}));
  // Projected SGD: the optimizer loop projects lambda back onto [-1, 1] after each step.
  constrain_parameter("alpha", -kLambdaBound, kLambdaBound);
  gate.set_survival(survival);
}

Var WeightedResidualBlock::residual(const Var& x) {
  Var h = nn::conv_bn_relu(*conv1, *bn1, x);
  h = nn::conv_bn_relu(*conv2, *bn2, h);
  if (is_training()) return scale(h, alpha);
  // A lambda from a file may lie outside [-1, 1]; inference reads the projected value and
  // leaves the model alone (concurrent inference).
  const double a = alpha.value()[0];
  if (std::abs(a) <= kLambdaBound) return scale(h, alpha);
  return scale(h, std::clamp<double>(a, -kLambdaBound, kLambdaBound));
}

Var WeightedResidualBlock::forward(const Var& x) {
  Var s = downsample ? downsample->forward(x) : x;
  return gated_residual(gate, is_training(), s, [&] { return residual(x); });
}

std::string WeightedResidualBlock::extra_repr() const {
  std::ostringstream s;
  s << "survival=" << gate.survival();
  return s.str();
}

nn::ModulePtr build_weighted_resnet(const ModelSpec& spec, const WeightedResNetConfig& config) {
  const int64_t n = blocks_per_stage(spec, config.depth, 2, 4);
  return std::make_shared<CifarResNet>(
      spec.in_channels, std::array<int64_t, 3>{16, 32, 64}, n, spec.num_classes,
      linear_decay_blocks(3 * n, config.p_L, make_gated<WeightedResidualBlock>));
}

std::vector<ModelInfo> weighted_resnet_models() {
  using C = WeightedResNetConfig;
  const Paper paper{"Weighted Residuals for Very Deep Networks", "Shen & Zeng", 2016, "1605.08831",
                    "weighted_resnet"};
  const auto options =
      Options<C>()
          .integer("depth", &C::depth, 10, 2000, "6n + 4")
          .real("p_L", &C::p_L, 1e-6, 1.0, "last survival probability (1: no stochastic depth)");
  return {model_row(paper, "weighted-resnet", cifar_input(), "4.7", options, C{},
                    build_weighted_resnet)};
}

}  // namespace cnnzoo::models
