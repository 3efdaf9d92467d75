// Xception: Chollet, "Xception: Deep Learning with Depthwise Separable Convolutions" (2016,
// arXiv:1610.02357).
#pragma once
#include "cnnzoo/models.hpp"

namespace cnnzoo::models {

// `xception` (299x299) and `xception-cifar` (32x32: no downsampling in the stem and the
// first entry-flow block); option drop_rate (0.5).
struct XceptionConfig {
  bool cifar_stem = false;  // no downsampling in the stem and the first entry-flow block
  double drop_rate = 0.5;
  double width_scale = 1.0;  // CIFAR form only
};
nn::ModulePtr build_xception(const ModelSpec& spec, const XceptionConfig& config);

}  // namespace cnnzoo::models
