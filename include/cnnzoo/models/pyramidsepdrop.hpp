// PyramidSepDrop: Yamada, Iwamura, Kise, "Deep Pyramidal Residual Networks with Separated
// Stochastic Depth", 2016, arXiv:1612.01230. PyramidNet with separated stochastic depth.
#pragma once
#include "cnnzoo/models/pyramidnet.hpp"

namespace cnnzoo::models::pyramidsepdrop {

struct Config {
  int64_t depth = 182;
  double alpha = 150;
  bool bottleneck = false;
  double p_L = 0.5;  // survival probability of the last unit
  int64_t num_classes = 10;
  int64_t in_channels = 3;
};

// Survival probability of unit l = 1..L: p_l = 1 - (l / L) (1 - p_L).
double survival_probability(int64_t l, int64_t L, double p_L);

// A PyramidNet unit whose residual F(x) is split by output channel: the first C_in channels
// (added to the identity) and the C_out - C_in new channels (added to the zero padding) are
// kept by two independent Bernoulli(p_l) gates, drawn once per mini-batch. F is computed in
// full (or not at all when both gates are closed); only its output is gated. The shortcut
// (average pooling, zero padding) always runs, so a dropped downsampling unit still halves
// the resolution and widens the map. Evaluation adds p_l * F.
class SepDropUnit : public pyramidnet::Unit {
 public:
  SepDropUnit(int64_t in_channels, int64_t width, int64_t stride, bool bottleneck, double survival);
  Var forward(const Var& x) override;
  std::string type_name() const override { return "SepDropUnit"; }
  // The training-mode output for given gates (what forward uses after sampling them).
  Var forward_gated(const Var& x, bool keep_existing, bool keep_new);

  double survival;  // p_l
};

// Registry builder: options alpha, depth, bottleneck, p_L.
nn::ModulePtr build(const ModelSpec& spec, const Config& defaults);

}  // namespace cnnzoo::models::pyramidsepdrop
