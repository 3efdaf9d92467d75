// Convolutional highway network for CIFAR-10 (Srivastava et al. 2015, arXiv:1507.06228,
// "Highway B", 19 layers, after FitNet-4 of Romero et al.): highway layers need x and H(x) of
// the same width, so, as in the paper, a plain layer changes the width and highway layers
// follow it. Layer table (3x3 convolutions, padding 1; ReLU after every plain conv):
//
//   1  conv 3 -> 32                 32x32
//   2  highway 32, 3 highway 32
//   4  conv 32 -> 48, 5 highway 48
//      max-pool 2x2                 16x16
//   6  conv 48 -> 80, 7-11 highway 80 (x5)
//      max-pool 2x2                 8x8
//   12 conv 80 -> 128, 13-17 highway 128 (x5)
//      global average pooling
//   18 fully connected 128 -> 500, ReLU
//   19 fully connected 500 -> classes (plain logits)
//
// That is FitNet-4's 17 convolutions and two fully connected layers; FitNet's maxout is
// replaced by ReLU as in the highway paper, and its final 8x8 max pooling by average
// pooling. No batch normalisation (the paper trains without it). Gate biases start at -2.
//
// Parameters: 2,342,406 (10 classes). The paper reports 2.3M for its 19-layer highway net.
// The issue table's 2.8M is what the Chainer seed's gate gives (a three-conv BN-ReLU gate
// sub-network per layer, 2.79M), which is not the paper's single-conv gate.
#include "cnnzoo/models/highway.hpp"

#include "cnnzoo/nn/init.hpp"
#include "cnnzoo/ops/activation.hpp"
#include "cnnzoo/ops/arith.hpp"
#include "models/paper.hpp"
#include "models/papers.hpp"

namespace cnnzoo::models::highway {

// The convolutions keep their bias: no batch norm follows them.
HighwayConv::HighwayConv(int64_t channels, double gate_bias) {
  plain = register_module(
      "plain", std::make_shared<nn::Conv2d>(nn::Conv2dOptions(channels, channels, 3).padding(1)));
  gate = register_module(
      "gate", std::make_shared<nn::Conv2d>(nn::Conv2dOptions(channels, channels, 3).padding(1)));
  nn::init::kaiming_normal(plain->weight.value());
  nn::init::constant(plain->bias.value(), 0.0);
  nn::init::xavier_normal(gate->weight.value());
  nn::init::constant(gate->bias.value(), gate_bias);
}

Var HighwayConv::forward(const Var& x) {
  Var h = relu(plain->forward(x));
  Var t = sigmoid(gate->forward(x));
  return add(x, mul(t, sub(h, x)));  // = H * T + x * (1 - T)
}

HighwayNet::HighwayNet(const Config& c) {
  features = register_module("features", std::make_shared<nn::Sequential>());
  auto plain = [&](int64_t in, int64_t out) {
    auto cv = std::make_shared<nn::Conv2d>(nn::Conv2dOptions(in, out, 3).padding(1));
    nn::init::kaiming_normal(cv->weight.value());
    nn::init::constant(cv->bias.value(), 0.0);
    features->push_back(cv);
    features->push_back(std::make_shared<nn::ReLU>());
  };
  auto highway = [&](int64_t channels, int n) {
    for (int i = 0; i < n; ++i)
      features->push_back(std::make_shared<HighwayConv>(channels, c.gate_bias));
  };
  auto pool = [&] { features->push_back(std::make_shared<nn::MaxPool2d>(2, 2)); };
  plain(c.in_channels, 32);
  highway(32, 2);
  plain(32, 48);
  highway(48, 1);
  pool();
  plain(48, 80);
  highway(80, 5);
  pool();
  plain(80, 128);
  highway(128, 5);
  features->push_back(std::make_shared<nn::AdaptiveAvgPool2d>(1));
  features->push_back(std::make_shared<nn::Flatten>());

  classifier = register_module("classifier", std::make_shared<nn::Sequential>());
  classifier->push_back(std::make_shared<nn::Linear>(128, 500));
  classifier->push_back(std::make_shared<nn::ReLU>());
  classifier->push_back(std::make_shared<nn::Linear>(500, c.num_classes));
}

Var HighwayNet::forward(const Var& x) {
  return classifier->forward(features->forward(x));
}

}  // namespace cnnzoo::models::highway

namespace cnnzoo::models {

std::vector<ModelInfo> highway_models() {
  using C = highway::Config;
  const Paper paper{"Training Very Deep Networks", "Srivastava et al.", 2015, "1507.06228",
                    "highway"};
  const auto options =
      Options<C>().real("gate_bias", &C::gate_bias, -100.0, 100.0, "initial transform-gate bias");
  return {model_row(paper, "highway-19", cifar_input(), "7.54", options, C{},
                    build_network<highway::HighwayNet, C>)};
}

}  // namespace cnnzoo::models
