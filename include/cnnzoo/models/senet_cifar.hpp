// Squeeze-and-Excitation on the CIFAR ResNets (Hu, Shen and Sun, "Squeeze-and-Excitation
// Networks", 2017, arXiv 1709.01507): an SE block rescales the residual branch's channels
// before the branch is added to the shortcut.
#pragma once
#include "cnnzoo/models/preact_resnet.hpp"

namespace cnnzoo::models {

// s = sigmoid(W2 ReLU(W1 GAP(x) + b1) + b2), y = x * s per channel; W1: C -> C/r, W2: C/r -> C,
// both with biases (the paper's FC layers).
class SqueezeExcitation : public nn::Module {
 public:
  SqueezeExcitation(int64_t channels, int64_t reduction);
  Var forward(const Var& x) override;
  std::string type_name() const override { return "SqueezeExcitation"; }
  std::shared_ptr<nn::Linear> fc1, fc2;
};

// Pre-activation basic unit with SE on its residual (SE-ResNet-110).
class SEPreActBlock : public PreActBlock {
 public:
  SEPreActBlock(int64_t in_channels, int64_t out_channels, int64_t stride, bool activate_shortcut,
                int64_t reduction);
  Var residual(const Var& a) override;
  std::string type_name() const override { return "SEPreActBlock"; }
  std::shared_ptr<SqueezeExcitation> se;
};

// Pre-activation bottleneck with SE on its residual (SE-PreResNet-164).
class SEPreActBottleneck : public PreActBottleneck {
 public:
  SEPreActBottleneck(int64_t in_channels, int64_t out_channels, int64_t stride, int64_t reduction);
  Var residual(const Var& a) override;
  std::string type_name() const override { return "SEPreActBottleneck"; }
  std::shared_ptr<SqueezeExcitation> se;
};

// se-preact-resnet164 (option se_reduction, default 16).
struct SENetCifarConfig {
  int64_t se_reduction = 16;  // r: the SE bottleneck is C / r wide
};

nn::ModulePtr build_se_preact_resnet164(const ModelSpec& spec, const SENetCifarConfig& config);
// se-resnet110 (option se_reduction, default 16).
nn::ModulePtr build_se_resnet110(const ModelSpec& spec, const SENetCifarConfig& config);

}  // namespace cnnzoo::models
