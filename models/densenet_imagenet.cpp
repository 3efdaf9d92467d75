// ImageNet DenseNet-BC as torchvision builds it: Huang et al., "Densely Connected
// Convolutional Networks" (2016, arXiv:1608.06993).
//
// Paper Table 1: 7x7/2 conv of 2k channels (64; 96 for DenseNet-161), 3x3/2 max pool, four
// dense blocks joined by transition layers (BN-ReLU-1x1 conv halving the channels, compression
// 0.5, then 2x2/2 average pool), final BN-ReLU, global average pool, fc. Each dense layer is
// the "B" (bottleneck) layer: BN-ReLU-1x1 conv (4k channels) then BN-ReLU-3x3 conv (k
// channels), its output concatenated to its input.
//   densenet121: k = 32, blocks (6, 12, 24, 16)    densenet169: k = 32, (6, 12, 32, 32)
//   densenet201: k = 32, (6, 12, 48, 32)           densenet161: k = 48, (6, 12, 36, 24)
// Parameters (exact, as torchvision): densenet121 7,978,856; densenet161 28,681,000;
// densenet169 14,149,480; densenet201 20,013,928.
#include "cnnzoo/models/densenet_imagenet.hpp"

#include "cnnzoo/nn/init.hpp"
#include "cnnzoo/nn/layers.hpp"
#include "cnnzoo/ops/activation.hpp"
#include "cnnzoo/ops/dropout.hpp"
#include "cnnzoo/ops/pool.hpp"
#include "cnnzoo/ops/shape.hpp"
#include "models/paper.hpp"
#include "models/papers.hpp"

namespace cnnzoo::models::imagenet {

namespace {

using namespace cnnzoo::nn;

// BN-ReLU-Conv(1x1, bn_size * k) - BN-ReLU-Conv(3x3, k): returns only the k new channels.
class DenseLayer : public Module {
 public:
  DenseLayer(int64_t in, int64_t growth_rate, int64_t bn_size, double drop_rate)
      : drop_rate(drop_rate) {
    norm1 = register_module("norm1", std::make_shared<BatchNorm2d>(in));
    relu1 = register_module("relu1", std::make_shared<ReLU>());
    conv1 = register_module("conv1", conv1x1(in, bn_size * growth_rate));
    norm2 = register_module("norm2", std::make_shared<BatchNorm2d>(bn_size * growth_rate));
    relu2 = register_module("relu2", std::make_shared<ReLU>());
    conv2 = register_module("conv2", conv3x3(bn_size * growth_rate, growth_rate));
  }
  Var forward(const Var& x) override {
    Var h = conv1->forward(relu1->forward(norm1->forward(x)));
    h = conv2->forward(relu2->forward(norm2->forward(h)));
    if (drop_rate > 0) h = dropout(h, drop_rate, is_training(), global_generator());
    return h;
  }
  std::string type_name() const override { return "DenseLayer"; }
  std::shared_ptr<BatchNorm2d> norm1, norm2;
  std::shared_ptr<ReLU> relu1, relu2;
  std::shared_ptr<Conv2d> conv1, conv2;
  double drop_rate;
};

// Each layer sees the concatenation of the block input and every earlier layer's output.
class DenseBlock : public Module {
 public:
  DenseBlock(int64_t num_layers, int64_t in, int64_t growth_rate, int64_t bn_size,
             double drop_rate) {
    for (int64_t i = 0; i < num_layers; ++i)
      layers_.push_back(register_module(
          "denselayer" + std::to_string(i + 1),
          std::make_shared<DenseLayer>(in + i * growth_rate, growth_rate, bn_size, drop_rate)));
  }
  Var forward(const Var& x) override {
    Var features = x;
    for (auto& layer : layers_)
      features = concat(std::vector<Var>{features, layer->forward(features)});
    return features;
  }
  std::string type_name() const override { return "DenseBlock"; }

