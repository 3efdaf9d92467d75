// DenseNet for CIFAR: Huang, Liu, van der Maaten, Weinberger, "Densely Connected Convolutional
// Networks", 2016, arXiv:1608.06993. Plain (L = 40, 100) and DenseNet-BC configurations.
#pragma once
#include <memory>

#include "cnnzoo/models.hpp"
#include "cnnzoo/nn/layers.hpp"

namespace cnnzoo::models::densenet_cifar {

struct Config {
  int64_t depth = 40;        // L: all weight layers, stem and classifier included
  int64_t growth_rate = 12;  // k
  bool bottleneck = false;   // B: 1x1 conv to 4k before each 3x3
  double compression = 1.0;  // C: theta, transition outputs floor(theta * m) feature maps
  double drop_rate = 0.0;    // dropout after every conv (the paper: 0.2 without augmentation)
  int64_t num_classes = 10;
  int64_t in_channels = 3;
};

// BN-ReLU-Conv(3x3, k), or BN-ReLU-Conv(1x1, 4k)-BN-ReLU-Conv(3x3, k) for DenseNet-B; the new
// k feature maps are concatenated to the input.
class DenseLayer : public nn::Module {
 public:
  DenseLayer(int64_t in_channels, int64_t growth_rate, bool bottleneck, double drop_rate);
  Var forward(const Var& x) override;
  std::string type_name() const override { return "DenseLayer"; }

 private:
  std::shared_ptr<nn::BatchNorm2d> norm1, norm2;
  std::shared_ptr<nn::Conv2d> conv1, conv2;
  double drop_rate;
};

// BN-ReLU-Conv(1x1)-AvgPool(2x2) between dense blocks.
class Transition : public nn::Module {
 public:
  Transition(int64_t in_channels, int64_t out_channels, double drop_rate);
  Var forward(const Var& x) override;
  std::string type_name() const override { return "Transition"; }

 private:
  std::shared_ptr<nn::BatchNorm2d> norm;
  std::shared_ptr<nn::Conv2d> conv;
  std::shared_ptr<nn::AvgPool2d> pool;
  double drop_rate;
};

// torchvision's names: features.{conv0, denseblockB.denselayerL, transitionB, norm5}, classifier.
class DenseNet : public nn::Module {
 public:
  explicit DenseNet(const Config& config);
  Var forward(const Var& x) override;
  std::string type_name() const override { return "DenseNet"; }

 private:
  std::shared_ptr<nn::Sequential> features;
  std::shared_ptr<nn::Linear> classifier;
};

}  // namespace cnnzoo::models::densenet_cifar
