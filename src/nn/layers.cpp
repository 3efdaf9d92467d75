// Layer modules: parameter set-up with PyTorch's default initialisation, forward through
// the ops, and a profile record for summaries.
#include "cnnzoo/nn/layers.hpp"

#include <cmath>
#include <mutex>
#include <sstream>

#include "cnnzoo/nn/init.hpp"
#include "cnnzoo/nn/profile.hpp"
#include "cnnzoo/ops/activation.hpp"
#include "cnnzoo/ops/batchnorm.hpp"
#include "cnnzoo/ops/dropout.hpp"
#include "cnnzoo/ops/linear.hpp"
#include "cnnzoo/ops/shape.hpp"

namespace cnnzoo::nn {

namespace {
std::string size2(const Size2& s) {
  return s.h == s.w ? std::to_string(s.h)
                    : "(" + std::to_string(s.h) + ", " + std::to_string(s.w) + ")";
}
std::string pad_str(const Padding2d& p) {
  if (p.top == p.bottom && p.left == p.right) return size2({p.top, p.left});
  return "(" + std::to_string(p.top) + ", " + std::to_string(p.bottom) + ", " +
         std::to_string(p.left) + ", " + std::to_string(p.right) + ")";
}
// Records a layer that does no multiply-adds, and returns its output.
Var recorded(const Module& m, const Var& x, Var y, int64_t macs = 0) {
  record_layer(m, x.shape(), y.shape(), macs);
  return y;
}
}  // namespace

// ---- Conv2d ----------------------------------------------------------------------------------

Conv2d::Conv2d(int64_t in_channels, int64_t out_channels, Size2 kernel_size,
               const Conv2dParams& options)
    : in_channels(in_channels),
      out_channels(out_channels),
      kernel_size(kernel_size),
      options(options) {
  check(in_channels > 0 && out_channels > 0 && kernel_size.h > 0 && kernel_size.w > 0,
        "Conv2d: channels and kernel size must be positive");
  check(
      options.groups > 0 && in_channels % options.groups == 0 && out_channels % options.groups == 0,
      "Conv2d: groups=" + std::to_string(options.groups) + " must divide in_channels=" +
          std::to_string(in_channels) + " and out_channels=" + std::to_string(out_channels));
  Tensor w =
      Tensor::empty({out_channels, in_channels / options.groups, kernel_size.h, kernel_size.w});
  // PyTorch's default: kaiming_uniform(a = sqrt(5)), i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
  init::kaiming_uniform(w, init::FanMode::FanIn, std::sqrt(5.0));
  weight = register_parameter("weight", w);
  if (options.bias) {
    double bound = 1.0 / std::sqrt(static_cast<double>(init::fan_in(w)));
    Tensor b = Tensor::empty({out_channels});
    init::uniform(b, -bound, bound);
    bias = register_parameter("bias", b);
  }
}

// Multiply-adds of a conv whose output has shape o.
static int64_t conv_macs(const Conv2d& c, const Shape& o) {
  return o[0] * o[1] * o[2] * o[3] * (c.in_channels / c.options.groups) * c.kernel_size.h *
         c.kernel_size.w;
}

Var Conv2d::forward(const Var& x) {
  Var y = conv2d(x, weight, bias, options);
  return recorded(*this, x, y, conv_macs(*this, y.shape()));
}

std::string Conv2d::extra_repr() const {
  std::ostringstream s;
  s << in_channels << ", " << out_channels << ", kernel_size=" << size2(kernel_size);
  if (!(options.stride == Size2(1))) s << ", stride=" << size2(options.stride);
  if (!(options.padding == Padding2d(0))) s << ", padding=" << pad_str(options.padding);
  if (!(options.dilation == Size2(1))) s << ", dilation=" << size2(options.dilation);
  if (options.groups != 1) s << ", groups=" << options.groups;
  if (!options.bias) s << ", bias=False";
  return s.str();
}

// ---- BatchNorm -------------------------------------------------------------------------------

// What folded() keeps for one conv; the lock makes the first call from several inference
// threads compute it once.
struct BatchNorm::FoldCache {
  std::mutex lock;
  const Conv2d* conv = nullptr;
  Tensor weight, bias;
};

BatchNorm::BatchNorm(int64_t num_features, const BatchNormOptions& options)
    : num_features(num_features), options(options), fold_cache_(std::make_shared<FoldCache>()) {
  check(num_features > 0, "BatchNorm: num_features must be positive");
  if (options.affine()) {
    weight = register_parameter("weight", Tensor::ones({num_features}));
    bias = register_parameter("bias", Tensor::zeros({num_features}));
  }
  if (options.track_running_stats()) {
    running_mean = register_buffer("running_mean", Tensor::zeros({num_features}));
    running_var = register_buffer("running_var", Tensor::ones({num_features}));
    num_batches_tracked = register_buffer("num_batches_tracked", Tensor::zeros({}));
  }
}

static Var batch_norm_forward(BatchNorm& bn, const Var& x, bool relu) {
  check(x.dim() >= 2 && x.size(1) == bn.num_features, "BatchNorm: expected input [N, " +
                                                          std::to_string(bn.num_features) +
                                                          ", ...], got " + shape_str(x.shape()));
  const BatchNormOptions& o = bn.options;
  bool use_batch_stats = bn.is_training() || !o.track_running_stats();
  if (bn.is_training() && o.track_running_stats() && bn.num_batches_tracked.defined())
    bn.num_batches_tracked[0] += 1.0f;
  if (bn.is_training() && bn.sync_group && bn.sync_group->size() > 1)
    return recorded(bn, x,
                    sync_batch_norm<real>(x, bn.weight, bn.bias, bn.running_mean, bn.running_var,
                                          *bn.sync_group, o.momentum(), o.eps(), relu));
  Var y = (relu ? batch_norm_relu<real> : batch_norm<real>)(x, bn.weight, bn.bias, bn.running_mean,
                                                            bn.running_var, use_batch_stats,
                                                            o.momentum(), o.eps());
  return recorded(bn, x, y);
}

Var BatchNorm::forward(const Var& x) {
  return batch_norm_forward(*this, x, false);
}
Var BatchNorm::forward_relu(const Var& x) {
  return batch_norm_forward(*this, x, true);
}

int64_t convert_sync_batchnorm(Module& model, std::shared_ptr<dist::Communicator> group) {
  int64_t n = 0;
  model.apply([&](Module& m) {
    if (auto* bn = dynamic_cast<BatchNorm*>(&m)) {
      bn->sync_group = group;
      ++n;
    }
  });
  return n;
}

std::string BatchNorm::extra_repr() const {
  std::ostringstream s;
  s << num_features << ", eps=" << options.eps() << ", momentum=" << options.momentum();
  if (!options.affine()) s << ", affine=False";
  return s.str();
}

// ---- conv + BN ------------------------------------------------------------------------------

bool conv_bn_folds(const Conv2d& conv, const BatchNorm& bn) {
  return !bn.is_training() && !grad_enabled() && bn.options.track_running_stats() &&
         bn.running_mean.defined() && bn.running_var.defined() &&
         bn.num_features == conv.out_channels;
}

static std::pair<Tensor, Tensor> fold(const Conv2d& conv, const BatchNorm& bn) {
  // bn(y) = (y - mean) * s + beta with s = gamma / sqrt(var + eps), y = w * x + b, so
  // bn(y) = (w * s) * x + (b - mean) * s + beta. Scales in double, as the unfused BN does.
  const Tensor& w = conv.weight.value();
  const int64_t cout = conv.out_channels, per_out = w.numel() / cout;
  Tensor wf = Tensor::empty(w.shape()), bf = Tensor::empty({cout});
  const real* gamma = bn.weight.defined() ? bn.weight.value().data() : nullptr;
  const real* beta = bn.bias.defined() ? bn.bias.value().data() : nullptr;
  const real* b = conv.bias.defined() ? conv.bias.value().data() : nullptr;
  const real* mean = bn.running_mean.data();
  const real* var = bn.running_var.data();
  for (int64_t o = 0; o < cout; ++o) {
    const double s = (gamma ? gamma[o] : 1.0) / std::sqrt(double(var[o]) + bn.options.eps());
    const real sf = static_cast<real>(s);
    const real* src = w.data() + o * per_out;
    real* dst = wf.data() + o * per_out;
    for (int64_t i = 0; i < per_out; ++i) dst[i] = src[i] * sf;
    bf.data()[o] = static_cast<real>(((b ? b[o] : 0.0) - mean[o]) * s + (beta ? beta[o] : 0.0));
  }
  return {std::move(wf), std::move(bf)};
}

std::pair<Tensor, Tensor> BatchNorm::folded(const Conv2d& conv) const {
  if (!prepared_for_inference() || !conv.prepared_for_inference()) return fold(conv, *this);
  std::lock_guard<std::mutex> guard(fold_cache_->lock);
  if (fold_cache_->conv != &conv) {
    auto [w, b] = fold(conv, *this);
    fold_cache_->weight = std::move(w);
    fold_cache_->bias = std::move(b);
    fold_cache_->conv = &conv;
  }
  return {fold_cache_->weight, fold_cache_->bias};
}

void BatchNorm::on_weights_may_change() {
  std::lock_guard<std::mutex> guard(fold_cache_->lock);
  fold_cache_->conv = nullptr;
  fold_cache_->weight = fold_cache_->bias = Tensor();
}

// The fold itself: conv_bn at inference.
static Var conv_bn_folded(Conv2d& conv, BatchNorm& bn, const Var& x) {
  auto [w, b] = bn.folded(conv);
  Var y = conv2d(x, Var(std::move(w)), Var(std::move(b)), conv.options);
  record_layer(conv, x.shape(), y.shape(), conv_macs(conv, y.shape()));
  return recorded(bn, y, y);
}

std::shared_ptr<Conv2d> conv3x3(int64_t in_channels, int64_t out_channels, int64_t stride,
                                int64_t groups) {
  return std::make_shared<Conv2d>(Conv2dOptions(in_channels, out_channels, 3)
                                      .stride(stride)
                                      .padding(1)
                                      .groups(groups)
                                      .bias(false));
}

std::shared_ptr<Conv2d> conv1x1(int64_t in_channels, int64_t out_channels, int64_t stride) {
  return std::make_shared<Conv2d>(
      Conv2dOptions(in_channels, out_channels, 1).stride(stride).bias(false));
}

Var conv_bn(Conv2d& conv, BatchNorm& bn, const Var& x) {
  return conv_bn_folds(conv, bn) ? conv_bn_folded(conv, bn, x) : bn.forward(conv.forward(x));
}

Var conv_bn_relu(Conv2d& conv, BatchNorm& bn, const Var& x) {
  return conv_bn_folds(conv, bn) ? relu(conv_bn_folded(conv, bn, x))
                                 : bn.forward_relu(conv.forward(x));
}

// ---- ConvBnAct -------------------------------------------------------------------------------

ConvBnAct::ConvBnAct(const ConvBnActOptions& options) : activation(options.activation()) {
  conv = register_module("conv", std::make_shared<Conv2d>(options.conv()));
  bn = register_module("bn",
                       std::make_shared<BatchNorm>(options.conv().out_channels(), options.bn()));
}

Var ConvBnAct::forward(const Var& x) {
  return activation == Activation::ReLU ? conv_bn_relu(*conv, *bn, x) : conv_bn(*conv, *bn, x);
}

std::string ConvBnAct::extra_repr() const {
  return conv->extra_repr() + ", eps=" + std::to_string(bn->options.eps()) +
         (activation == Activation::ReLU ? ", ReLU" : ", no activation");
}

// ---- Linear ----------------------------------------------------------------------------------

Linear::Linear(int64_t in_features, int64_t out_features, bool has_bias)
    : in_features(in_features), out_features(out_features) {
  check(in_features > 0 && out_features > 0, "Linear: features must be positive");
  Tensor w = Tensor::empty({out_features, in_features});
  init::kaiming_uniform(w, init::FanMode::FanIn, std::sqrt(5.0));
  weight = register_parameter("weight", w);
  if (has_bias) {
    double bound = 1.0 / std::sqrt(static_cast<double>(in_features));
    Tensor b = Tensor::empty({out_features});
    init::uniform(b, -bound, bound);
    bias = register_parameter("bias", b);
  }
}

Var Linear::forward(const Var& x) {
  Var y = linear(x, weight, bias);
  return recorded(*this, x, y, y.size(0) * in_features * out_features);
}

std::string Linear::extra_repr() const {
  return "in_features=" + std::to_string(in_features) +
         ", out_features=" + std::to_string(out_features) + (bias.defined() ? "" : ", bias=False");
}

// ---- activations -----------------------------------------------------------------------------

Var ReLU::forward(const Var& x) {
  return recorded(*this, x, relu(x));
}
Var LeakyReLU::forward(const Var& x) {
  return recorded(*this, x, leaky_relu(x, negative_slope));
}
Var Sigmoid::forward(const Var& x) {
  return recorded(*this, x, sigmoid(x));
}
Var Tanh::forward(const Var& x) {
  return recorded(*this, x, cnnzoo::tanh(x));
}

PReLU::PReLU(int64_t num_parameters, double init) {
  check(num_parameters > 0, "PReLU: num_parameters must be positive");
  weight = register_parameter("weight", Tensor::full({num_parameters}, static_cast<real>(init)));
}
Var PReLU::forward(const Var& x) {
  return recorded(*this, x, prelu(x, weight));
}

// ---- pooling, normalisation, dropout, reshaping ----------------------------------------------

MaxPool2d::MaxPool2d(Size2 kernel_size, Size2 stride, Padding2d padding, bool ceil_mode) {
  options.kernel_size = kernel_size;
  options.stride = stride;
  options.padding = padding;
  options.ceil_mode = ceil_mode;
}
Var MaxPool2d::forward(const Var& x) {
  return recorded(*this, x, max_pool2d(x, options));
}
std::string MaxPool2d::extra_repr() const {
  return "kernel_size=" + size2(options.kernel_size) +
         ", stride=" + size2(options.stride.h ? options.stride : options.kernel_size) +
         ", padding=" + pad_str(options.padding) + (options.ceil_mode ? ", ceil_mode=True" : "");
}

AvgPool2d::AvgPool2d(Size2 kernel_size, Size2 stride, Padding2d padding, bool ceil_mode,
                     bool count_include_pad) {
  options.kernel_size = kernel_size;
  options.stride = stride;
  options.padding = padding;
  options.ceil_mode = ceil_mode;
  options.count_include_pad = count_include_pad;
}
Var AvgPool2d::forward(const Var& x) {
  return recorded(*this, x, avg_pool2d(x, options));
}
std::string AvgPool2d::extra_repr() const {
  return "kernel_size=" + size2(options.kernel_size) +
         ", stride=" + size2(options.stride.h ? options.stride : options.kernel_size) +
         ", padding=" + pad_str(options.padding);
}

Var AdaptiveAvgPool2d::forward(const Var& x) {
  return recorded(*this, x, adaptive_avg_pool2d(x, output_size));
}

Var LocalResponseNorm::forward(const Var& x) {
  return recorded(*this, x, local_response_norm(x, size, alpha, beta, k));
}

Dropout::Dropout(double p) : p(p) {
  check(p >= 0.0 && p < 1.0, "Dropout: p must be in [0, 1), got " + std::to_string(p));
}
Var Dropout::forward(const Var& x) {
  return recorded(*this, x, dropout(x, p, is_training(), global_generator()));
}
std::string Dropout::extra_repr() const {
  return "p=" + std::to_string(p);
}

Var Flatten::forward(const Var& x) {
  return recorded(*this, x, flatten(x, start_dim));
}

}  // namespace cnnzoo::nn
