// ResNeXt-29 for CIFAR: Xie, Girshick, Dollar, Tu, He, "Aggregated Residual Transformations
// for Deep Neural Networks", 2016, arXiv:1611.05431.
#pragma once
#include <memory>

#include "cnnzoo/models.hpp"
#include "cnnzoo/nn/layers.hpp"

namespace cnnzoo::models::resnext_cifar {

struct Config {
  int64_t depth = 29;             // 9 blocks * 3 layers + stem + classifier
  int64_t cardinality = 8;        // C: groups of the 3x3 conv
  int64_t bottleneck_width = 64;  // d: width of one group in the first stage
  int64_t num_classes = 10;
  int64_t in_channels = 3;
};

// 1x1 (C*d) BN ReLU -> 3x3 grouped (C groups, stride here) BN ReLU -> 1x1 BN, plus the
// shortcut (1x1 projection + BN where the shape changes), then ReLU. The C paths of the
// paper's form (a) are one grouped convolution (form (c), identical function).
class Bottleneck : public nn::Module {
 public:
  Bottleneck(int64_t in_channels, int64_t group_width_total, int64_t out_channels,
             int64_t cardinality, int64_t stride);
  Var forward(const Var& x) override;
  std::string type_name() const override { return "ResNeXtBottleneck"; }

 private:
  std::shared_ptr<nn::Conv2d> conv1, conv2, conv3;
  std::shared_ptr<nn::BatchNorm2d> bn1, bn2, bn3;
  std::shared_ptr<nn::Sequential> downsample;  // empty when the shortcut is the identity
};

// conv3x3(64)-BN-ReLU stem, stages of outputs 256/512/1024 at 32/16/8 pixels, global average
// pooling, linear classifier. torchvision's names (conv1, bn1, layerS.B.*, fc).
class ResNeXt : public nn::Module {
 public:
  explicit ResNeXt(const Config& config);
  Var forward(const Var& x) override;
  std::string type_name() const override { return "ResNeXt"; }

 private:
  std::shared_ptr<nn::Conv2d> conv1;
  std::shared_ptr<nn::BatchNorm2d> bn1;
  std::shared_ptr<nn::Sequential> layer1, layer2, layer3;
  std::shared_ptr<nn::Linear> fc;
};

}  // namespace cnnzoo::models::resnext_cifar
