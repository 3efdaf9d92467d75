// AlexNet as torchvision builds it: the single-tower variant it attributes to Krizhevsky, "One
// weird trick for parallelizing convolutional neural networks" (2014, arXiv:1404.5997).
#pragma once
#include "cnnzoo/models.hpp"

namespace cnnzoo::models::imagenet {

// `alexnet`: 224x224 input; option drop_rate (0.5).
nn::ModulePtr alexnet(const ModelSpec& spec);

}  // namespace cnnzoo::models::imagenet
