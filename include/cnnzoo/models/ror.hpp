// Residual Networks of Residual Networks (Zhang, Sun, Han, Yuan, Guo and Liu, "Residual
// Networks of Residual Networks: Multilevel Residual Networks", 2016, arXiv 1608.02908):
// RoR-3 on a wide ResNet, with stochastic depth on the final-level units.
#pragma once
#include "cnnzoo/models/preact_resnet.hpp"
#include "cnnzoo/models/stochastic_depth.hpp"

namespace cnnzoo::models {

// A WRN pre-activation unit (final level) whose residual branch is gated by stochastic
// depth; its shortcut (identity or the 1x1 projection) always runs.
class GatedPreActBlock : public PreActBlock, public GatedBlock {
 public:
  GatedPreActBlock(int64_t in_channels, int64_t out_channels, int64_t stride, double survival);
  Var forward(const Var& x) override;
  std::string type_name() const override { return "GatedPreActBlock"; }
  std::string extra_repr() const override;
};

// RoR-3: the final-level units in three groups (layer1..layer3); a middle-level shortcut over
// each group (middle1..middle3) and a root-level shortcut from the stem output to the end of
// the last group (root). Middle and root shortcuts change width (and resolution), so they are
// projections: 1x1 convolution with the group's stride (4 for the root) + BN.
class RoRWideResNet : public nn::Module {
 public:
  RoRWideResNet(int64_t in_channels, int64_t depth, int64_t widen_factor, double p_L,
                int64_t num_classes);
  Var forward(const Var& x) override;
  std::string type_name() const override { return "RoRWideResNet"; }
  std::shared_ptr<nn::Conv2d> conv1;
  std::shared_ptr<nn::Sequential> layer1, layer2, layer3;
  std::shared_ptr<nn::Sequential> middle1, middle2, middle3, root;
  std::shared_ptr<nn::BatchNorm2d> bn;
  std::shared_ptr<nn::Linear> fc;
};

// ror3-wrn58-4: options depth (6n+4, default 58), widen_factor (default 4), p_L (default 0.5).
struct RoRConfig {
  int64_t depth = 58;        // 6n + 4
  int64_t widen_factor = 4;  // k
  double p_L = 0.5;          // stochastic depth's last survival probability
};

nn::ModulePtr build_ror3_wrn(const ModelSpec& spec, const RoRConfig& config);

}  // namespace cnnzoo::models
