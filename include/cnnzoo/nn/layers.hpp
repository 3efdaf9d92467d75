// Layer modules over the ops. Layers take channels and kernel geometry, never spatial sizes;
// initialisation follows PyTorch's defaults unless a model re-initialises.
#pragma once
#include "cnnzoo/distributed.hpp"
#include "cnnzoo/nn/module.hpp"
#include "cnnzoo/ops/conv.hpp"
#include "cnnzoo/ops/pool.hpp"

namespace cnnzoo::nn {

// A conv layer's configuration, chainable, with PyTorch's names:
// Conv2dOptions(16, 32, 3).stride(2).padding(1).bias(false). The bias is on by default.
class Conv2dOptions {
 public:
  Conv2dOptions(int64_t in_channels, int64_t out_channels, Size2 kernel_size)
      : in_channels_(in_channels), out_channels_(out_channels), kernel_size_(kernel_size) {}
  Conv2dOptions& stride(Size2 v) {
    params_.stride = v;
    return *this;
  }
  Conv2dOptions& padding(Padding2d v) {
    params_.padding = v;
    return *this;
  }
  Conv2dOptions& dilation(Size2 v) {
    params_.dilation = v;
    return *this;
  }
  Conv2dOptions& groups(int64_t v) {
    params_.groups = v;
    return *this;
  }
  Conv2dOptions& bias(bool v) {
    params_.bias = v;
    return *this;
  }
  int64_t in_channels() const { return in_channels_; }
  int64_t out_channels() const { return out_channels_; }
  Size2 kernel_size() const { return kernel_size_; }
  Size2 stride() const { return params_.stride; }
  Padding2d padding() const { return params_.padding; }
  Size2 dilation() const { return params_.dilation; }
  int64_t groups() const { return params_.groups; }
  bool bias() const { return params_.bias; }
  const Conv2dParams& params() const { return params_; }

 private:
  int64_t in_channels_, out_channels_;
  Size2 kernel_size_;
  Conv2dParams params_;
};

class Conv2d : public Module {
 public:
  explicit Conv2d(const Conv2dOptions& options)
      : Conv2d(options.in_channels(), options.out_channels(), options.kernel_size(),
               options.params()) {}
  Conv2d(int64_t in_channels, int64_t out_channels, Size2 kernel_size,
         const Conv2dParams& options = {});
  Var forward(const Var& x) override;
  std::string type_name() const override { return "Conv2d"; }
  std::string extra_repr() const override;
  int64_t in_channels, out_channels;
  Size2 kernel_size;
  Conv2dParams options;
  Var weight, bias;  // bias undefined when options.bias is false
};

// Chainable, with PyTorch's names and defaults: BatchNormOptions().eps(1e-3).momentum(0.01).
class BatchNormOptions {
 public:
  BatchNormOptions& eps(double v) {
    eps_ = v;
    return *this;
  }
  BatchNormOptions& momentum(double v) {
    momentum_ = v;
    return *this;
  }
  BatchNormOptions& affine(bool v) {
    affine_ = v;
    return *this;
  }
  BatchNormOptions& track_running_stats(bool v) {
    track_running_stats_ = v;
    return *this;
  }
  double eps() const { return eps_; }
  double momentum() const { return momentum_; }
  bool affine() const { return affine_; }
  bool track_running_stats() const { return track_running_stats_; }

 private:
  double eps_ = 1e-5;
  double momentum_ = 0.1;
  bool affine_ = true;
  bool track_running_stats_ = true;
};

// Batch normalisation over dim 1 of [N, C, H, W] or [N, C] (PyTorch's BatchNorm2d/1d).
class BatchNorm : public Module {
 public:
  explicit BatchNorm(int64_t num_features, const BatchNormOptions& options = {});
  Var forward(const Var& x) override;
  Var forward_relu(const Var& x);  // relu(forward(x)) in one fused op
  std::string type_name() const override { return "BatchNorm"; }
  std::string extra_repr() const override;
  int64_t num_features;
  BatchNormOptions options;
  Var weight, bias;
  Tensor running_mean, running_var, num_batches_tracked;
  // In training, normalise with the statistics of the batch of every process in this group
  // (ops/batchnorm.hpp, sync_batch_norm); null: this process's batch alone.
  std::shared_ptr<dist::Communicator> sync_group;

