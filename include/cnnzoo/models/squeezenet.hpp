// SqueezeNet v1.0 and v1.1 as torchvision builds them: Iandola et al., "SqueezeNet:
// AlexNet-level accuracy with 50x fewer parameters and <0.5MB model size" (2016,
// arXiv:1602.07360).
#pragma once
#include "cnnzoo/models.hpp"

namespace cnnzoo::models::imagenet {

// `squeezenet1_0` `squeezenet1_1`; option drop_rate (0.5).
struct SqueezeNetConfig {
  double drop_rate = 0.5;
};
// squeezenet1_0 / squeezenet1_1 from the spec's name.
nn::ModulePtr build_squeezenet(const ModelSpec& spec, const SqueezeNetConfig& config);

}  // namespace cnnzoo::models::imagenet

namespace cnnzoo::models {

// `squeezenet-cifar`: v1.0 with BatchNorm and simple bypass on 32x32 inputs; option
// drop_rate (0.5).
nn::ModulePtr build_squeezenet_cifar(const ModelSpec& spec,
                                     const imagenet::SqueezeNetConfig& config);

}  // namespace cnnzoo::models
