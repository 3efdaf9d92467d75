// GoogLeNet (Inception v1) as torchvision builds it: Szegedy et al., "Going Deeper with
// Convolutions" (2014, arXiv:1409.4842), with batch normalisation in every convolution.
#pragma once
#include "cnnzoo/models.hpp"

namespace cnnzoo::models::imagenet {

// `googlenet`: 224x224 input; options aux_logits (true), drop_rate (0.2), aux_drop_rate (0.7).
// In training, take_aux_logits() returns the two auxiliary classifiers' logits, weight 0.3 each.
nn::ModulePtr googlenet(const ModelSpec& spec);

}  // namespace cnnzoo::models::imagenet

namespace cnnzoo::models {

// `googlenet-cifar`: the same Inception modules on 32x32 inputs (stride-1 stem, no stem
// pools); options aux_logits (false), drop_rate (0.4), aux_drop_rate (0.7).
nn::ModulePtr googlenet_cifar(const ModelSpec& spec);

}  // namespace cnnzoo::models
