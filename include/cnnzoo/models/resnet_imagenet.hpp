// ImageNet ResNets as torchvision builds them: He et al., "Deep Residual Learning for Image
// Recognition" (2015, arXiv:1512.03385), and the two variants torchvision builds from the same
// bottleneck block: wide ResNet-50-2 (Zagoruyko & Komodakis, arXiv:1605.07146) and ResNeXt
// (Xie et al., arXiv:1611.05431).
#pragma once
#include "cnnzoo/models.hpp"

namespace cnnzoo::models::imagenet {

// `resnet18` `resnet34` `resnet50` `resnet101` `resnet152` `wide_resnet50_2` `resnext50_32x4d`
// `resnext101_32x8d` (the name selects depth, width and cardinality); option
// zero_init_residual (false).
struct ResNetConfig {
  bool zero_init_residual = false;  // each block's last BN scale starts at 0
};
nn::ModulePtr build_resnet(const ModelSpec& spec, const ResNetConfig& config);

}  // namespace cnnzoo::models::imagenet
