// PyramidNet: Han, Kim, Kim, "Deep Pyramidal Residual Networks", 2016, arXiv:1610.02915.
// Additive widening (every unit adds alpha / N channels), basic and bottleneck units.
#pragma once
#include <functional>
#include <memory>
#include <vector>

#include "cnnzoo/models.hpp"
#include "cnnzoo/nn/layers.hpp"

namespace cnnzoo::models::pyramidnet {

struct Config {
  int64_t depth = 110;
  double alpha = 48;        // total widening over the network
  bool bottleneck = false;  // 1x1-3x3-1x1 units with 4x outputs; depth = 9N + 2 instead of 6N + 2
  int64_t num_classes = 10;
  int64_t in_channels = 3;
};

// Number of units per stage N, from depth (6N + 2 basic, 9N + 2 bottleneck).
int64_t units_per_stage(const Config& c);
// The width D_k of unit k = 1..3N: floor(16 + alpha * k / 3N) (the paper's Eq. 2); bottleneck
// units output 4 * D_k.
std::vector<int64_t> unit_widths(const Config& c);

// One pyramidal residual unit. Branch: BN-conv3x3-BN-ReLU-conv3x3-BN (basic) or
// BN-conv1x1-BN-ReLU-conv3x3-BN-ReLU-conv1x1-BN (bottleneck), the stride on the first 3x3.
// Shortcut: 2x2 average pooling when the unit downsamples, then zero channels up to the
// branch's width. No ReLU after the addition.
class Unit : public nn::Module {
 public:
  Unit(int64_t in_channels, int64_t width, int64_t stride, bool bottleneck);
  Var forward(const Var& x) override;
  std::string type_name() const override { return "PyramidUnit"; }
  Var residual(const Var& x);        // F(x): out_channels maps
  Var shortcut(const Var& x) const;  // parameter-free: avg-pool 2x2 (stride 2), zero padding

  int64_t in_channels, out_channels, stride;

 private:
  std::shared_ptr<nn::BatchNorm2d> bn1, bn2, bn3, bn4;
  std::shared_ptr<nn::Conv2d> conv1, conv2, conv3;
};

// Makes unit `index` (1..3N) of the network; lets PyramidSepDrop put its own units in the
// same skeleton.
using UnitFactory =
    std::function<nn::ModulePtr(int64_t index, int64_t in_channels, int64_t width, int64_t stride)>;

// conv3x3(16)-BN stem (no ReLU), three stages of N units (the first of stages 2 and 3 halves
// the resolution), final BN-ReLU, global average pooling, linear classifier. Names follow the
// authors' PyTorch code: conv1, bn1, layer1..3, bn_final, fc.
class PyramidNet : public nn::Module {
 public:
  explicit PyramidNet(const Config& config, const UnitFactory& factory = nullptr);
  Var forward(const Var& x) override;
  std::string type_name() const override { return "PyramidNet"; }

  std::shared_ptr<nn::Sequential> layer1, layer2, layer3;

 private:
  std::shared_ptr<nn::Conv2d> conv1;
  std::shared_ptr<nn::BatchNorm2d> bn1, bn_final;
  std::shared_ptr<nn::Linear> fc;
};

// He (fan_out) init of every conv, BN 1/0, zero linear bias: the reference initialisation.
void init_weights(nn::Module& m);

}  // namespace cnnzoo::models::pyramidnet
