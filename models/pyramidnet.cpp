// PyramidNet (Han et al. 2016, arXiv:1610.02915): the width grows by alpha / N in every unit
// instead of doubling at stage boundaries; shortcuts are parameter-free.
//
// Widths use the paper's floor (Eq. 2); the authors' Torch/PyTorch code rounds instead, which
// differs for alpha = 48, 84, 200 but not 270. Exact counts (conv + BN affine + linear, 10
// classes) against the paper's Table:
//   pyramidnet-110-a48              1,739,730  paper 1.7M  (round would give 1.77M)
//   pyramidnet-110-a84              3,855,054  paper 3.8M  (+1.4%: the paper truncates; round
//                                                           gives 3.90M)
//   pyramidnet-110-a270            28,485,477  paper 28.3M (+0.7%: floor and round agree here;
//                                                           conv weights alone are 28.43M, so
//                                                           the paper's figure is not
//                                                           reachable from this layout)
//   pyramidnet-272-a200-bottleneck 26,049,562  paper 26.0M (round would give 26.21M)
#include "cnnzoo/models/pyramidnet.hpp"

#include <cmath>

#include <tuple>
#include "cnnzoo/error.hpp"
#include "cnnzoo/nn/init.hpp"
#include "cnnzoo/ops/activation.hpp"
#include "cnnzoo/ops/arith.hpp"
#include "cnnzoo/ops/pool.hpp"
#include "cnnzoo/ops/shape.hpp"

#include "models/paper.hpp"
#include "models/papers.hpp"

namespace cnnzoo::models::pyramidnet {

namespace {

std::shared_ptr<nn::BatchNorm2d> bn(int64_t c) {
  return std::make_shared<nn::BatchNorm2d>(c);
}

}  // namespace

int64_t units_per_stage(const Config& c) {
  const int64_t per_unit = c.bottleneck ? 9 : 6;
  check(c.depth > 2 && (c.depth - 2) % per_unit == 0, "pyramidnet: depth must be " +
                                                          std::to_string(per_unit) + "N + 2, got " +
                                                          std::to_string(c.depth));
  return (c.depth - 2) / per_unit;
}

std::vector<int64_t> unit_widths(const Config& c) {
  check(c.alpha >= 0, "pyramidnet: alpha must be non-negative");
  const int64_t total = 3 * units_per_stage(c);
  std::vector<int64_t> widths;
  // Computed from k directly (not by accumulating alpha / N) so that exact integers such as
  // 16 + 150 * 90 / 90 do not fall to 165.99.
  for (int64_t k = 1; k <= total; ++k)
    widths.push_back(static_cast<int64_t>(std::floor(16.0 + c.alpha * k / total + 1e-9)));
  return widths;
}

Unit::Unit(int64_t in_channels, int64_t width, int64_t stride, bool bottleneck)
    : in_channels(in_channels), out_channels(bottleneck ? 4 * width : width), stride(stride) {
  check(out_channels >= in_channels,
        "pyramidnet: a unit cannot narrow the network (zero-padded shortcut)");
  bn1 = register_module("bn1", bn(in_channels));
  if (bottleneck) {
    conv1 = register_module("conv1", nn::conv1x1(in_channels, width));
    bn2 = register_module("bn2", bn(width));
    conv2 = register_module("conv2", nn::conv3x3(width, width, stride));
    bn3 = register_module("bn3", bn(width));
    conv3 = register_module("conv3", nn::conv1x1(width, 4 * width));
    bn4 = register_module("bn4", bn(4 * width));
  } else {
    conv1 = register_module("conv1", nn::conv3x3(in_channels, width, stride));
    bn2 = register_module("bn2", bn(width));
    conv2 = register_module("conv2", nn::conv3x3(width, width));
    bn3 = register_module("bn3", bn(width));
  }
}

Var Unit::residual(const Var& x) {
  Var h = conv1->forward(bn1->forward(x));
  h = conv2->forward(bn2->forward_relu(h));
  h = bn3->forward(h);
  if (conv3) h = nn::conv_bn(*conv3, *bn4, relu(h));
  return h;
}

Var Unit::shortcut(const Var& x) const {
  Var s = x;
  if (stride != 1) {
    Pool2dOptions o;
    o.kernel_size = stride;
    s = avg_pool2d(s, o);
  }
  if (out_channels > in_channels) s = pad_channels(s, 0, out_channels - in_channels);
  return s;
}

Var Unit::forward(const Var& x) {
  return add(residual(x), shortcut(x));
}

PyramidNet::PyramidNet(const Config& c, const UnitFactory& factory) {
  const int64_t n = units_per_stage(c);
  const std::vector<int64_t> widths = unit_widths(c);
  conv1 = register_module("conv1", nn::conv3x3(c.in_channels, 16));
  bn1 = register_module("bn1", bn(16));
  int64_t channels = 16;
  std::shared_ptr<nn::Sequential>* stages[3] = {&layer1, &layer2, &layer3};
  for (int64_t s = 0; s < 3; ++s) {
    auto stage = std::make_shared<nn::Sequential>();
    for (int64_t i = 0; i < n; ++i) {
      const int64_t k = s * n + i + 1;
      const int64_t stride = (s > 0 && i == 0) ? 2 : 1;
      nn::ModulePtr unit;
      if (factory) {
        unit = factory(k, channels, widths[k - 1], stride);
      } else {
        unit = std::make_shared<Unit>(channels, widths[k - 1], stride, c.bottleneck);
      }
      channels = c.bottleneck ? 4 * widths[k - 1] : widths[k - 1];
      stage->push_back(unit);
    }
    *stages[s] = register_module("layer" + std::to_string(s + 1), stage);
  }
  bn_final = register_module("bn_final", bn(channels));
  fc = register_module("fc", std::make_shared<nn::Linear>(channels, c.num_classes));
  init_weights(*this);
}

Var PyramidNet::forward(const Var& x) {
  Var h = nn::conv_bn(*conv1, *bn1, x);
  h = layer3->forward(layer2->forward(layer1->forward(h)));
  h = bn_final->forward_relu(h);
  return fc->forward(flatten(global_avg_pool2d(h)));
}

void init_weights(nn::Module& m) {
  nn::init::kaiming_normal<nn::Conv2d>(m, nn::init::FanMode::FanOut);
  nn::init::zero_bias<nn::Linear>(m);
}

}  // namespace cnnzoo::models::pyramidnet

namespace cnnzoo::models {

std::vector<ModelInfo> pyramidnet_models() {
  using C = pyramidnet::Config;
  const Paper paper{"Deep Pyramidal Residual Networks", "Han et al.", 2016, "1610.02915",
                    "pyramidnet"};
  const auto options = Options<C>()
                           .integer("depth", &C::depth, 8, 2000, "6N + 2, or 9N + 2 (bottleneck)")
                           .real("alpha", &C::alpha, 0.0, 10000.0, "total widening")
                           .flag("bottleneck", &C::bottleneck, "1x1-3x3-1x1 units");
  std::vector<ModelInfo> rows;
  for (const auto& [name, error, config] : std::vector<std::tuple<std::string, std::string, C>>{
           {"pyramidnet-110-a48", "4.58", {110, 48, false}},
           {"pyramidnet-110-a84", "4.26", {110, 84, false}},
           {"pyramidnet-110-a270", "3.77", {110, 270, false}},
           {"pyramidnet-272-a200-bottleneck", "3.31", {272, 200, true}}})
    rows.push_back(model_row(paper, name, cifar_input(), error, options, config,
                             build_network<pyramidnet::PyramidNet, C>));
  return rows;
}

}  // namespace cnnzoo::models
