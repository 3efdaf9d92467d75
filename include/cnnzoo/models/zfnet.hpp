// ZFNet: Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks" (2013,
// arXiv:1311.2901), the 8-layer ImageNet network of the paper's Figure 3.
#pragma once
#include "cnnzoo/models.hpp"

namespace cnnzoo::models {

// `zfnet`: 224x224 input; option drop_rate (0.5).
struct ZFNetConfig {
  double drop_rate = 0.5;
};
nn::ModulePtr build_zfnet(const ModelSpec& spec, const ZFNetConfig& config);

}  // namespace cnnzoo::models
