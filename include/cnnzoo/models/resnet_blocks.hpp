// Building blocks shared by the CIFAR residual networks (He et al. 2015, arXiv 1512.03385, and
// the papers that build on it): the three shortcut types, the
// post-activation BasicBlock, He initialisation and the classifier head.
#pragma once
#include <array>
#include <functional>
#include <memory>
#include <string>

#include "cnnzoo/models.hpp"
#include "cnnzoo/nn/layers.hpp"

namespace cnnzoo::models {

using nn::conv1x1;
using nn::conv3x3;

// He et al. 2015 §4.2: (A) zero-padding shortcuts where dimensions increase, identity
// elsewhere; (B) projections where dimensions increase; (C) projections everywhere.
enum class ShortcutType { A, B, C };

// Parameter-free shortcut for a block that changes resolution and width: spatial subsampling
// by `stride`, then zero channels appended. With subsample = Pick it keeps every stride-th
// pixel (x[:, :, ::2, ::2], the He 2015 option A); with Average it averages stride x stride
// windows (the stochastic-depth and PyramidNet reference code).
class ZeroPadShortcut : public nn::Module {
 public:
  enum class Subsample { Pick, Average };
  ZeroPadShortcut(int64_t in_channels, int64_t out_channels, int64_t stride,
                  Subsample subsample = Subsample::Pick);
  Var forward(const Var& x) override;
  std::string type_name() const override { return "ZeroPadShortcut"; }
  std::string extra_repr() const override;
  int64_t in_channels, out_channels, stride;
  Subsample subsample;
};

// 1x1 convolution (stride) + BN, named like torchvision's `downsample` ("0", "1").
std::shared_ptr<nn::Sequential> projection_shortcut(int64_t in_channels, int64_t out_channels,
                                                    int64_t stride);

// The shortcut of a post-activation block under the given type; nullptr means identity.
nn::ModulePtr make_shortcut(ShortcutType type, int64_t in_channels, int64_t out_channels,
                            int64_t stride);

// Post-activation basic block (He 2015 Fig. 2): conv3x3(stride)-BN-ReLU-conv3x3-BN, added to
// the shortcut, then ReLU. The stride sits on the first conv.
class BasicBlock : public nn::Module {
 public:
  // downsample: the shortcut module, or nullptr for identity.
  BasicBlock(int64_t in_channels, int64_t out_channels, int64_t stride, nn::ModulePtr downsample);
  Var forward(const Var& x) override;
  std::string type_name() const override { return "BasicBlock"; }
  // F(x): conv-BN-ReLU-conv-BN, no final ReLU; virtual so variants (SE) can extend it.
  virtual Var residual(const Var& x);
  Var shortcut(const Var& x);  // identity or the downsample module
  std::shared_ptr<nn::Conv2d> conv1, conv2;
  std::shared_ptr<nn::BatchNorm2d> bn1, bn2;
  nn::ModulePtr downsample;
};

// Makes block number `index` (1..L over the whole network, for depth-dependent schedules) of
// a stage: in -> out channels, stride on its first convolution.
using BlockFactory = std::function<nn::ModulePtr(int64_t in_channels, int64_t out_channels,
                                                 int64_t stride, int64_t index)>;

// Three stages of `n` blocks, the first block of stages 2 and 3 halving the resolution
// (32 -> 16 -> 8 on CIFAR). Blocks are named "0".."n-1" as in torchvision's layer1..layer4.
std::shared_ptr<nn::Sequential> make_stage(int64_t in_channels, int64_t out_channels, int64_t n,
                                           int64_t stride, int64_t first_index,
                                           const BlockFactory& block);

// The CIFAR ResNet body of He 2015 §4.2: conv3x3-BN-ReLU stem, three stages (layer1..layer3)
// of widths w[0..2], global average pooling, a plain linear classifier.
class CifarResNet : public nn::Module {
 public:
  CifarResNet(int64_t in_channels, std::array<int64_t, 3> widths, int64_t n, int64_t num_classes,
              const BlockFactory& block);
  Var forward(const Var& x) override;
  std::string type_name() const override { return "CifarResNet"; }
  std::shared_ptr<nn::Conv2d> conv1;
  std::shared_ptr<nn::BatchNorm2d> bn1;
  std::shared_ptr<nn::Sequential> layer1, layer2, layer3;
  std::shared_ptr<nn::Linear> fc;
};

// Convolutions: He normal with fan_out = C_out * k * k (as fb.resnet.torch, the pre-act and
// WRN reference code and torchvision); BN: gamma 1, beta 0; linear layers keep PyTorch's
// default initialisation.
void init_he(nn::Module& model);

// Global average pooling to [N, C] (the CIFAR nets pool the whole 8x8 map).
Var global_pool(const Var& x);

// Depth of the 6n+2 CIFAR ResNets -> n, with a readable error for other depths.
int64_t blocks_per_stage(const ModelSpec& spec, int64_t depth, int64_t layers_per_block,
                         int64_t extra_layers);

}  // namespace cnnzoo::models
