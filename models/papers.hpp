// Every paper file's registry rows; registry.cpp lists them in table order.
#pragma once
#include <vector>

#include "cnnzoo/models.hpp"

namespace cnnzoo::models {

// ---- the CIFAR residual family ----
std::vector<ModelInfo> resnet_cifar_models();
std::vector<ModelInfo> preact_resnet_models();
std::vector<ModelInfo> wide_resnet_models();
std::vector<ModelInfo> stochastic_depth_models();
std::vector<ModelInfo> weighted_resnet_models();
std::vector<ModelInfo> ror_models();
std::vector<ModelInfo> senet_cifar_models();
std::vector<ModelInfo> densenet_cifar_models();
std::vector<ModelInfo> pyramidnet_models();
std::vector<ModelInfo> pyramidsepdrop_models();
std::vector<ModelInfo> resnext_cifar_models();
std::vector<ModelInfo> fractalnet_models();
std::vector<ModelInfo> highway_models();
std::vector<ModelInfo> swapout_models();
std::vector<ModelInfo> rir_models();

// ---- classic and ImageNet designs, and their CIFAR versions ----
std::vector<ModelInfo> alexnet_models();
std::vector<ModelInfo> vgg_models();
std::vector<ModelInfo> vgg_cifar_models();
std::vector<ModelInfo> googlenet_models();
std::vector<ModelInfo> inception_v3_models();
std::vector<ModelInfo> resnet_imagenet_models();
std::vector<ModelInfo> squeezenet_models();
std::vector<ModelInfo> squeezenet_cifar_models();
std::vector<ModelInfo> densenet_imagenet_models();
std::vector<ModelInfo> lenet_models();
std::vector<ModelInfo> zfnet_models();
std::vector<ModelInfo> bn_inception_models();
std::vector<ModelInfo> inception_v4_models();
std::vector<ModelInfo> xception_models();
std::vector<ModelInfo> prelu_net_models();
std::vector<ModelInfo> se_resnet_models();
std::vector<ModelInfo> nin_models();
std::vector<ModelInfo> nas_cifar_models();

}  // namespace cnnzoo::models
