// The 15-layer CIFAR-10 network found by neural architecture search: Zoph & Le, "Neural
// Architecture Search with Reinforcement Learning" (2016, arXiv:1611.01578), Appendix A.
#pragma once
#include "cnnzoo/models.hpp"

namespace cnnzoo::models {

// `nas-cifar`: 15 convolutions with searched filter sizes, widths and skip connections, no
// strides or pooling (32x32 throughout), global average pooling, linear classifier; no
// options.
nn::ModulePtr nas_cifar(const ModelSpec& spec);

}  // namespace cnnzoo::models
