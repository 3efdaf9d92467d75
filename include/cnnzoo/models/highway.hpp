// Highway networks: Srivastava, Greff, Schmidhuber, "Training Very Deep Networks", 2015,
// arXiv:1507.06228. The 19-layer convolutional highway network on the FitNet layout.
#pragma once
#include <memory>

#include "cnnzoo/models.hpp"
#include "cnnzoo/nn/layers.hpp"

namespace cnnzoo::models::highway {

struct Config {
  double gate_bias = -2.0;  // initial transform-gate bias: negative, so layers start carrying
  int64_t num_classes = 10;
  int64_t in_channels = 3;
};

// y = H(x) * T(x) + x * (1 - T(x)) with H = ReLU(conv3x3(x) + b_H) and the transform gate
// T = sigmoid(conv3x3(x) + b_T): both convolutions see x and keep its width.
class HighwayConv : public nn::Module {
 public:
  HighwayConv(int64_t channels, double gate_bias);
  Var forward(const Var& x) override;
  std::string type_name() const override { return "HighwayConv"; }

 private:
  std::shared_ptr<nn::Conv2d> plain, gate;
};

// The layer table of highway.cpp; names features.N, classifier.N.
class HighwayNet : public nn::Module {
 public:
  explicit HighwayNet(const Config& config);
  Var forward(const Var& x) override;
  std::string type_name() const override { return "HighwayNet"; }

 private:
  std::shared_ptr<nn::Sequential> features, classifier;
};

}  // namespace cnnzoo::models::highway
