// SE-ResNet: Hu, Shen & Sun, "Squeeze-and-Excitation Networks" (2017, arXiv:1709.01507).
#pragma once
#include "cnnzoo/models.hpp"

namespace cnnzoo::models {

// `se-resnet50` (224x224): ResNet-50 with an SE block in every bottleneck; option
// se_reduction (16).
struct SEResNetConfig {
  int64_t se_reduction = 16;
};
nn::ModulePtr build_se_resnet(const ModelSpec& spec, const SEResNetConfig& config);

}  // namespace cnnzoo::models
