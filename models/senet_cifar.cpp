// SE-ResNets on CIFAR (Hu et al. 2017, arXiv 1709.01507).
//
// The paper's CIFAR experiments put SE modules into ResNet-110 and ResNet-164 unchanged
// otherwise, and compare with the pre-activation networks of He 2016 ("Identity Mappings";
// ResNet-110 6.37%, ResNet-164 5.46%): both are built here on those pre-activation units
// (basic for 110, bottleneck for 164; projections where the shape changes), not on the
// post-activation ResNet-110 of He 2015. Each unit adds 2C^2/r + C/r + C parameters (hidden
// width C/r, at least 1; for r = 16 the first stage of ResNet-110 has a one-unit bottleneck).
// Exact counts with r = 16: se-preact-resnet164 1,905,362 (base 1,703,258), se-resnet110
// 1,744,760 (base 1,730,522).
#include "cnnzoo/models/senet_cifar.hpp"

#include <algorithm>

#include "cnnzoo/ops/activation.hpp"
#include "cnnzoo/ops/arith.hpp"
#include "models/paper.hpp"
#include "models/papers.hpp"

namespace cnnzoo::models {

SqueezeExcitation::SqueezeExcitation(int64_t channels, int64_t reduction) {
  check(reduction >= 1, "SqueezeExcitation: reduction must be at least 1");
  int64_t hidden = std::max<int64_t>(1, channels / reduction);
  fc1 = register_module("fc1", std::make_shared<nn::Linear>(channels, hidden));
  fc2 = register_module("fc2", std::make_shared<nn::Linear>(hidden, channels));
}

Var SqueezeExcitation::forward(const Var& x) {
  Var s = sigmoid(fc2->forward(relu(fc1->forward(global_pool(x)))));
  return mul_channel(x, s);
}

SEPreActBlock::SEPreActBlock(int64_t in_channels, int64_t out_channels, int64_t stride,
                             bool activate_shortcut, int64_t reduction)
    : PreActBlock(in_channels, out_channels, stride, 0.0, activate_shortcut) {
  se = register_module("se", std::make_shared<SqueezeExcitation>(out_channels, reduction));
}

Var SEPreActBlock::residual(const Var& a) {
  return se->forward(PreActBlock::residual(a));
}

SEPreActBottleneck::SEPreActBottleneck(int64_t in_channels, int64_t out_channels, int64_t stride,
                                       int64_t reduction)
    : PreActBottleneck(in_channels, out_channels, stride) {
  se = register_module("se", std::make_shared<SqueezeExcitation>(out_channels, reduction));
}

Var SEPreActBottleneck::residual(const Var& a) {
  return se->forward(PreActBottleneck::residual(a));
}

nn::ModulePtr build_se_preact_resnet164(const ModelSpec& spec, const SENetCifarConfig& config) {
  const int64_t r = config.se_reduction;
  auto block = [r](int64_t in, int64_t out, int64_t stride, int64_t) -> nn::ModulePtr {
    return std::make_shared<SEPreActBottleneck>(in, out, stride, r);
  };
  return std::make_shared<PreActCifarResNet>(
      spec.in_channels, 16, std::array<int64_t, 3>{64, 128, 256}, 18, spec.num_classes, block);
}

nn::ModulePtr build_se_resnet110(const ModelSpec& spec, const SENetCifarConfig& config) {
  const int64_t r = config.se_reduction;
  // As in preact-resnet110, the unit after the stem takes the stem's activation on both paths.
  auto block = [r](int64_t in, int64_t out, int64_t stride, int64_t l) -> nn::ModulePtr {
    return std::make_shared<SEPreActBlock>(in, out, stride, l == 1, r);
  };
  return std::make_shared<PreActCifarResNet>(
      spec.in_channels, 16, std::array<int64_t, 3>{16, 32, 64}, 18, spec.num_classes, block);
}

std::vector<ModelInfo> senet_cifar_models() {
  using C = SENetCifarConfig;
  const Paper paper{"Squeeze-and-Excitation Networks", "Hu et al.", 2017, "1709.01507",
                    "senet_cifar"};
  const auto options = Options<C>().integer("se_reduction", &C::se_reduction, 1, 1024, "r");
  return {
      model_row(paper, "se-preact-resnet164", cifar_input(), "4.39", options, C{},
                build_se_preact_resnet164),
      model_row(paper, "se-resnet110", cifar_input(), "5.21", options, C{}, build_se_resnet110)};
}

}  // namespace cnnzoo::models
