// PReLU-net: He, Zhang, Ren & Sun, "Delving Deep into Rectifiers: Surpassing Human-Level
// Performance on ImageNet Classification" (2015, arXiv:1502.01852).
#pragma once
#include "cnnzoo/models.hpp"

namespace cnnzoo::models {

// `prelu-net-a` (224x224, model A of Table 3 with channel-wise PReLU) and `prelu-net-cifar`
// (32x32: stride-1 stem, 2x2 first pool, global average pool instead of SPP, BN). Options
// drop_rate (0.5), batch_norm (false for prelu-net-a, true for prelu-net-cifar).
nn::ModulePtr prelu_net(const ModelSpec& spec);

}  // namespace cnnzoo::models
