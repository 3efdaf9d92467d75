// Stochastic depth (Huang et al. 2016, arXiv 1603.09382) and resnet110-sd.
//
// resnet110-sd is the paper's CIFAR ResNet-110: the network of He et al. 2015 (16/32/64
// channels, 3 x 18 post-activation basic blocks, ReLU after each sum), every block gated with
// p_l = 1 - (l/54)(1 - p_L). As in the reference code (ResidualDrop.lua) the downsampling
// shortcut is 2x2 average pooling plus zero padding, so it has no parameters and the count is
// that of ResNet-110 with option A: 1,727,962 (the paper's 1.7M).
#include "cnnzoo/models/stochastic_depth.hpp"

#include <sstream>

#include "cnnzoo/ops/activation.hpp"
#include "cnnzoo/ops/arith.hpp"
#include "cnnzoo/random.hpp"
#include "models/paper.hpp"
#include "models/papers.hpp"

namespace cnnzoo::models {

std::vector<double> linear_survival(int64_t L, double p_L) {
  check(L >= 1, "linear_survival: need at least one block");
  std::vector<double> p(static_cast<size_t>(L));
  for (int64_t l = 1; l <= L; ++l)
    p[static_cast<size_t>(l - 1)] =
        1.0 - static_cast<double>(l) / static_cast<double>(L) * (1.0 - p_L);
  return p;
}

BlockFactory linear_decay_blocks(int64_t L, double p_L, GatedBlockMaker make) {
  return [p = linear_survival(L, p_L), make = std::move(make)](int64_t in, int64_t out,
                                                               int64_t stride, int64_t l) {
    check(l >= 1 && l <= static_cast<int64_t>(p.size()), "linear_decay_blocks: block out of range");
    return make(in, out, stride, p[static_cast<size_t>(l - 1)]);
  };
}

void SurvivalGate::set_survival(double p) {
  check(p > 0.0 && p <= 1.0, "SurvivalGate: survival probability must lie in (0, 1]");
  p_ = p;
}

bool SurvivalGate::draw(bool training) {
  if (!training) return true;
  bool keep = mode == Mode::AlwaysKeep   ? true
              : mode == Mode::AlwaysDrop ? false
                                         : global_generator().bernoulli(p_);
  ++draws_;
  kept_ += keep;
  return keep;
}

std::vector<SurvivalGate*> survival_gates(const nn::Module& model) {
  std::vector<SurvivalGate*> gates;
  for (auto& [name, m] : model.named_modules())
    if (auto* g = dynamic_cast<GatedBlock*>(m)) gates.push_back(&g->gate);
  return gates;
}

void set_gate_mode(const nn::Module& model, SurvivalGate::Mode mode) {
  for (SurvivalGate* g : survival_gates(model)) g->mode = mode;
}

Var gated_residual(SurvivalGate& gate, bool training, const Var& shortcut,
                   const std::function<Var()>& branch) {
  if (training) return gate.draw(true) ? add(shortcut, branch()) : shortcut;
  Var f = branch();
  return add(shortcut, gate.survival() < 1.0 ? scale(f, gate.survival()) : f);
}

// ---- ResNet-110 with stochastic depth ----------------------------------------------------

namespace {
nn::ModulePtr sd_shortcut(int64_t in_channels, int64_t out_channels, int64_t stride) {
  if (stride == 1 && in_channels == out_channels) return nullptr;
  return std::make_shared<ZeroPadShortcut>(in_channels, out_channels, stride,
                                           ZeroPadShortcut::Subsample::Average);
}
}  // namespace

StochasticBasicBlock::StochasticBasicBlock(int64_t in_channels, int64_t out_channels,
                                           int64_t stride, double survival)
    : BasicBlock(in_channels, out_channels, stride,
                 sd_shortcut(in_channels, out_channels, stride)) {
  gate.set_survival(survival);
}

Var StochasticBasicBlock::forward(const Var& x) {
  return relu(gated_residual(gate, is_training(), shortcut(x), [&] { return residual(x); }));
}

std::string StochasticBasicBlock::extra_repr() const {
  std::ostringstream s;
  s << "survival=" << gate.survival();
  return s.str();
}

nn::ModulePtr build_resnet110_sd(const ModelSpec& spec, const StochasticDepthConfig& config) {
  const int64_t n = 18;
  return std::make_shared<CifarResNet>(
      spec.in_channels, std::array<int64_t, 3>{16, 32, 64}, n, spec.num_classes,
      linear_decay_blocks(3 * n, config.p_L, make_gated<StochasticBasicBlock>));
}

std::vector<ModelInfo> stochastic_depth_models() {
  using C = StochasticDepthConfig;
  const Paper paper{"Deep Networks with Stochastic Depth", "Huang et al.", 2016, "1603.09382",
                    "stochastic_depth"};
  const auto options =
      Options<C>().real("p_L", &C::p_L, 1e-6, 1.0, "survival probability of the last block");
  return {
      model_row(paper, "resnet110-sd", cifar_input(), "5.25", options, C{}, build_resnet110_sd)};
}

}  // namespace cnnzoo::models
