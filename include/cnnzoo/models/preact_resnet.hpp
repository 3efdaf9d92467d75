// Pre-activation ResNets of He, Zhang, Ren and Sun, "Identity Mappings in Deep Residual
// Networks" (2016, arXiv 1603.05027): BN-ReLU-conv residual units with a clean identity path.
#pragma once
#include <array>

#include "cnnzoo/models/resnet_blocks.hpp"

namespace cnnzoo::models {

// Pre-activation basic unit (Fig. 4e of the paper): BN-ReLU-conv3x3(stride)-BN-ReLU-
// [dropout]-conv3x3, added to the shortcut, nothing after the sum. Where the shape changes,
// the BN-ReLU is shared by both paths and the shortcut is a 1x1 convolution (stride) without
// BN, as in the reference code (resnet-1k-layers, and wide-resnet.lua for WRN, which puts the
// optional dropout between the two convolutions). With activate_shortcut an identity
// shortcut also carries the activated input: the paper does this for the unit right after
// the stem conv ("the first activation right after conv1 and before splitting").
class PreActBlock : public nn::Module {
 public:
  PreActBlock(int64_t in_channels, int64_t out_channels, int64_t stride, double drop_rate = 0.0,
              bool activate_shortcut = false);
  Var forward(const Var& x) override;
  std::string type_name() const override { return "PreActBlock"; }
  Var preactivate(const Var& x);             // ReLU(BN(x))
  virtual Var residual(const Var& a);        // F from the pre-activated input a
  Var shortcut(const Var& x, const Var& a);  // x, a, or the projection of a
  // True when the shortcut reads the activated input (so BN-ReLU runs even without F).
  bool shares_preactivation() const { return shortcut_conv || activate_shortcut; }
  std::shared_ptr<nn::BatchNorm2d> bn1, bn2;
  std::shared_ptr<nn::Conv2d> conv1, conv2;
  std::shared_ptr<nn::Dropout> dropout;       // null unless drop_rate > 0
  std::shared_ptr<nn::Conv2d> shortcut_conv;  // registered as "shortcut"; null for identity
  bool activate_shortcut;
};

// Pre-activation bottleneck unit (Fig. 4e with the 1x1-3x3-1x1 bottleneck of He 2015):
// BN-ReLU-conv1x1(stride) -> width/4, BN-ReLU-conv3x3, BN-ReLU-conv1x1 -> width. The stride
// sits on the first 1x1, as in the reference code resnet-pre-act.lua.
class PreActBottleneck : public nn::Module {
 public:
  PreActBottleneck(int64_t in_channels, int64_t out_channels, int64_t stride);
  Var forward(const Var& x) override;
  std::string type_name() const override { return "PreActBottleneck"; }
  Var preactivate(const Var& x);
  virtual Var residual(const Var& a);
  Var shortcut(const Var& x, const Var& a);
  std::shared_ptr<nn::BatchNorm2d> bn1, bn2, bn3;
  std::shared_ptr<nn::Conv2d> conv1, conv2, conv3;
  std::shared_ptr<nn::Conv2d> shortcut_conv;  // registered as "shortcut"
};

// The pre-activation CIFAR body: a lone conv3x3 stem (its BN-ReLU is the first unit's
// pre-activation), three stages of n units (layer1..layer3), a final BN-ReLU (`bn`) before
// global average pooling, a plain linear classifier.
class PreActCifarResNet : public nn::Module {
 public:
  PreActCifarResNet(int64_t in_channels, int64_t stem_channels, std::array<int64_t, 3> widths,
                    int64_t n, int64_t num_classes, const BlockFactory& block);
  Var forward(const Var& x) override;
  std::string type_name() const override { return "PreActCifarResNet"; }
  std::shared_ptr<nn::Conv2d> conv1;
  std::shared_ptr<nn::Sequential> layer1, layer2, layer3;
  std::shared_ptr<nn::BatchNorm2d> bn;
  std::shared_ptr<nn::Linear> fc;
};

// preact-resnet110: basic units, depth 6n+2, 16/32/64 channels.
struct PreActResNetConfig {
  int64_t depth = 110;
  bool bottleneck = false;  // 9n + 2 bottleneck units (164, 1001) instead of 6n + 2 basic ones
};

nn::ModulePtr build_preact_resnet(const ModelSpec& spec, const PreActResNetConfig& config);
nn::ModulePtr build_preact_resnet_basic(const ModelSpec& spec, int64_t depth);
// preact-resnet164 / preact-resnet1001: bottleneck units, depth 9n+2, outputs 64/128/256.
nn::ModulePtr build_preact_resnet_bottleneck(const ModelSpec& spec, int64_t depth);

}  // namespace cnnzoo::models
