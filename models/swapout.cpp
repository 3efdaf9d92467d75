// Swapout v2(32) W x 4 (Singh et al. 2016, arXiv:1605.06465): a 32-layer pre-activation
// ResNet (n = 5 basic units per stage) four times wider (64, 128, 256), every unit computing
// Theta1 * X + Theta2 * F(X) instead of X + F(X). Theta1 and Theta2 are independent
// per-element Bernoulli masks whose keep probability falls linearly over the units, from 1 at
// the input to 0.5 at the last unit ("Linear(1, 0.5)", the schedule of stochastic depth with
// l = 1..L). The masks are not rescaled, so deterministic inference multiplies by the keep
// probabilities (the expectation); stochastic inference averages sampled predictions. The
// paper's CIFAR error for this network (4.76%, the model table's figure) is that of
// stochastic inference with 30 samples (`--set stochastic_inference=30`). The default stays
// the deterministic pass: one pass instead of 30, and the same answer every time an image is
// classified, which predict, eval and forward rely on to agree.
//
// As in the CIFAR pre-activation reference ("both_preact" first unit), the BN-ReLU of the
// first unit follows the stem conv and feeds both paths, so no unit mixes the raw conv output
// into its sum.
//
// Shortcuts are parameter-free (subsample + zero padding): the paper builds on the
// fb.resnet.torch pre-activation ResNet, whose CIFAR models use that shortcut.
//
// Parameters: 7,357,146 (conv + BN affine + linear, 10 classes; conv weights 7,345,584). The
// paper's table gives no exact figure we could reproduce more closely.
#include "cnnzoo/models/swapout.hpp"

#include <cmath>
#include <mutex>

#include "cnnzoo/error.hpp"
#include "cnnzoo/nn/init.hpp"
#include "cnnzoo/ops/activation.hpp"
#include "cnnzoo/ops/arith.hpp"
#include "cnnzoo/ops/dropout.hpp"
#include "cnnzoo/ops/loss.hpp"
#include "cnnzoo/ops/pool.hpp"
#include "cnnzoo/ops/shape.hpp"
#include "models/paper.hpp"
#include "models/papers.hpp"

