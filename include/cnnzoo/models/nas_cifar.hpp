// The 15-layer CIFAR-10 network found by neural architecture search: Zoph & Le, "Neural
// Architecture Search with Reinforcement Learning" (2016, arXiv:1611.01578), Appendix A.
#pragma once
#include "cnnzoo/models.hpp"

namespace cnnzoo::models {

// `nas-cifar`: 15 convolutions with searched filter sizes, widths and skip connections, no
// strides or pooling (32x32 throughout), global average pooling, linear classifier; no
// options.
struct NASCifarConfig {
  double width_scale = 1.0;  // every layer's filters (not the paper's)
};
nn::ModulePtr build_nas_cifar(const ModelSpec& spec, const NASCifarConfig& config);

}  // namespace cnnzoo::models
