// The CIFAR-10 ResNets of He, Zhang, Ren and Sun, "Deep Residual Learning for Image
// Recognition" (2015, arXiv 1512.03385), §4.2: 6n+2 layers, stages of 16/32/64 channels.
#pragma once
#include <string>

#include "cnnzoo/models/resnet_blocks.hpp"

namespace cnnzoo::models {

struct ResNetCifarConfig {
  int64_t depth = 20;          // 6n + 2 (n = 3, 5, 7, 9, 18, 200 for resnet20 ... resnet1202)
  std::string shortcut = "A";  // A (the paper's CIFAR choice), B or C
};

nn::ModulePtr build_resnet_cifar(const ModelSpec& spec, const ResNetCifarConfig& config);

}  // namespace cnnzoo::models
