// DenseNet for CIFAR (Huang et al. 2016, arXiv:1608.06993): three dense blocks on 32x32,
// 16x16 and 8x8 maps, each layer adding k feature maps to everything before it.
//
// Parameter counts (conv + BN affine + linear, 10 classes) against the paper's Table 2:
//   densenet-40-12      1,019,722   (1.0M)     densenet-bc-100-12    769,162   (0.8M)
//   densenet-100-12     6,979,642   (7.0M)     densenet-bc-250-24 15,324,406   (15.3M)
//   densenet-100-24    27,249,082   (27.2M)    densenet-bc-190-40 25,624,430   (25.6M)
#include "cnnzoo/models/densenet_cifar.hpp"

#include <cmath>

#include <tuple>
#include "cnnzoo/error.hpp"
#include "cnnzoo/nn/init.hpp"
#include "cnnzoo/ops/activation.hpp"
#include "cnnzoo/ops/dropout.hpp"
#include "cnnzoo/ops/pool.hpp"
#include "cnnzoo/ops/shape.hpp"

#include "models/paper.hpp"
#include "models/papers.hpp"

namespace cnnzoo::models::densenet_cifar {

namespace {

Var maybe_dropout(const Var& x, double p, bool training) {
  return p > 0.0 ? dropout(x, p, training, global_generator()) : x;
}

}  // namespace

DenseLayer::DenseLayer(int64_t in_channels, int64_t growth_rate, bool bottleneck, double drop_rate)
    : drop_rate(drop_rate) {
  norm1 = register_module("norm1", std::make_shared<nn::BatchNorm2d>(in_channels));
  if (bottleneck) {
    conv1 = register_module("conv1", nn::conv1x1(in_channels, 4 * growth_rate));
    norm2 = register_module("norm2", std::make_shared<nn::BatchNorm2d>(4 * growth_rate));
    conv2 = register_module("conv2", nn::conv3x3(4 * growth_rate, growth_rate));
  } else {
    conv1 = register_module("conv1", nn::conv3x3(in_channels, growth_rate));
  }
}

Var DenseLayer::forward(const Var& x) {
  Var h = maybe_dropout(conv1->forward(norm1->forward_relu(x)), drop_rate, is_training());
  if (conv2) h = maybe_dropout(conv2->forward(norm2->forward_relu(h)), drop_rate, is_training());
  return concat(std::vector<Var>{x, h});
}

Transition::Transition(int64_t in_channels, int64_t out_channels, double drop_rate)
    : drop_rate(drop_rate) {
  norm = register_module("norm", std::make_shared<nn::BatchNorm2d>(in_channels));
  conv = register_module("conv", nn::conv1x1(in_channels, out_channels));
  pool = register_module("pool", std::make_shared<nn::AvgPool2d>(2, 2));
}

Var Transition::forward(const Var& x) {
  Var h = maybe_dropout(conv->forward(norm->forward_relu(x)), drop_rate, is_training());
  return pool->forward(h);
}

DenseNet::DenseNet(const Config& c) {
  check(c.growth_rate > 0, "densenet: growth_rate must be positive");
  check(c.compression > 0.0 && c.compression <= 1.0, "densenet: compression must be in (0, 1]");
  check(c.drop_rate >= 0.0 && c.drop_rate < 1.0, "densenet: drop_rate must be in [0, 1)");
  // L = 3 blocks x n layers (x2 convs with bottlenecks) + stem + 2 transitions + classifier.
  const int64_t per_layer = c.bottleneck ? 2 : 1;
  check(c.depth > 4 && (c.depth - 4) % (3 * per_layer) == 0,
        "densenet: depth - 4 must be a positive multiple of " + std::to_string(3 * per_layer) +
            ", got depth " + std::to_string(c.depth));
  const int64_t n = (c.depth - 4) / (3 * per_layer);

  features = register_module("features", std::make_shared<nn::Sequential>());
  // The stem has 16 maps, or 2k for DenseNet-BC.
  int64_t channels = (c.bottleneck && c.compression < 1.0) ? 2 * c.growth_rate : 16;
  features->push_back("conv0", nn::conv3x3(c.in_channels, channels));
  for (int64_t b = 1; b <= 3; ++b) {
    auto block = std::make_shared<nn::Sequential>();
    for (int64_t l = 1; l <= n; ++l) {
      block->push_back(
          "denselayer" + std::to_string(l),
          std::make_shared<DenseLayer>(channels, c.growth_rate, c.bottleneck, c.drop_rate));
      channels += c.growth_rate;
    }
    features->push_back("denseblock" + std::to_string(b), block);
    if (b < 3) {
      int64_t out = static_cast<int64_t>(std::floor(c.compression * channels));
      features->push_back("transition" + std::to_string(b),
                          std::make_shared<Transition>(channels, out, c.drop_rate));
      channels = out;
    }
  }
  features->push_back("norm5", std::make_shared<nn::BatchNorm2d>(channels));
  classifier = register_module("classifier", std::make_shared<nn::Linear>(channels, c.num_classes));

  // He init with fan_out as the authors' Torch code (n = k*k*C_out); BN 1/0; zero linear bias.
  nn::init::kaiming_normal<nn::Conv2d>(*this, nn::init::FanMode::FanOut);
  nn::init::zero_bias<nn::Linear>(*this);
}

Var DenseNet::forward(const Var& x) {
  Var h = relu(features->forward(x));
  return classifier->forward(flatten(global_avg_pool2d(h)));
}

}  // namespace cnnzoo::models::densenet_cifar

namespace cnnzoo::models {

std::vector<ModelInfo> densenet_cifar_models() {
  using C = densenet_cifar::Config;
  const Paper paper{"Densely Connected Convolutional Networks", "Huang et al.", 2016, "1608.06993",
                    "densenet_cifar"};
  const auto options =
      Options<C>()
          .integer("depth", &C::depth, 7, 1000, "L: all weight layers")
          .integer("growth_rate", &C::growth_rate, 1, 1024, "k")
          .flag("bottleneck", &C::bottleneck, "B: a 1x1 conv to 4k before each 3x3")
          .real("compression", &C::compression, 0.01, 1.0, "C: theta of the transitions")
          .real("drop_rate", &C::drop_rate, 0.0, 0.99, "dropout after every conv");
  std::vector<ModelInfo> rows;
  for (const auto& [name, error, config] : std::vector<std::tuple<std::string, std::string, C>>{
           {"densenet-40-12", "5.24", {40, 12, false, 1.0}},
           {"densenet-100-12", "4.10", {100, 12, false, 1.0}},
           {"densenet-100-24", "3.74", {100, 24, false, 1.0}},
           {"densenet-bc-100-12", "4.51", {100, 12, true, 0.5}},
           {"densenet-bc-250-24", "3.62", {250, 24, true, 0.5}},
           {"densenet-bc-190-40", "3.46", {190, 40, true, 0.5}}})
    rows.push_back(model_row(paper, name, cifar_input(), error, options, config,
                             build_network<densenet_cifar::DenseNet, C>));
  return rows;
}

}  // namespace cnnzoo::models
