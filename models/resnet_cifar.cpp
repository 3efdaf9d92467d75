// CIFAR ResNets (He et al. 2015, arXiv 1512.03385, §4.2).
//
//   output map   32x32   16x16   8x8
//   layers       1+2n    2n      2n      then global average pool, 10-way fc
//   filters      16      32      64
//
// Shortcuts are identity except where the width doubles: option A subsamples and appends
// zero channels (no parameters), so the counts are 0.27M (20), 0.46M (32), 0.66M (44),
// 0.85M (56), 1.7M (110) and 19.4M (1202), as in the paper's Tables 6/7.
#include "models/resnet_cifar.hpp"

namespace cnnzoo::models {

nn::ModulePtr build_resnet_cifar(const ModelSpec& spec, int64_t depth) {
  int64_t n = blocks_per_stage(spec, depth, 2, 2);
  ShortcutType type = parse_shortcut(spec);
  auto block = [type](int64_t in, int64_t out, int64_t stride, int64_t) -> nn::ModulePtr {
    return std::make_shared<BasicBlock>(in, out, stride, make_shortcut(type, in, out, stride));
  };
  return std::make_shared<CifarResNet>(spec.in_channels, std::array<int64_t, 3>{16, 32, 64}, n,
                                       spec.num_classes, block);
}

}  // namespace cnnzoo::models
