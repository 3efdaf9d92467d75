// CIFAR ResNets (He et al. 2015, arXiv 1512.03385, §4.2).
//
//   output map   32x32   16x16   8x8
//   layers       1+2n    2n      2n      then global average pool, 10-way fc
//   filters      16      32      64
//
// Shortcuts are identity except where the width doubles: option A subsamples (every other
// pixel) and appends zero channels, so it has no parameters. Exact counts: 269,722 (20),
// 464,154 (32), 658,586 (44), 853,018 (56), 1,727,962 (110), 19,421,274 (1202): the paper's
// 0.27M, 0.46M, 0.66M, 0.85M, 1.7M and 19.4M. Option B adds 2,752 parameters to every depth
// (two 1x1 projections + BN).
#include "cnnzoo/models/resnet_cifar.hpp"
#include "models/paper.hpp"
#include "models/papers.hpp"

namespace cnnzoo::models {

nn::ModulePtr build_resnet_cifar(const ModelSpec& spec, const ResNetCifarConfig& config) {
  const int64_t n = blocks_per_stage(spec, config.depth, 2, 2);
  const ShortcutType type = config.shortcut == "A"   ? ShortcutType::A
                            : config.shortcut == "B" ? ShortcutType::B
                                                     : ShortcutType::C;
  auto block = [type](int64_t in, int64_t out, int64_t stride, int64_t) -> nn::ModulePtr {
    return std::make_shared<BasicBlock>(in, out, stride, make_shortcut(type, in, out, stride));
  };
  return std::make_shared<CifarResNet>(spec.in_channels, std::array<int64_t, 3>{16, 32, 64}, n,
                                       spec.num_classes, block);
}

std::vector<ModelInfo> resnet_cifar_models() {
  using C = ResNetCifarConfig;
  const Paper paper{"Deep Residual Learning for Image Recognition", "He et al.", 2015, "1512.03385",
                    "resnet_cifar"};
  const auto options =
      Options<C>()
          .integer("depth", &C::depth, 8, 2000, "6n + 2")
          .choice("shortcut", &C::shortcut, {"A", "B", "C"},
                  "A: zero-padded identity; B: projections where the shape changes; C: all "
                  "projections");
  std::vector<ModelInfo> rows;
  for (auto [depth, error] : std::vector<std::pair<int64_t, const char*>>{
           {20, "8.75"}, {32, "7.51"}, {44, "7.17"}, {56, "6.97"}, {110, "6.43"}, {1202, "7.93"}})
    rows.push_back(model_row(paper, "resnet" + std::to_string(depth), cifar_input(), error, options,
                             C{depth, "A"}, build_resnet_cifar));
  return rows;
}

}  // namespace cnnzoo::models