  // The weight and bias of `conv` followed by this BN at inference, (w * s, (b - mean) * s +
  // beta) with s = gamma / sqrt(var + eps). Derived once and kept while both modules are
  // prepared for inference (Module::prepare_for_inference), on every call otherwise.
  std::pair<Tensor, Tensor> folded(const Conv2d& conv) const;

 protected:
  void on_weights_may_change() override;

 private:
  struct FoldCache;
  std::shared_ptr<FoldCache> fold_cache_;
};
using BatchNorm2d = BatchNorm;
using BatchNorm1d = BatchNorm;

// Makes every BatchNorm in `model` synchronise its training statistics over `group` (null:
// back to local statistics), like PyTorch's SyncBatchNorm.convert_sync_batchnorm; returns how
// many it changed.
int64_t convert_sync_batchnorm(Module& model, std::shared_ptr<dist::Communicator> group);

// The bias-free 3x3 (padding 1) and 1x1 convolutions residual networks are built from: a
// batch norm follows each (or the sum each feeds), which makes a bias redundant.
std::shared_ptr<Conv2d> conv3x3(int64_t in_channels, int64_t out_channels, int64_t stride = 1,
                                int64_t groups = 1);
std::shared_ptr<Conv2d> conv1x1(int64_t in_channels, int64_t out_channels, int64_t stride = 1);

// bn(conv(x)), the pair every post-activation block is made of. At inference (bn in eval mode
// with running statistics, no gradient being recorded) bn is an affine map per channel, so it
// is folded into the conv's weights and bias: one pass over the output instead of two.
Var conv_bn(Conv2d& conv, BatchNorm& bn, const Var& x);
Var conv_bn_relu(Conv2d& conv, BatchNorm& bn, const Var& x);  // relu(conv_bn(...)), fused
bool conv_bn_folds(const Conv2d& conv, const BatchNorm& bn);  // whether conv_bn folds, now

enum class Activation { None, ReLU };

// ConvBnAct's configuration, chainable: the conv's fields (PyTorch's names; no bias, the BN's
// shift takes its place), the BN's eps and momentum, and the activation after the BN:
// ConvBnActOptions(64, 192, 3).padding(1).eps(1e-3).
class ConvBnActOptions {
 public:
  ConvBnActOptions(int64_t in_channels, int64_t out_channels, Size2 kernel_size)
      : conv_(Conv2dOptions(in_channels, out_channels, kernel_size).bias(false)) {}
  ConvBnActOptions& stride(Size2 v) {
    conv_.stride(v);
    return *this;
  }
  ConvBnActOptions& padding(Padding2d v) {
    conv_.padding(v);
    return *this;
  }
  ConvBnActOptions& dilation(Size2 v) {
    conv_.dilation(v);
    return *this;
  }
  ConvBnActOptions& groups(int64_t v) {
    conv_.groups(v);
    return *this;
  }
  ConvBnActOptions& eps(double v) {
    bn_.eps(v);
    return *this;
  }
  ConvBnActOptions& momentum(double v) {
    bn_.momentum(v);
    return *this;
  }
  ConvBnActOptions& activation(Activation v) {
    activation_ = v;
    return *this;
  }
  const Conv2dOptions& conv() const { return conv_; }
  const BatchNormOptions& bn() const { return bn_; }
  Activation activation() const { return activation_; }

