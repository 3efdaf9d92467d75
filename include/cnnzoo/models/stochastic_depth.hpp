// Stochastic depth (Huang, Sun, Liu, Sedra and Weinberger, "Deep Networks with Stochastic
// Depth", 2016, arXiv 1603.09382): the survival schedule and per-block gates shared by every
// model here that drops residual branches, and the paper's ResNet-110 with it (resnet110-sd).
#pragma once
#include <functional>
#include <vector>

#include "cnnzoo/models/resnet_blocks.hpp"

namespace cnnzoo::models {

// The paper's linear decay rule (Eq. 4): p_l = 1 - (l / L)(1 - p_L) for l = 1..L, so the
// first block keeps 1 - (1 - p_L)/L and the last one exactly p_L. Index 0 of the result is
// block l = 1.
std::vector<double> linear_survival(int64_t L, double p_L);
// The blocks of a 3-stage network of L blocks in all, the l-th made with survival p_l of the
// linear decay rule: make(in_channels, out_channels, stride, p_l).
using GatedBlockMaker = std::function<nn::ModulePtr(int64_t in_channels, int64_t out_channels,
                                                    int64_t stride, double survival)>;
BlockFactory linear_decay_blocks(int64_t L, double p_L, GatedBlockMaker make);
// The GatedBlockMaker of a block class constructed as Block(in, out, stride, survival).
template <class Block>
nn::ModulePtr make_gated(int64_t in_channels, int64_t out_channels, int64_t stride,
                         double survival) {
  return std::make_shared<Block>(in_channels, out_channels, stride, survival);
}
// Reads option `p_L` (default `def`), checked to lie in (0, 1].

// One Bernoulli gate per residual block, drawn once per training forward pass (one mini-batch)
// from the global generator. In evaluation it is never drawn: the branch is scaled by p.
class SurvivalGate {
 public:
  enum class Mode { Sample, AlwaysKeep, AlwaysDrop };  // forcing is for tests and ablations
  explicit SurvivalGate(double survival = 1.0) { set_survival(survival); }
  double survival() const { return p_; }
  void set_survival(double p);
  Mode mode = Mode::Sample;

  // The keep decision for this training pass (counted); true in evaluation.
  bool draw(bool training);
  // How often draw() ran in training and how often it kept the branch.
  int64_t draws() const { return draws_; }
  int64_t kept() const { return kept_; }
  void reset_counts() { draws_ = kept_ = 0; }

 private:
  double p_ = 1.0;
  int64_t draws_ = 0, kept_ = 0;
};

// Mixin for a block that owns a gate; survival_gates() finds them in network order.
class GatedBlock {
 public:
  virtual ~GatedBlock() = default;
  SurvivalGate gate;
};
std::vector<SurvivalGate*> survival_gates(const nn::Module& model);
void set_gate_mode(const nn::Module& model, SurvivalGate::Mode mode);

// The gated sum of the reference ResidualDrop: the shortcut always runs; in training the
// branch is added only when the gate keeps it (and is not computed otherwise); in
// evaluation the branch is added scaled by its survival probability.
Var gated_residual(SurvivalGate& gate, bool training, const Var& shortcut,
                   const std::function<Var()>& branch);

// ResNet-110 block with a gate. Its shortcut for a downsampling block is the reference
// code's 2x2 average pooling (stride 2) plus zero channels, applied whether or not the
// branch survives, so a dropped block still halves the resolution and doubles the width.
class StochasticBasicBlock : public BasicBlock, public GatedBlock {
 public:
  StochasticBasicBlock(int64_t in_channels, int64_t out_channels, int64_t stride, double survival);
  Var forward(const Var& x) override;
  std::string type_name() const override { return "StochasticBasicBlock"; }
  std::string extra_repr() const override;
};

// resnet110-sd: ResNet-110 (n = 18, L = 54 blocks), option p_L (default 0.5).
struct StochasticDepthConfig {
  double p_L = 0.5;  // survival probability of the last block
};

nn::ModulePtr build_resnet110_sd(const ModelSpec& spec, const StochasticDepthConfig& config);

}  // namespace cnnzoo::models
