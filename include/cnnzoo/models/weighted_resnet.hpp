// Weighted residual networks (Shen and Zeng, "Weighted Residuals for Very Deep Networks",
// 2016, arXiv 1605.08831): every residual branch is scaled by a learnable scalar lambda.
#pragma once
#include "cnnzoo/models/stochastic_depth.hpp"

namespace cnnzoo::models {

// y = shortcut(x) + lambda * ReLU(BN(conv(ReLU(BN(conv(x)))))), nothing after the sum: the
// ReLU moves inside the branch (the paper's fix for ReLU-after-addition), and lambda, which
// starts at 0 and is kept in [-1, 1] (a parameter constraint: Module::apply_constraints after
// each optimizer step), lets a branch add or subtract. With stochastic depth
// (the paper's "-d" models) the branch is also gated.
class WeightedResidualBlock : public nn::Module, public GatedBlock {
 public:
  static constexpr double kLambdaBound = 1.0;
  WeightedResidualBlock(int64_t in_channels, int64_t out_channels, int64_t stride, double survival);
  Var forward(const Var& x) override;
  std::string type_name() const override { return "WeightedResidualBlock"; }
  std::string extra_repr() const override;
  Var residual(const Var& x);  // lambda * F(x)
  std::shared_ptr<nn::Conv2d> conv1, conv2;
  std::shared_ptr<nn::BatchNorm2d> bn1, bn2;
  nn::ModulePtr downsample;  // 1x1 projection + BN where the shape changes, else null
  Var alpha;                 // lambda, shape [1]
};

// weighted-resnet: options depth (6n+4, default 1192: n = 198) and p_L (stochastic depth,
// default 0.5; 1 disables it).
struct WeightedResNetConfig {
  int64_t depth = 1192;  // 6n + 4
  double p_L = 0.5;      // stochastic depth's last survival probability (1: none)
};

nn::ModulePtr build_weighted_resnet(const ModelSpec& spec, const WeightedResNetConfig& config);

}  // namespace cnnzoo::models
