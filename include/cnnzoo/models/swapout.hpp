// Swapout: Singh, Hoiem, Forsyth, "Swapout: Learning an ensemble of deep architectures",
// 2016, arXiv:1605.06465. Pre-activation ("v2") ResNet units with swapout, v2(32) W x 4.
#pragma once
#include <memory>
#include <vector>

#include "cnnzoo/models.hpp"
#include "cnnzoo/nn/layers.hpp"
#include "cnnzoo/random.hpp"

namespace cnnzoo::models::swapout {

struct Config {
  int64_t depth = 32;                // 6n + 2
  int64_t widen_factor = 4;          // W: stage widths 16W, 32W, 64W
  double theta_L = 0.5;              // keep probability of the last unit ("Linear(1, 0.5)")
  int64_t stochastic_inference = 0;  // N > 0: evaluation averages N sampled predictions
  int64_t num_classes = 10;
  int64_t in_channels = 3;
};

// Keep probability of unit l = 1..L: theta_l = 1 - (l / L) (1 - theta_L).
double keep_probability(int64_t l, int64_t L, double theta_L);

// Pre-activation basic unit: F = conv3x3(ReLU(BN(conv3x3(ReLU(BN(x)))))), stride on the first
// conv. Where the shape changes, the shortcut subsamples and zero-pads (option A) the
// pre-activated input; with activate_shortcut (the unit right after the stem) an identity
// shortcut also carries the pre-activated input, so that BN-ReLU is the stem's.
class Unit : public nn::Module {
 public:
  Unit(int64_t in_channels, int64_t out_channels, int64_t stride, bool activate_shortcut,
       double theta);
  Var forward(const Var& x) override;  // training: masks from the global generator
  Var forward(const Var& x, Generator* gen);
  std::string type_name() const override { return "SwapoutUnit"; }
  // F and the X that swapout mixes in (the shortcut's output), each computed on its own.
  Var residual(const Var& x);
  Var skip(const Var& x);

  int64_t in_channels, out_channels, stride;
  double theta;  // keep probability of both Theta1 and Theta2
  bool activate_shortcut;

 private:
  Var preact(const Var& x);
  Var branch(const Var& a);                        // F from the pre-activated input
  Var shortcut(const Var& x, const Var& a) const;  // identity, or subsample + zero padding
  std::shared_ptr<nn::BatchNorm2d> bn1, bn2;
  std::shared_ptr<nn::Conv2d> conv1, conv2;
};

// conv3x3(16) stem, three stages of n swapout units (16W, 32W, 64W), BN-ReLU, global
// average pooling, linear classifier. Names: conv1, layerS.U.*, bn_final, fc.
class SwapoutNet : public nn::Module {
 public:
  explicit SwapoutNet(const Config& config);
  // Training: sampled masks. Evaluation: deterministic (theta-weighted) inference by default;
  // with stochastic_inference = N > 0 (the paper's protocol is 30), log of the mean softmax of
  // N sampled passes (BN in inference mode), returned without a gradient graph.
  Var forward(const Var& x) override;
  Var forward(const Var& x, Generator* gen);  // one pass with masks from gen (nullptr: mean)
  std::string type_name() const override { return "SwapoutNet"; }

  std::vector<std::shared_ptr<Unit>> units;
  int64_t stochastic_inference;

 private:
  std::shared_ptr<nn::Conv2d> conv1;
  std::shared_ptr<nn::BatchNorm2d> bn_final;
  std::shared_ptr<nn::Linear> fc;
};

}  // namespace cnnzoo::models::swapout
