// SqueezeNet v1.0 and v1.1 as torchvision builds them: Iandola et al., "SqueezeNet:
// AlexNet-level accuracy with 50x fewer parameters and <0.5MB model size" (2016,
// arXiv:1602.07360).
#pragma once
#include "cnnzoo/models.hpp"
#include "cnnzoo/nn/layers.hpp"

namespace cnnzoo::models {

// The fire module: a 1x1 "squeeze" convolution feeding parallel 1x1 and 3x3 "expand"
// convolutions whose ReLU outputs are concatenated; biased convolutions, no batch norm
// (torchvision's keys: squeeze, expand1x1, expand3x3).
class Fire : public nn::Module {
 public:
  Fire(int64_t in_channels, int64_t squeeze_planes, int64_t expand1x1_planes,
       int64_t expand3x3_planes);
  Var forward(const Var& x) override;
  std::string type_name() const override { return "Fire"; }
  std::shared_ptr<nn::Conv2d> squeeze, expand1x1, expand3x3;
  std::shared_ptr<nn::ReLU> squeeze_activation, expand1x1_activation, expand3x3_activation;
};

// squeezenet-cifar's fire module: every convolution is conv -> BN -> ReLU, and with `bypass`
// (the paper's simple bypass; needs in_channels = 2 * expand_planes) the input is added to
// the concatenated output.
class FireBN : public nn::Module {
 public:
  FireBN(int64_t in_channels, int64_t squeeze_planes, int64_t expand_planes, bool bypass);
  Var forward(const Var& x) override;
  std::string type_name() const override { return bypass ? "FireBypass" : "Fire"; }
  std::shared_ptr<nn::ConvBnAct> squeeze, expand1x1, expand3x3;
  bool bypass;
};

}  // namespace cnnzoo::models

namespace cnnzoo::models::imagenet {

// `squeezenet1_0` `squeezenet1_1`; option drop_rate (0.5).
struct SqueezeNetConfig {
  double drop_rate = 0.5;
};
// squeezenet1_0 / squeezenet1_1 from the spec's name.
nn::ModulePtr build_squeezenet(const ModelSpec& spec, const SqueezeNetConfig& config);

}  // namespace cnnzoo::models::imagenet

namespace cnnzoo::models {

// `squeezenet-cifar`: v1.0 with BatchNorm and simple bypass on 32x32 inputs; option
// drop_rate (0.5).
nn::ModulePtr build_squeezenet_cifar(const ModelSpec& spec,
                                     const imagenet::SqueezeNetConfig& config);

}  // namespace cnnzoo::models
