// RoR-3-WRN58-4+SD (Zhang et al. 2016, arXiv 1608.02908).
//
//   conv1 3x3, 16 --------------------------------------------------------- root (1x1/4, 256)
//     layer1: 9 WRN units, 64 wide, 32x32   + middle1 (1x1, 64)                  |
//     layer2: 9 WRN units, 128 wide, 16x16  + middle2 (1x1/2, 128)               |
//     layer3: 9 WRN units, 256 wide, 8x8    + middle3 (1x1/2, 256)  + <----------+
//   BN-ReLU, global average pool, fc
//
// Levels: the root-level shortcut spans the three groups, a middle-level shortcut spans each
// group, and the final-level shortcuts are those of the WRN units (identity, or the 1x1
// projection of the unit that opens a group). The paper uses projection (type B) shortcuts at
// the root and middle levels, where every shortcut changes the dimensions; we read type B as
// in He et al. 2015 (1x1 convolution + BN). Stochastic depth gates only the final-level
// residual branches, with the linear rule p_l = 1 - (l/27)(1 - p_L), l = 1..27; no shortcut is
// ever dropped. Count: 13,646,938 (WRN-58-4: 13,599,450; middle and root projections with
// their BN: 47,488), the paper's 13.6M.
#include "cnnzoo/models/ror.hpp"

#include <sstream>

#include "cnnzoo/ops/activation.hpp"
#include "cnnzoo/ops/arith.hpp"
#include "models/paper.hpp"
#include "models/papers.hpp"

namespace cnnzoo::models {

GatedPreActBlock::GatedPreActBlock(int64_t in_channels, int64_t out_channels, int64_t stride,
                                   double survival)
    : PreActBlock(in_channels, out_channels, stride) {
  gate.set_survival(survival);
}

Var GatedPreActBlock::forward(const Var& x) {
  bool training = is_training();
  if (shares_preactivation()) {
    // The BN-ReLU feeds the shortcut too, so it runs even when the branch is dropped.
    Var a = preactivate(x);
    return gated_residual(gate, training, shortcut(x, a), [&] { return residual(a); });
  }
  return gated_residual(gate, training, x, [&] { return residual(preactivate(x)); });
}

std::string GatedPreActBlock::extra_repr() const {
  std::ostringstream s;
  s << "survival=" << gate.survival();
  return s.str();
}

RoRWideResNet::RoRWideResNet(int64_t in_channels, int64_t depth, int64_t k, double p_L,
                             int64_t num_classes) {
  check(depth >= 10 && (depth - 4) % 6 == 0, "RoR-WRN: depth must be 6n+4");
  int64_t n = (depth - 4) / 6;
  std::array<int64_t, 3> w{16 * k, 32 * k, 64 * k};
  const BlockFactory block = linear_decay_blocks(3 * n, p_L, make_gated<GatedPreActBlock>);
  conv1 = register_module("conv1", conv3x3(in_channels, 16));
  layer1 = register_module("layer1", make_stage(16, w[0], n, 1, 1, block));
  middle1 = register_module("middle1", projection_shortcut(16, w[0], 1));
  layer2 = register_module("layer2", make_stage(w[0], w[1], n, 2, n + 1, block));
  middle2 = register_module("middle2", projection_shortcut(w[0], w[1], 2));
  layer3 = register_module("layer3", make_stage(w[1], w[2], n, 2, 2 * n + 1, block));
  middle3 = register_module("middle3", projection_shortcut(w[1], w[2], 2));
  root = register_module("root", projection_shortcut(16, w[2], 4));
  bn = register_module("bn", std::make_shared<nn::BatchNorm2d>(w[2]));
  fc = register_module("fc", std::make_shared<nn::Linear>(w[2], num_classes));
  init_he(*this);
}

Var RoRWideResNet::forward(const Var& x) {
  Var h0 = conv1->forward(x);
  Var h1 = add(layer1->forward(h0), middle1->forward(h0));
  Var h2 = add(layer2->forward(h1), middle2->forward(h1));
  Var h3 = add(add(layer3->forward(h2), middle3->forward(h2)), root->forward(h0));
  return fc->forward(global_pool(bn->forward_relu(h3)));
}

nn::ModulePtr build_ror3_wrn(const ModelSpec& spec, const RoRConfig& c) {
  blocks_per_stage(spec, c.depth, 2, 4);  // validates 6n+4 with the model's name in the error
  return std::make_shared<RoRWideResNet>(spec.in_channels, c.depth, c.widen_factor, c.p_L,
                                         spec.num_classes);
}

std::vector<ModelInfo> ror_models() {
  using C = RoRConfig;
  const Paper paper{"Residual Networks of Residual Networks: Multilevel Residual Networks",
                    "Zhang et al.", 2016, "1608.02908", "ror"};
  const auto options =
      Options<C>()
          .integer("depth", &C::depth, 10, 1000, "6n + 4")
          .integer("widen_factor", &C::widen_factor, 1, 64, "k")
          .real("p_L", &C::p_L, 1e-6, 1.0, "stochastic depth's last survival probability");
  return {model_row(paper, "ror3-wrn58-4", cifar_input(), "3.77", options, C{}, build_ror3_wrn)};
}

}  // namespace cnnzoo::models
