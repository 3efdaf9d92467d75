// Wide ResNet (Zagoruyko and Komodakis 2016, arXiv 1605.07146), Table 1:
//
//   group   output   block type = B(3,3)
//   conv1   32x32    [3x3, 16]
//   conv2   32x32    [3x3, 16k; 3x3, 16k] x N
//   conv3   16x16    [3x3, 32k; 3x3, 32k] x N
//   conv4   8x8      [3x3, 64k; 3x3, 64k] x N
//   avg-pool 8x8, fc
//
// with N = (depth - 4) / 6 as in the reference code. Units are the pre-activation basic units of He
// 2016 (PreActBlock); as in the reference wide-resnet.lua every unit whose width or stride changes
// (the first of each group) takes a 1x1 projection fed by its BN-ReLU, the others an identity.
// Exact counts: wrn-16-4 2,748,890; wrn-16-8 10,961,370; wrn-28-10 36,479,194; wrn-40-4 8,949,210;
// wrn-40-10 55,841,754 (the paper's 2.7M, 11.0M, 36.5M, 8.9M, 55.8M).
#include "cnnzoo/models/wide_resnet.hpp"

#include <tuple>

#include "models/paper.hpp"
#include "models/papers.hpp"

namespace cnnzoo::models {

nn::ModulePtr build_wide_resnet(const ModelSpec& spec, const WideResNetConfig& config) {
  const int64_t k = config.widen_factor;
  const double drop_rate = config.drop_rate;
  int64_t n = blocks_per_stage(spec, config.depth, 2, 4);
  auto block = [drop_rate](int64_t in, int64_t out, int64_t stride, int64_t) -> nn::ModulePtr {
    return std::make_shared<PreActBlock>(in, out, stride, drop_rate);
  };
  return std::make_shared<PreActCifarResNet>(spec.in_channels, 16,
                                             std::array<int64_t, 3>{16 * k, 32 * k, 64 * k}, n,
                                             spec.num_classes, block);
}

std::vector<ModelInfo> wide_resnet_models() {
  using C = WideResNetConfig;
  const Paper paper{"Wide Residual Networks", "Zagoruyko & Komodakis", 2016, "1605.07146",
                    "wide_resnet"};
  const auto options =
      Options<C>()
          .integer("depth", &C::depth, 10, 1000, "6n + 4")
          .integer("widen_factor", &C::widen_factor, 1, 64, "k")
          .real("drop_rate", &C::drop_rate, 0.0, 0.99, "dropout between the two convs of a unit");
  std::vector<ModelInfo> rows;
  for (auto [depth, k, error] : std::vector<std::tuple<int64_t, int64_t, const char*>>{
           {16, 4, "5.02"}, {16, 8, "4.27"}, {28, 10, "4.00"}, {40, 4, "4.53"}, {40, 10, ""}})
    rows.push_back(model_row(paper, "wrn-" + std::to_string(depth) + "-" + std::to_string(k),
                             cifar_input(), error, options, C{depth, k, 0.0}, build_wide_resnet));
  return rows;
}

}  // namespace cnnzoo::models