 private:
  Conv2dOptions conv_;
  BatchNormOptions bn_;
  Activation activation_ = Activation::ReLU;
};

// conv -> BN -> activation, the unit most of the zoo is built from. The children are named
// "conv" and "bn" (torchvision's BasicConv2d keys). At inference the BN folds into the conv.
class ConvBnAct : public Module {
 public:
  explicit ConvBnAct(const ConvBnActOptions& options);
  Var forward(const Var& x) override;
  std::string type_name() const override { return "ConvBnAct"; }
  std::string extra_repr() const override;
  std::shared_ptr<Conv2d> conv;
  std::shared_ptr<BatchNorm> bn;
  Activation activation;
};

class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true);
  Var forward(const Var& x) override;
  std::string type_name() const override { return "Linear"; }
  std::string extra_repr() const override;
  int64_t in_features, out_features;
  Var weight, bias;
};

class ReLU : public Module {
 public:
  Var forward(const Var& x) override;
  std::string type_name() const override { return "ReLU"; }
};

class LeakyReLU : public Module {
 public:
  explicit LeakyReLU(double negative_slope = 0.01) : negative_slope(negative_slope) {}
  Var forward(const Var& x) override;
  std::string type_name() const override { return "LeakyReLU"; }
  double negative_slope;
};

// PReLU with one shared slope (num_parameters = 1) or one per channel.
class PReLU : public Module {
 public:
  explicit PReLU(int64_t num_parameters = 1, double init = 0.25);
  Var forward(const Var& x) override;
  std::string type_name() const override { return "PReLU"; }
  Var weight;
};

class Sigmoid : public Module {
 public:
  Var forward(const Var& x) override;
  std::string type_name() const override { return "Sigmoid"; }
};

class Tanh : public Module {
 public:
  Var forward(const Var& x) override;
  std::string type_name() const override { return "Tanh"; }
};

class MaxPool2d : public Module {
 public:
  explicit MaxPool2d(const Pool2dOptions& options) : options(options) {}
  MaxPool2d(Size2 kernel_size, Size2 stride = {0, 0}, Padding2d padding = 0,
            bool ceil_mode = false);
  Var forward(const Var& x) override;
  std::string type_name() const override { return "MaxPool2d"; }
  std::string extra_repr() const override;
  Pool2dOptions options;
};

class AvgPool2d : public Module {
 public:
  explicit AvgPool2d(const Pool2dOptions& options) : options(options) {}
  AvgPool2d(Size2 kernel_size, Size2 stride = {0, 0}, Padding2d padding = 0, bool ceil_mode = false,
            bool count_include_pad = true);
  Var forward(const Var& x) override;
  std::string type_name() const override { return "AvgPool2d"; }
  std::string extra_repr() const override;
  Pool2dOptions options;
};

class AdaptiveAvgPool2d : public Module {
 public:
  explicit AdaptiveAvgPool2d(Size2 output_size) : output_size(output_size) {}
  Var forward(const Var& x) override;
  std::string type_name() const override { return "AdaptiveAvgPool2d"; }
  Size2 output_size;
};

class LocalResponseNorm : public Module {
 public:
  explicit LocalResponseNorm(int64_t size, double alpha = 1e-4, double beta = 0.75, double k = 1.0)
      : size(size), alpha(alpha), beta(beta), k(k) {}
  Var forward(const Var& x) override;
  std::string type_name() const override { return "LocalResponseNorm"; }
  int64_t size;
  double alpha, beta, k;
};

// Inverted dropout driven by the global generator in training mode.
class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5);
  Var forward(const Var& x) override;
  std::string type_name() const override { return "Dropout"; }
  std::string extra_repr() const override;
  double p;
};

class Flatten : public Module {
 public:
  explicit Flatten(int64_t start_dim = 1) : start_dim(start_dim) {}
  Var forward(const Var& x) override;
  std::string type_name() const override { return "Flatten"; }
  int64_t start_dim;
};

}  // namespace cnnzoo::nn
