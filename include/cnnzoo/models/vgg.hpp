// VGG, configurations A, B, D and E with and without batch normalisation, as torchvision builds
// them: Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image
// Recognition" (2014, arXiv:1409.1556).
#pragma once
#include "cnnzoo/models.hpp"

namespace cnnzoo::models::imagenet {

// `vgg11` `vgg13` `vgg16` `vgg19` and the `_bn` versions (the name selects the configuration);
// option drop_rate (0.5).
struct VGGConfig {
  double drop_rate = 0.5;
};
// vgg11 ... vgg19_bn: the configuration and BN from the spec's name.
nn::ModulePtr build_vgg(const ModelSpec& spec, const VGGConfig& config);

}  // namespace cnnzoo::models::imagenet

namespace cnnzoo::models {

// `vgg11-cifar` `vgg16-cifar` `vgg19-cifar`: configurations A, D, E on 32x32 inputs with
// BatchNorm and a single 512 -> classes linear classifier; no options.
struct VGGCifarConfig {};
// vgg11-cifar, vgg16-cifar, vgg19-cifar: the configuration from the spec's name.
nn::ModulePtr build_vgg_cifar(const ModelSpec& spec, const VGGCifarConfig& config);

}  // namespace cnnzoo::models
