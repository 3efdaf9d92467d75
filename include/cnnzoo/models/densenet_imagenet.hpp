// ImageNet DenseNet-BC as torchvision builds it: Huang et al., "Densely Connected
// Convolutional Networks" (2016, arXiv:1608.06993).
#pragma once
#include "cnnzoo/models.hpp"

namespace cnnzoo::models::imagenet {

// `densenet121` `densenet161` `densenet169` `densenet201`; option drop_rate (0).
struct DenseNetImageNetConfig {
  double drop_rate = 0.0;
};
// densenet121/161/169/201 from the spec's name.
nn::ModulePtr build_densenet(const ModelSpec& spec, const DenseNetImageNetConfig& config);

}  // namespace cnnzoo::models::imagenet
