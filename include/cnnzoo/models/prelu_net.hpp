// PReLU-net: He, Zhang, Ren & Sun, "Delving Deep into Rectifiers: Surpassing Human-Level
// Performance on ImageNet Classification" (2015, arXiv:1502.01852).
#pragma once
#include "cnnzoo/models.hpp"

namespace cnnzoo::models {

// `prelu-net-a` (224x224, model A of Table 3 with channel-wise PReLU) and `prelu-net-cifar`
// (32x32: stride-1 stem, 2x2 first pool, global average pool instead of SPP, BN). Options
// drop_rate (0.5), batch_norm (false for prelu-net-a, true for prelu-net-cifar).
struct PReLUNetConfig {
  bool cifar_stem = false;
  bool batch_norm = false;  // BN after every conv (the CIFAR version's default)
  double drop_rate = 0.5;
  double width_scale = 1.0;  // CIFAR form only
};
nn::ModulePtr build_prelu_net(const ModelSpec& spec, const PReLUNetConfig& config);

}  // namespace cnnzoo::models
