// ResNeXt-29 for CIFAR (Xie et al. 2016, arXiv:1611.05431, Section 5.3 / Table 7): three
// stages of three bottleneck blocks; in stage m = 1, 2, 4 the grouped 3x3 has C * d * m
// channels and the block outputs 256 * m.
//
// Parameter counts (conv + BN affine + linear, 10 classes) against the paper:
//   resnext29-2x64d    9,130,314  (paper 9.1M)
//   resnext29-8x64d   34,426,698  (paper 34.4M)
//   resnext29-16x64d  68,155,210  (paper 68.1M)
#include "cnnzoo/models/resnext_cifar.hpp"

#include <tuple>
#include "cnnzoo/error.hpp"
#include "cnnzoo/nn/init.hpp"
#include "cnnzoo/ops/activation.hpp"
#include "cnnzoo/ops/arith.hpp"
#include "cnnzoo/ops/pool.hpp"
#include "cnnzoo/ops/shape.hpp"

#include "models/paper.hpp"
#include "models/papers.hpp"

namespace cnnzoo::models::resnext_cifar {

namespace {

std::shared_ptr<nn::BatchNorm2d> bn(int64_t c) {
  return std::make_shared<nn::BatchNorm2d>(c);
}

}  // namespace

Bottleneck::Bottleneck(int64_t in_channels, int64_t width, int64_t out_channels,
                       int64_t cardinality, int64_t stride) {
  conv1 = register_module("conv1", nn::conv1x1(in_channels, width));
  bn1 = register_module("bn1", bn(width));
  conv2 = register_module("conv2", nn::conv3x3(width, width, stride, cardinality));
  bn2 = register_module("bn2", bn(width));
  conv3 = register_module("conv3", nn::conv1x1(width, out_channels));
  bn3 = register_module("bn3", bn(out_channels));
  if (stride != 1 || in_channels != out_channels) {
    downsample = register_module("downsample", std::make_shared<nn::Sequential>());
    downsample->push_back(nn::conv1x1(in_channels, out_channels, stride));
    downsample->push_back(bn(out_channels));
  }
}

Var Bottleneck::forward(const Var& x) {
  Var h = nn::conv_bn_relu(*conv1, *bn1, x);
  h = nn::conv_bn_relu(*conv2, *bn2, h);
  h = nn::conv_bn(*conv3, *bn3, h);
  return relu(add(h, downsample ? downsample->forward(x) : x));
}

ResNeXt::ResNeXt(const Config& c) {
  check(c.depth > 2 && (c.depth - 2) % 9 == 0,
        "resnext: depth must be 9n + 2, got " + std::to_string(c.depth));
  check(c.cardinality > 0 && c.bottleneck_width > 0,
        "resnext: cardinality and bottleneck_width must be positive");
  const int64_t n = (c.depth - 2) / 9;
  conv1 = register_module("conv1", nn::conv3x3(c.in_channels, 64));
  bn1 = register_module("bn1", bn(64));
  int64_t channels = 64;
  std::shared_ptr<nn::Sequential>* stages[3] = {&layer1, &layer2, &layer3};
  for (int64_t s = 0; s < 3; ++s) {
    const int64_t m = int64_t(1) << s;
    const int64_t width = c.cardinality * c.bottleneck_width * m;
    const int64_t out = 256 * m;
    auto stage = std::make_shared<nn::Sequential>();
    for (int64_t b = 0; b < n; ++b) {
      const int64_t stride = (s > 0 && b == 0) ? 2 : 1;
      stage->push_back(std::make_shared<Bottleneck>(channels, width, out, c.cardinality, stride));
      channels = out;
    }
    *stages[s] = register_module("layer" + std::to_string(s + 1), stage);
  }
  fc = register_module("fc", std::make_shared<nn::Linear>(channels, c.num_classes));

  // He init, fan_out, as the authors' Torch code; BN 1/0; zero linear bias.
  nn::init::kaiming_normal<nn::Conv2d>(*this, nn::init::FanMode::FanOut);
  nn::init::zero_bias<nn::Linear>(*this);
}

Var ResNeXt::forward(const Var& x) {
  Var h = nn::conv_bn_relu(*conv1, *bn1, x);
  h = layer3->forward(layer2->forward(layer1->forward(h)));
  return fc->forward(flatten(global_avg_pool2d(h)));
}

}  // namespace cnnzoo::models::resnext_cifar

namespace cnnzoo::models {

std::vector<ModelInfo> resnext_cifar_models() {
  using C = resnext_cifar::Config;
  const Paper paper{"Aggregated Residual Transformations for Deep Neural Networks", "Xie et al.",
                    2016, "1611.05431", "resnext_cifar"};
  const auto options =
      Options<C>()
          .integer("cardinality", &C::cardinality, 1, 1024, "C: groups of the 3x3 conv")
          .integer("bottleneck_width", &C::bottleneck_width, 1, 4096, "d: width of one group")
          .integer("depth", &C::depth, 11, 2000, "9n + 2");
  // The paper shows ResNeXt-29 2x64d only in a figure (no tabulated error).
  std::vector<ModelInfo> rows;
  for (const auto& [name, error, cardinality] :
       std::vector<std::tuple<std::string, std::string, int64_t>>{{"resnext29-2x64d", "", 2},
                                                                  {"resnext29-8x64d", "3.65", 8},
                                                                  {"resnext29-16x64d", "3.58", 16}})
    rows.push_back(model_row(paper, name, cifar_input(), error, options, C{29, cardinality, 64},
                             build_network<resnext_cifar::ResNeXt, C>));
  return rows;
}

}  // namespace cnnzoo::models
