// Weight initialisation (He/MSRA and Xavier/Glorot), in place, from a Generator: of one
// tensor, or of every layer of one type in a module tree (what a paper's "init" paragraph says).
#pragma once
#include "cnnzoo/nn/layers.hpp"
#include "cnnzoo/random.hpp"
#include "cnnzoo/tensor.hpp"

namespace cnnzoo::nn::init {

enum class FanMode { FanIn, FanOut };

// fan_in = shape[1] * receptive field, fan_out = shape[0] * receptive field (as PyTorch).
int64_t fan_in(const Tensor& w);
int64_t fan_out(const Tensor& w);
// PyTorch's calculate_gain for "relu" (sqrt 2), "leaky_relu" (sqrt(2 / (1 + a^2))),
// "linear"/"sigmoid" (1), "tanh" (5/3).
double gain(const std::string& nonlinearity, double a = 0.0);

void kaiming_normal(Tensor& w, FanMode mode = FanMode::FanIn, double a = 0.0,
                    const std::string& nonlinearity = "relu", Generator& gen = global_generator());
void kaiming_uniform(Tensor& w, FanMode mode = FanMode::FanIn, double a = 0.0,
                     const std::string& nonlinearity = "leaky_relu",
                     Generator& gen = global_generator());
void xavier_normal(Tensor& w, double gain = 1.0, Generator& gen = global_generator());
void xavier_uniform(Tensor& w, double gain = 1.0, Generator& gen = global_generator());
void normal(Tensor& w, double mean, double stddev, Generator& gen = global_generator());
void uniform(Tensor& w, double lo, double hi, Generator& gen = global_generator());
void constant(Tensor& w, double value);

// For models whose every parameter is loaded next (a weights file's loader): within its scope,
// on this thread, the random initialisers (normal, uniform and the He/Xavier ones built on them)
// write zeros and draw nothing from the generator. Building a VGG-16 otherwise spends seconds
// drawing 138M numbers that the file then overwrites. Constant initialisers still apply.
class SkipInitGuard {
 public:
  SkipInitGuard();
  ~SkipInitGuard();
  SkipInitGuard(const SkipInitGuard&) = delete;
  SkipInitGuard& operator=(const SkipInitGuard&) = delete;

 private:
  bool prev_;
};

// ---- over a module tree, by layer type ----
// `Layer` is Conv2d or Linear: the weight of every such layer below (and including) `root` is
// drawn as named, and its bias, if it has one, is zeroed (Bias::Zero) or left at PyTorch's
// default (Bias::Keep). Layers are visited in registration order, so the draws are
// reproducible from the generator's seed.
enum class Bias { Zero, Keep };

// `a` is the negative slope for "leaky_relu" (PReLU's initial slope).
template <class Layer>
void kaiming_normal(Module& root, FanMode mode = FanMode::FanIn,
                    const std::string& nonlinearity = "relu", Bias bias = Bias::Zero,
                    double a = 0.0);
template <class Layer>
void kaiming_uniform(Module& root, FanMode mode = FanMode::FanIn,
                     const std::string& nonlinearity = "relu", Bias bias = Bias::Zero);
template <class Layer>
void xavier_uniform(Module& root, double gain = 1.0, Bias bias = Bias::Zero);
template <class Layer>
void normal(Module& root, double mean, double stddev, Bias bias = Bias::Zero);
template <class Layer>
void zero_bias(Module& root);
// Every BatchNorm's weight (scale) and bias (shift) set to constants: (1, 0) is the usual
// start; a zero scale on a residual branch's last BN starts the block as the identity.
void batchnorm(Module& root, double weight = 1.0, double bias = 0.0);

// Calls fn on every module of type Layer below (and including) root, in registration order.
template <class Layer, class Fn>
void for_each(Module& root, Fn&& fn) {
  root.apply([&fn](Module& m) {
    if (auto* layer = dynamic_cast<Layer*>(&m)) fn(*layer);
  });
}

}  // namespace cnnzoo::nn::init