 private:
  std::vector<std::shared_ptr<DenseLayer>> layers_;
};

// BN-ReLU-1x1 conv (compression) and 2x2 average pooling between dense blocks.
std::shared_ptr<Sequential> transition(int64_t in, int64_t out) {
  auto t = std::make_shared<Sequential>();
  t->push_back("norm", std::make_shared<BatchNorm2d>(in));
  t->push_back("relu", std::make_shared<ReLU>());
  t->push_back("conv", conv1x1(in, out));
  t->push_back("pool", std::make_shared<AvgPool2d>(2, 2));
  return t;
}

struct Config {
  int64_t growth_rate;
  std::vector<int64_t> block_config;
  int64_t num_init_features;
};

class DenseNet : public Module {
 public:
  DenseNet(const Config& c, int64_t in_channels, int64_t num_classes, double drop_rate,
           int64_t bn_size = 4) {
    features = register_module("features", std::make_shared<Sequential>());
    features->push_back(
        "conv0",
        std::make_shared<Conv2d>(
            Conv2dOptions(in_channels, c.num_init_features, 7).stride(2).padding(3).bias(false)));
    features->push_back("norm0", std::make_shared<BatchNorm2d>(c.num_init_features));
    features->push_back("relu0", std::make_shared<ReLU>());
    features->push_back("pool0", std::make_shared<MaxPool2d>(3, 2, 1));
    int64_t channels = c.num_init_features;
    for (size_t i = 0; i < c.block_config.size(); ++i) {
      int64_t n = c.block_config[i];
      features->push_back(
          "denseblock" + std::to_string(i + 1),
          std::make_shared<DenseBlock>(n, channels, c.growth_rate, bn_size, drop_rate));
      channels += n * c.growth_rate;
      if (i + 1 < c.block_config.size()) {
        features->push_back("transition" + std::to_string(i + 1),
                            transition(channels, channels / 2));
        channels /= 2;
      }
    }
    features->push_back("norm5", std::make_shared<BatchNorm2d>(channels));
    classifier = register_module("classifier", std::make_shared<Linear>(channels, num_classes));
    // torchvision's initialisation: He normal (fan-in) convolutions, BN gamma 1 beta 0, the
    // classifier's bias 0 (its weight keeps PyTorch's default).
    init::kaiming_normal<Conv2d>(*this);
    init::zero_bias<Linear>(*this);
  }
  Var forward(const Var& x) override {
    Var h = relu(features->forward(x));  // the ReLU after norm5
    return classifier->forward(flatten(global_avg_pool2d(h)));
  }
  std::string type_name() const override { return "DenseNet"; }

  std::shared_ptr<Sequential> features;
  std::shared_ptr<Linear> classifier;
};

Config config_of(const std::string& name) {
  if (name == "densenet121") return {32, {6, 12, 24, 16}, 64};
  if (name == "densenet161") return {48, {6, 12, 36, 24}, 96};
  if (name == "densenet169") return {32, {6, 12, 32, 32}, 64};
  if (name == "densenet201") return {32, {6, 12, 48, 32}, 64};
  throw Error("densenet: unknown configuration '" + name + "'");
}

}  // namespace

nn::ModulePtr build_densenet(const ModelSpec& spec, const DenseNetImageNetConfig& config) {
  return std::make_shared<DenseNet>(config_of(spec.name), spec.in_channels, spec.num_classes,
                                    config.drop_rate);
}

}  // namespace cnnzoo::models::imagenet

namespace cnnzoo::models {

std::vector<ModelInfo> densenet_imagenet_models() {
  using C = imagenet::DenseNetImageNetConfig;
  const Paper paper{"Densely Connected Convolutional Networks", "Huang et al.", 2016, "1608.06993",
                    "densenet_imagenet"};
  const auto options =
      Options<C>().real("drop_rate", &C::drop_rate, 0.0, 0.99, "dropout after every conv");
  std::vector<ModelInfo> rows;
  for (const char* n : {"densenet121", "densenet161", "densenet169", "densenet201"})
    rows.push_back(
        model_row(paper, n, imagenet_input(), "", options, C{}, imagenet::build_densenet));
  return rows;
}

}  // namespace cnnzoo::models
