// He/Xavier initialisation with PyTorch's fan and gain conventions.
#include "cnnzoo/nn/init.hpp"

#include <cmath>

namespace cnnzoo::nn::init {

namespace {
int64_t receptive_field(const Tensor& w) {
  check(w.dim() >= 2, "init: fan needs a tensor with at least 2 dims, got " + w.shape_str());
  int64_t r = 1;
  for (int64_t d = 2; d < w.dim(); ++d) r *= w.size(d);
  return r;
}
}  // namespace

int64_t fan_in(const Tensor& w) {
  return w.size(1) * receptive_field(w);
}
int64_t fan_out(const Tensor& w) {
  return w.size(0) * receptive_field(w);
}

double gain(const std::string& nonlinearity, double a) {
  if (nonlinearity == "relu") return std::sqrt(2.0);
  if (nonlinearity == "leaky_relu") return std::sqrt(2.0 / (1.0 + a * a));
  if (nonlinearity == "tanh") return 5.0 / 3.0;
  if (nonlinearity == "linear" || nonlinearity == "sigmoid" || nonlinearity == "conv2d") return 1.0;
  throw Error("init: unknown nonlinearity '" + nonlinearity + "'");
}

namespace {
thread_local bool skip_random_init = false;
}  // namespace

SkipInitGuard::SkipInitGuard() : prev_(skip_random_init) {
  skip_random_init = true;
}
SkipInitGuard::~SkipInitGuard() {
  skip_random_init = prev_;
}

void normal(Tensor& w, double mean, double stddev, Generator& gen) {
  if (skip_random_init) {
    w.zero();
    return;
  }
  for (real& v : w) v = static_cast<real>(gen.normal(mean, stddev));
}

void uniform(Tensor& w, double lo, double hi, Generator& gen) {
  if (skip_random_init) {
    w.zero();
    return;
  }
  for (real& v : w) v = static_cast<real>(gen.uniform(lo, hi));
}

void constant(Tensor& w, double value) {
  w.fill(static_cast<real>(value));
}

void kaiming_normal(Tensor& w, FanMode mode, double a, const std::string& nonlinearity,
                    Generator& gen) {
  int64_t fan = mode == FanMode::FanIn ? fan_in(w) : fan_out(w);
  normal(w, 0.0, gain(nonlinearity, a) / std::sqrt(static_cast<double>(fan)), gen);
}

void kaiming_uniform(Tensor& w, FanMode mode, double a, const std::string& nonlinearity,
                     Generator& gen) {
  int64_t fan = mode == FanMode::FanIn ? fan_in(w) : fan_out(w);
  double bound = gain(nonlinearity, a) * std::sqrt(3.0 / static_cast<double>(fan));
  uniform(w, -bound, bound, gen);
}

void xavier_normal(Tensor& w, double g, Generator& gen) {
  double std = g * std::sqrt(2.0 / static_cast<double>(fan_in(w) + fan_out(w)));
  normal(w, 0.0, std, gen);
}

void xavier_uniform(Tensor& w, double g, Generator& gen) {
  double bound = g * std::sqrt(6.0 / static_cast<double>(fan_in(w) + fan_out(w)));
  uniform(w, -bound, bound, gen);
}

// ---- over a module tree ----

namespace {
template <class Layer, class Draw>
void init_layers(Module& root, Bias bias, Draw draw) {
  for_each<Layer>(root, [&](Layer& layer) {
    draw(layer.weight.value());
    if (bias == Bias::Zero && layer.bias.defined()) layer.bias.value().zero();
  });
}
}  // namespace

template <class Layer>
void kaiming_normal(Module& root, FanMode mode, const std::string& nonlinearity, Bias bias,
                    double a) {
  init_layers<Layer>(root, bias, [&](Tensor& w) { kaiming_normal(w, mode, a, nonlinearity); });
}
template <class Layer>
void kaiming_uniform(Module& root, FanMode mode, const std::string& nonlinearity, Bias bias) {
  init_layers<Layer>(root, bias, [&](Tensor& w) { kaiming_uniform(w, mode, 0.0, nonlinearity); });
}
template <class Layer>
void xavier_uniform(Module& root, double g, Bias bias) {
  init_layers<Layer>(root, bias, [&](Tensor& w) { xavier_uniform(w, g); });
}
template <class Layer>
void normal(Module& root, double mean, double stddev, Bias bias) {
  init_layers<Layer>(root, bias, [&](Tensor& w) { normal(w, mean, stddev); });
}
template <class Layer>
void zero_bias(Module& root) {
  for_each<Layer>(root, [](Layer& layer) {
    if (layer.bias.defined()) layer.bias.value().zero();
  });
}

void batchnorm(Module& root, double weight, double bias) {
  for_each<BatchNorm>(root, [&](BatchNorm& bn) {
    if (bn.weight.defined()) bn.weight.value().fill(static_cast<real>(weight));
    if (bn.bias.defined()) bn.bias.value().fill(static_cast<real>(bias));
  });
}

#define CNNZOO_INIT_LAYER(Layer)                                                           \
  template void kaiming_normal<Layer>(Module&, FanMode, const std::string&, Bias, double); \
  template void kaiming_uniform<Layer>(Module&, FanMode, const std::string&, Bias);        \
  template void xavier_uniform<Layer>(Module&, double, Bias);                              \
  template void normal<Layer>(Module&, double, double, Bias);                              \
  template void zero_bias<Layer>(Module&);
CNNZOO_INIT_LAYER(Conv2d)
CNNZOO_INIT_LAYER(Linear)
#undef CNNZOO_INIT_LAYER

}  // namespace cnnzoo::nn::init
