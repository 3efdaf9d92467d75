// The CIFAR-10 ResNets of He, Zhang, Ren and Sun, "Deep Residual Learning for Image
// Recognition" (2015, arXiv 1512.03385), §4.2: 6n+2 layers, stages of 16/32/64 channels.
#pragma once
#include "cnnzoo/models/resnet_blocks.hpp"

namespace cnnzoo::models {

// resnet20/32/44/56/110/1202: depth = 6n+2 (n = 3, 5, 7, 9, 18, 200). Option `shortcut` = A
// (default, as in the paper's CIFAR experiments), B or C.
nn::ModulePtr build_resnet_cifar(const ModelSpec& spec, int64_t depth);

}  // namespace cnnzoo::models
