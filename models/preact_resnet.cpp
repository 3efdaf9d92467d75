// Pre-activation ResNets (He et al. 2016, arXiv 1603.05027).
//
//   preact-resnet110   basic units 6n+2,      n = 18,  16/32/64 channels        1.7M
//   preact-resnet164   bottleneck units 9n+2, n = 18,  64/128/256 (width/4 inside)  1.7M
//   preact-resnet1001  bottleneck units 9n+2, n = 111                           10.2M
//
// Every unit that changes the shape (stages 2 and 3, and for bottlenecks also the 16 -> 64
// unit after the stem) uses a 1x1 projection fed by the shared BN-ReLU; all other shortcuts
// are identities. The stem conv has no BN-ReLU of its own: the first unit's pre-activation
// serves as the paper's activation "right after conv1", on both paths.
//
// Exact counts: 1,730,522 (110), 1,703,258 (164) and 10,327,706 (1001). The 1001-layer count
// is 1.3% above the paper's rounded 10.2M; that figure is the same layer plan counted without
// the BN parameters (conv and fc weights alone: 10,178,480).
#include "cnnzoo/models/preact_resnet.hpp"

#include "cnnzoo/ops/activation.hpp"
#include "cnnzoo/ops/arith.hpp"
#include "models/paper.hpp"
#include "models/papers.hpp"

