// ResNet in ResNet: Targ, Almeida, Lyman, "Resnet in Resnet: Generalizing Residual
// Architectures", 2016, arXiv:1603.08029. The 18-layer + wide RiR for CIFAR.
#pragma once
#include <memory>

#include "cnnzoo/models.hpp"
#include "cnnzoo/nn/layers.hpp"

namespace cnnzoo::models::rir {

struct Config {
  int64_t width = 96;  // channels of both streams together in stage 1 (96/192/384: "wide")
  int64_t num_classes = 10;
  int64_t in_channels = 3;
};

// A tensor carries both streams as channels: [residual r | transient t], half each.
//
// Generalised residual layer (the "ResNet Init" layer):
//   r' = ReLU(BN(conv(r; W_rr) + conv(t; W_tr) + shortcut(r)))
//   t' = ReLU(BN(conv(r; W_rt) + conv(t; W_tt)))
// The four 3x3 convolutions are the four blocks of ONE 3x3 convolution from [r | t] to
// [r' | t'] (same function, same parameter count), and the two BNs are one BN over both
// streams' channels. shortcut(r) is the identity, or a learned 1x1 projection (stride
// included) when the shape changes.
class GeneralizedResidualLayer : public nn::Module {
 public:
  GeneralizedResidualLayer(int64_t in_channels, int64_t out_channels, int64_t stride);
  Var forward(const Var& x) override;
  std::string type_name() const override { return "GeneralizedResidualLayer"; }

 private:
  int64_t in_channels, out_channels;
  std::shared_ptr<nn::Conv2d> conv, projection;
  std::shared_ptr<nn::BatchNorm2d> bn;
};

// RiR block: two generalised residual layers and an outer shortcut on the residual stream
// (identity, or 1x1 projection + BN when the shape changes). The stride is on the first layer.
class RiRBlock : public nn::Module {
 public:
  RiRBlock(int64_t in_channels, int64_t out_channels, int64_t stride);
  Var forward(const Var& x) override;
  std::string type_name() const override { return "RiRBlock"; }

 private:
  int64_t in_channels, out_channels;
  std::shared_ptr<GeneralizedResidualLayer> layer1, layer2;
  std::shared_ptr<nn::Sequential> shortcut;
};

class RiR : public nn::Module {
 public:
  explicit RiR(const Config& config);
  Var forward(const Var& x) override;
  std::string type_name() const override { return "RiR"; }

 private:
  std::shared_ptr<nn::Sequential> features;
  std::shared_ptr<nn::Linear> fc;
};

}  // namespace cnnzoo::models::rir
