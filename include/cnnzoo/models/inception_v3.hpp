// Inception v3 as torchvision builds it: Szegedy et al., "Rethinking the Inception
// Architecture for Computer Vision" (2015, arXiv:1512.00567).
#pragma once
#include "cnnzoo/models.hpp"

namespace cnnzoo::models::imagenet {

// `inception_v3`: 299x299 input (at least 75x75; 299 when the auxiliary head runs); options
// aux_logits (true), drop_rate (0.5). In training, take_aux_logits() returns the auxiliary
// classifier's logits with weight 0.4.
nn::ModulePtr inception_v3(const ModelSpec& spec);

}  // namespace cnnzoo::models::imagenet

namespace cnnzoo::models {

// `inception-v3-cifar`: the same modules on 32x32 inputs (stride-1 'same' stem, no stem
// pools, no auxiliary head); option drop_rate (0.2).
nn::ModulePtr inception_v3_cifar(const ModelSpec& spec);

}  // namespace cnnzoo::models
