// Network in Network: Lin, Chen & Yan, "Network In Network" (2013, arXiv:1312.4400), the
// paper's CIFAR-10 network, and the same network with batch normalisation.
#pragma once
#include "cnnzoo/models.hpp"

namespace cnnzoo::models {

// `nin` (the paper's: three mlpconv layers, global average pooling) and `nin-bn` (every
// hidden convolution followed by BatchNorm); option drop_rate (0.5).
struct NINConfig {
  double drop_rate = 0.5;
};
// nin / nin-bn from the spec's name.
nn::ModulePtr build_nin(const ModelSpec& spec, const NINConfig& config);

}  // namespace cnnzoo::models