namespace cnnzoo::models::swapout {

double keep_probability(int64_t l, int64_t L, double theta_L) {
  return 1.0 - static_cast<double>(l) / static_cast<double>(L) * (1.0 - theta_L);
}

Unit::Unit(int64_t in_channels, int64_t out_channels, int64_t stride, bool activate_shortcut,
           double theta)
    : in_channels(in_channels),
      out_channels(out_channels),
      stride(stride),
      theta(theta),
      activate_shortcut(activate_shortcut) {
  check(out_channels >= in_channels, "swapout: a unit cannot narrow the network");
  bn1 = register_module("bn1", std::make_shared<nn::BatchNorm2d>(in_channels));
  conv1 = register_module("conv1", nn::conv3x3(in_channels, out_channels, stride));
  bn2 = register_module("bn2", std::make_shared<nn::BatchNorm2d>(out_channels));
  conv2 = register_module("conv2", nn::conv3x3(out_channels, out_channels));
}

Var Unit::preact(const Var& x) {
  return bn1->forward_relu(x);
}

Var Unit::branch(const Var& a) {
  return conv2->forward(nn::conv_bn_relu(*conv1, *bn2, a));
}

Var Unit::shortcut(const Var& x, const Var& a) const {
  if (stride == 1 && in_channels == out_channels) return activate_shortcut ? a : x;
  Var s = a;
  if (stride != 1) {
    Pool2dOptions o;
    o.kernel_size = 1;
    o.stride = stride;
    s = avg_pool2d(s, o);  // a 1x1 window: keeps every stride-th pixel
  }
  return pad_channels(s, 0, out_channels - in_channels);
}

Var Unit::residual(const Var& x) {
  return branch(preact(x));
}

Var Unit::skip(const Var& x) {
  return shortcut(x, preact(x));
}

Var Unit::forward(const Var& x) {
  return forward(x, is_training() ? &global_generator() : nullptr);
}

Var Unit::forward(const Var& x, Generator* gen) {
  Var a = preact(x);  // once: BN running statistics are updated once per forward
  // Without a generator the expectation: deterministic inference.
  return cnnzoo::swapout(shortcut(x, a), branch(a), theta, theta, gen != nullptr,
                         gen ? *gen : global_generator());
}

SwapoutNet::SwapoutNet(const Config& c) : stochastic_inference(c.stochastic_inference) {
  check(c.depth > 2 && (c.depth - 2) % 6 == 0,
        "swapout: depth must be 6n + 2, got " + std::to_string(c.depth));
  check(c.widen_factor > 0, "swapout: widen_factor must be positive");
  check(c.theta_L > 0.0 && c.theta_L <= 1.0, "swapout: theta_L must be in (0, 1]");
  check(c.stochastic_inference >= 0, "swapout: stochastic_inference must be >= 0");
  const int64_t n = (c.depth - 2) / 6;
  const int64_t L = 3 * n;
  conv1 = register_module("conv1", nn::conv3x3(c.in_channels, 16));
  int64_t channels = 16;
  for (int64_t s = 0; s < 3; ++s) {
    const int64_t width = (16 << s) * c.widen_factor;
    auto stage = std::make_shared<nn::Sequential>();
    for (int64_t i = 0; i < n; ++i) {
      const int64_t l = s * n + i + 1;
      const int64_t stride = (s > 0 && i == 0) ? 2 : 1;
      auto unit = std::make_shared<Unit>(channels, width, stride, /*activate_shortcut=*/l == 1,
                                         keep_probability(l, L, c.theta_L));
      stage->push_back(unit);
      units.push_back(unit);
      channels = width;
    }
    register_module("layer" + std::to_string(s + 1), stage);
  }
  bn_final = register_module("bn_final", std::make_shared<nn::BatchNorm2d>(channels));
  fc = register_module("fc", std::make_shared<nn::Linear>(channels, c.num_classes));
  // He init (fan_out) as fb.resnet.torch; BN 1/0; zero linear bias.
  nn::init::kaiming_normal<nn::Conv2d>(*this, nn::init::FanMode::FanOut);
  nn::init::zero_bias<nn::Linear>(*this);
}

Var SwapoutNet::forward(const Var& x, Generator* gen) {
  Var h = conv1->forward(x);
  for (const auto& u : units) h = u->forward(h, gen);
  h = bn_final->forward_relu(h);
  return fc->forward(flatten(global_avg_pool2d(h)));
}

Var SwapoutNet::forward(const Var& x) {
  if (is_training()) return forward(x, &global_generator());
  if (stochastic_inference <= 0) return forward(x, nullptr);
  // A private generator per call keeps concurrent evaluations apart; only its seed comes
  // from the global generator.
  uint64_t seed;
  {
    static std::mutex mu;
    std::lock_guard<std::mutex> lock(mu);
    seed = global_generator().next_u64();
  }
  Generator gen(seed);
  NoGradGuard no_grad;
  std::vector<Tensor> samples;
  for (int64_t i = 0; i < stochastic_inference; ++i) samples.push_back(forward(x, &gen).value());
  return Var(log_mean_softmax(samples));
}

}  // namespace cnnzoo::models::swapout

namespace cnnzoo::models {

std::vector<ModelInfo> swapout_models() {
  using C = swapout::Config;
  const Paper paper{"Swapout: Learning an ensemble of deep architectures", "Singh et al.", 2016,
                    "1605.06465", "swapout"};
  const auto options =
      Options<C>()
          .integer("depth", &C::depth, 8, 2000, "6n + 2")
          .integer("widen_factor", &C::widen_factor, 1, 64, "W")
          .real("theta_L", &C::theta_L, 0.01, 1.0, "keep probability of the last unit")
          .integer("stochastic_inference", &C::stochastic_inference, 0, 1000,
                   "N > 0: evaluation averages N sampled predictions");
  return {model_row(paper, "swapout-32-w4", cifar_input(), "4.76", options, C{},
                    build_network<swapout::SwapoutNet, C>)};
}

}  // namespace cnnzoo::models