namespace cnnzoo::models {

// ---- basic unit --------------------------------------------------------------------------

PreActBlock::PreActBlock(int64_t in_channels, int64_t out_channels, int64_t stride,
                         double drop_rate, bool activate_shortcut)
    : activate_shortcut(activate_shortcut) {
  bn1 = register_module("bn1", std::make_shared<nn::BatchNorm2d>(in_channels));
  conv1 = register_module("conv1", conv3x3(in_channels, out_channels, stride));
  bn2 = register_module("bn2", std::make_shared<nn::BatchNorm2d>(out_channels));
  if (drop_rate > 0.0)
    dropout = register_module("dropout", std::make_shared<nn::Dropout>(drop_rate));
  conv2 = register_module("conv2", conv3x3(out_channels, out_channels));
  if (stride != 1 || in_channels != out_channels)
    shortcut_conv = register_module("shortcut", conv1x1(in_channels, out_channels, stride));
}

Var PreActBlock::preactivate(const Var& x) {
  return bn1->forward_relu(x);
}

Var PreActBlock::residual(const Var& a) {
  Var h = nn::conv_bn_relu(*conv1, *bn2, a);
  if (dropout) h = dropout->forward(h);
  return conv2->forward(h);
}

Var PreActBlock::shortcut(const Var& x, const Var& a) {
  if (shortcut_conv) return shortcut_conv->forward(a);
  return activate_shortcut ? a : x;
}

Var PreActBlock::forward(const Var& x) {
  Var a = preactivate(x);
  return add(residual(a), shortcut(x, a));
}

// ---- bottleneck unit ---------------------------------------------------------------------

PreActBottleneck::PreActBottleneck(int64_t in_channels, int64_t out_channels, int64_t stride) {
  check(out_channels % 4 == 0, "PreActBottleneck: out_channels must be a multiple of 4");
  int64_t width = out_channels / 4;
  bn1 = register_module("bn1", std::make_shared<nn::BatchNorm2d>(in_channels));
  conv1 = register_module("conv1", conv1x1(in_channels, width, stride));
  bn2 = register_module("bn2", std::make_shared<nn::BatchNorm2d>(width));
  conv2 = register_module("conv2", conv3x3(width, width));
  bn3 = register_module("bn3", std::make_shared<nn::BatchNorm2d>(width));
  conv3 = register_module("conv3", conv1x1(width, out_channels));
  if (stride != 1 || in_channels != out_channels)
    shortcut_conv = register_module("shortcut", conv1x1(in_channels, out_channels, stride));
}

Var PreActBottleneck::preactivate(const Var& x) {
  return bn1->forward_relu(x);
}

Var PreActBottleneck::residual(const Var& a) {
  Var h = conv1->forward(a);
  h = conv2->forward(bn2->forward_relu(h));
  return conv3->forward(bn3->forward_relu(h));
}

Var PreActBottleneck::shortcut(const Var& x, const Var& a) {
  return shortcut_conv ? shortcut_conv->forward(a) : x;
}

Var PreActBottleneck::forward(const Var& x) {
  Var a = preactivate(x);
  return add(residual(a), shortcut(x, a));
}

// ---- body --------------------------------------------------------------------------------

PreActCifarResNet::PreActCifarResNet(int64_t in_channels, int64_t stem, std::array<int64_t, 3> w,
                                     int64_t n, int64_t num_classes, const BlockFactory& block) {
  conv1 = register_module("conv1", conv3x3(in_channels, stem));
  layer1 = register_module("layer1", make_stage(stem, w[0], n, 1, 1, block));
  layer2 = register_module("layer2", make_stage(w[0], w[1], n, 2, n + 1, block));
  layer3 = register_module("layer3", make_stage(w[1], w[2], n, 2, 2 * n + 1, block));
  bn = register_module("bn", std::make_shared<nn::BatchNorm2d>(w[2]));
  fc = register_module("fc", std::make_shared<nn::Linear>(w[2], num_classes));
  init_he(*this);
}

Var PreActCifarResNet::forward(const Var& x) {
  Var h = layer3->forward(layer2->forward(layer1->forward(conv1->forward(x))));
  return fc->forward(global_pool(bn->forward_relu(h)));
}

// ---- builders ----------------------------------------------------------------------------

nn::ModulePtr build_preact_resnet_basic(const ModelSpec& spec, int64_t depth) {
  int64_t n = blocks_per_stage(spec, depth, 2, 2);
  // The first unit (16 -> 16, identity) takes the stem's activation on both paths.
  auto block = [](int64_t in, int64_t out, int64_t stride, int64_t l) -> nn::ModulePtr {
    return std::make_shared<PreActBlock>(in, out, stride, 0.0, l == 1);
  };
  return std::make_shared<PreActCifarResNet>(
      spec.in_channels, 16, std::array<int64_t, 3>{16, 32, 64}, n, spec.num_classes, block);
}

nn::ModulePtr build_preact_resnet_bottleneck(const ModelSpec& spec, int64_t depth) {
  int64_t n = blocks_per_stage(spec, depth, 3, 2);
  auto block = [](int64_t in, int64_t out, int64_t stride, int64_t) -> nn::ModulePtr {
    return std::make_shared<PreActBottleneck>(in, out, stride);
  };
  return std::make_shared<PreActCifarResNet>(
      spec.in_channels, 16, std::array<int64_t, 3>{64, 128, 256}, n, spec.num_classes, block);
}

nn::ModulePtr build_preact_resnet(const ModelSpec& spec, const PreActResNetConfig& config) {
  return config.bottleneck ? build_preact_resnet_bottleneck(spec, config.depth)
                           : build_preact_resnet_basic(spec, config.depth);
}

std::vector<ModelInfo> preact_resnet_models() {
  using C = PreActResNetConfig;
  const Paper paper{"Identity Mappings in Deep Residual Networks", "He et al.", 2016, "1603.05027",
                    "preact_resnet"};
  const auto options = Options<C>().integer("depth", &C::depth, 8, 2000,
                                            "6n + 2 (basic units) or 9n + 2 (bottleneck units)");
  return {model_row(paper, "preact-resnet110", cifar_input(), "6.37", options, C{110, false},
                    build_preact_resnet),
          model_row(paper, "preact-resnet164", cifar_input(), "5.46", options, C{164, true},
                    build_preact_resnet),
          model_row(paper, "preact-resnet1001", cifar_input(), "4.62", options, C{1001, true},
                    build_preact_resnet)};
}

}  // namespace cnnzoo::models
