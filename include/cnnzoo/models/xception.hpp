// Xception: Chollet, "Xception: Deep Learning with Depthwise Separable Convolutions" (2016,
// arXiv:1610.02357).
#pragma once
#include "cnnzoo/models.hpp"
#include "cnnzoo/nn/layers.hpp"

namespace cnnzoo::models {

// The depthwise separable convolution: a depthwise 3x3 (padding 1, one filter per channel)
// then a pointwise 1x1 across channels, with nothing in between; neither has a bias.
class SeparableConv2d : public nn::Module {
 public:
  SeparableConv2d(int64_t in_channels, int64_t out_channels);
  Var forward(const Var& x) override;
  std::string type_name() const override { return "SeparableConv2d"; }
  std::shared_ptr<nn::Conv2d> depthwise, pointwise;
};

// `xception` (299x299) and `xception-cifar` (32x32: no downsampling in the stem and the
// first entry-flow block); option drop_rate (0.5).
struct XceptionConfig {
  bool cifar_stem = false;  // no downsampling in the stem and the first entry-flow block
  double drop_rate = 0.5;
  double width_scale = 1.0;  // CIFAR form only
};
nn::ModulePtr build_xception(const ModelSpec& spec, const XceptionConfig& config);

}  // namespace cnnzoo::models
