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
