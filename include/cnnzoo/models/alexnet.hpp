// AlexNet as torchvision builds it: the single-tower variant it attributes to Krizhevsky, "One
// weird trick for parallelizing convolutional neural networks" (2014, arXiv:1404.5997).
#pragma once
#include "cnnzoo/models.hpp"

namespace cnnzoo::models::imagenet {

// `alexnet`: 224x224 input; option drop_rate (0.5).
struct AlexNetConfig {
  double drop_rate = 0.5;
};
nn::ModulePtr build_alexnet(const ModelSpec& spec, const AlexNetConfig& config);

}  // namespace cnnzoo::models::imagenet

namespace cnnzoo::models {

// `alexnet-cifar`: the 2012 paper's five convolutions (96-256-384-384-256) and three fully
// connected layers on 32x32 inputs, with BatchNorm; options drop_rate (0.5), groups (1; 2
// restores the paper's two-GPU split of conv2, conv4 and conv5), batch_norm (true; false
// gives the paper's BN-free network with local response normalisation).
struct AlexNetCifarConfig {
  double drop_rate = 0.5;
  int64_t groups = 1;      // 2: the paper's two-GPU split of conv2, conv4, conv5
  bool batch_norm = true;  // BN in place of local response normalisation
};
nn::ModulePtr build_alexnet_cifar(const ModelSpec& spec, const AlexNetCifarConfig& config);

}  // namespace cnnzoo::models
