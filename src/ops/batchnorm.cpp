// Batch normalisation and local response normalisation: argument checks, the forward call
// into the kernels (src/kernels/batchnorm.cpp) and the backward lambdas side by side.
#include "cnnzoo/ops/batchnorm.hpp"

#include <string>
#include <utility>

#include "cnnzoo/distributed.hpp"
#include "export/trace.hpp"
#include "kernels/kernels.hpp"

namespace cnnzoo {

using kernels::ChannelLayout;

namespace {

ChannelLayout channel_layout(const Shape& s) {
  ChannelLayout l{s[0], s[1], 1};
  for (size_t d = 2; d < s.size(); ++d) l.inner *= s[d];
  return l;
}

void check_channel_vector(const Shape& s, int64_t channels, const char* what, const Shape& x) {
  check(s.size() == 1 && s[0] == channels, std::string("batch_norm: ") + what + " " + shape_str(s) +
                                               " does not match input " + shape_str(x) +
                                               " (expected [" + std::to_string(channels) + "])");
}

}  // namespace

// The checks both batch norms make; returns x's channel layout.
template <class T>
ChannelLayout check_batch_norm_args(const VarT<T>& x, const VarT<T>& weight, const VarT<T>& bias,
                                    const TensorT<T>& running_mean, const TensorT<T>& running_var,
                                    bool training, double momentum, double eps, bool local) {
  check(x.defined(), "batch_norm: undefined input");
  const TensorT<T>& xv = x.value();
  check(xv.dim() == 2 || xv.dim() == 4,
        "batch_norm: expected input [N, C] or [N, C, H, W], got " + xv.shape_str());
  const ChannelLayout l = channel_layout(xv.shape());
  if (weight.defined()) check_channel_vector(weight.shape(), l.channels, "weight", xv.shape());
  if (bias.defined()) check_channel_vector(bias.shape(), l.channels, "bias", xv.shape());
  check(running_mean.defined() == running_var.defined(),
        "batch_norm: running_mean and running_var must both be given or both be omitted");
  if (running_mean.defined()) {
    check_channel_vector(running_mean.shape(), l.channels, "running_mean", xv.shape());
    check_channel_vector(running_var.shape(), l.channels, "running_var", xv.shape());
  }
  check(training || running_mean.defined(),
        "batch_norm: evaluation mode needs running_mean and running_var");
  check(!training || !local || l.per_channel() > 1,
        "batch_norm: training needs more than one value per channel, got input " + xv.shape_str());
  check(eps >= 0 && momentum >= 0 && momentum <= 1,
        "batch_norm: need eps >= 0 and 0 <= momentum <= 1, got eps " + std::to_string(eps) +
            ", momentum " + std::to_string(momentum));

  return l;
}

// A batch norm node's backward: kernel(dy, dx, dgamma, dbeta) fills the gradients its inputs
// need (null for the others), which then go to them. dx may take over dy's storage (each
// channel reads its dy for the sums before writing), so dy's pointer is taken first.
template <class T, class Kernel>
void backward_into_inputs(Node<T>& n, int64_t channels, Kernel&& kernel) {
  const bool need_x = n.input_needs_grad(0);
  const bool need_w = n.input_needs_grad(1), need_b = n.input_needs_grad(2);
  const T* pdy = n.grad.data();
  TensorT<T> gx = need_x ? grad_buffer(n) : TensorT<T>();
  TensorT<T> gw = need_w ? TensorT<T>::empty({channels}) : TensorT<T>();
  TensorT<T> gb = need_b ? TensorT<T>::empty({channels}) : TensorT<T>();
  kernel(pdy, need_x ? gx.data() : nullptr, need_w ? gw.data() : nullptr,
         need_b ? gb.data() : nullptr);
  if (need_x) n.inputs[0]->accumulate(std::move(gx));
  if (need_w) n.inputs[1]->accumulate(std::move(gw));
  if (need_b) n.inputs[2]->accumulate(std::move(gb));
}

// batch_norm, followed by a ReLU when `relu`: the fused form writes max(z, 0) in the same
// pass, and its backward masks dy by z > 0, z recomputed from the saved x, so neither the
// ReLU's pass nor its output is needed.
template <class T>
VarT<T> batch_norm_impl(const VarT<T>& x, const VarT<T>& weight, const VarT<T>& bias,
                        TensorT<T> running_mean, TensorT<T> running_var, bool training,
                        double momentum, double eps, bool relu) {
  const ChannelLayout l = check_batch_norm_args(x, weight, bias, running_mean, running_var,
                                                training, momentum, eps, /*local=*/true);
  const TensorT<T>& xv = x.value();
  TensorT<T> y = TensorT<T>::empty(xv.shape());
  // Statistics the output was normalised with, in double so the backward of a float
  // network does not lose the digits that mean and 1/std carry.
  TensorD mean = TensorD::empty({l.channels});
  TensorD invstd = TensorD::empty({l.channels});
  kernels::batch_norm_forward<T>(l, xv.data(), weight.defined() ? weight.value().data() : nullptr,
                                 bias.defined() ? bias.value().data() : nullptr,
                                 running_mean.defined() ? running_mean.data() : nullptr,
                                 running_var.defined() ? running_var.data() : nullptr, training,
                                 momentum, eps, relu, y.data(), mean.data(), invstd.data());

  TensorT<T> gamma_v = weight.defined() ? weight.value() : TensorT<T>();
  TensorT<T> beta_v = relu && bias.defined() ? bias.value() : TensorT<T>();
  const char* name = relu ? "batch_norm_relu" : "batch_norm";
  auto backward = [xv, gamma_v, beta_v, mean, invstd, l, training, relu](Node<T>& n) {
    backward_into_inputs(n, l.channels, [&](const T* dy, T* dx, T* dgamma, T* dbeta) {
      kernels::batch_norm_backward<T>(l, xv.data(), dy, gamma_v.data(), beta_v.data(), mean.data(),
                                      invstd.data(), training, relu, dx, dgamma, dbeta);
    });
  };
  trace::next<T>([&] {
    trace::Attributes a{{{"training", {training ? 1 : 0}}}, {{"eps", eps}}, {}};
    if constexpr (std::is_same_v<T, real>) a.tensors = {running_mean, running_var};
    return a;
  });
  return make_result<T>(std::move(y), {x, weight, bias}, name, std::move(backward));
}

template <class T>
VarT<T> batch_norm(const VarT<T>& x, const VarT<T>& weight, const VarT<T>& bias,
                   TensorT<T> running_mean, TensorT<T> running_var, bool training, double momentum,
                   double eps) {
  return batch_norm_impl(x, weight, bias, std::move(running_mean), std::move(running_var), training,
                         momentum, eps, false);
}

template <class T>
VarT<T> batch_norm_relu(const VarT<T>& x, const VarT<T>& weight, const VarT<T>& bias,
                        TensorT<T> running_mean, TensorT<T> running_var, bool training,
                        double momentum, double eps) {
  return batch_norm_impl(x, weight, bias, std::move(running_mean), std::move(running_var), training,
                         momentum, eps, true);
}

template <class T>
VarT<T> sync_batch_norm(const VarT<T>& x, const VarT<T>& weight, const VarT<T>& bias,
                        TensorT<T> running_mean, TensorT<T> running_var, dist::Communicator& group,
                        double momentum, double eps, bool relu) {
  const ChannelLayout l = check_batch_norm_args(x, weight, bias, running_mean, running_var,
                                                /*training=*/true, momentum, eps, /*local=*/false);
  const TensorT<T>& xv = x.value();
  TensorT<T> y = TensorT<T>::empty(xv.shape());
  TensorD mean = TensorD::empty({l.channels});
  TensorD invstd = TensorD::empty({l.channels});
  dist::Communicator* g = &group;
  const kernels::SumAcross sum_across = [g](double* data, int64_t n) { g->allreduce_sum(data, n); };
  kernels::batch_norm_forward_across<T>(
      l, xv.data(), weight.defined() ? weight.value().data() : nullptr,
      bias.defined() ? bias.value().data() : nullptr,
      running_mean.defined() ? running_mean.data() : nullptr,
      running_var.defined() ? running_var.data() : nullptr, momentum, eps, relu, sum_across,
      y.data(), mean.data(), invstd.data());

  TensorT<T> gamma_v = weight.defined() ? weight.value() : TensorT<T>();
  TensorT<T> beta_v = relu && bias.defined() ? bias.value() : TensorT<T>();
  // Every process runs this backward (the sums are collective), whether or not its input
  // needs a gradient.
  auto backward = [xv, gamma_v, beta_v, mean, invstd, l, relu, sum_across](Node<T>& n) {
    backward_into_inputs(n, l.channels, [&](const T* dy, T* dx, T* dgamma, T* dbeta) {
      kernels::batch_norm_backward_across<T>(l, xv.data(), dy, gamma_v.data(), beta_v.data(),
                                             mean.data(), invstd.data(), relu, sum_across, dx,
                                             dgamma, dbeta);
    });
  };
  return make_result<T>(std::move(y), {x, weight, bias},
                        relu ? "sync_batch_norm_relu" : "sync_batch_norm", std::move(backward));
}

template <class T>
VarT<T> local_response_norm(const VarT<T>& x, int64_t size, double alpha, double beta, double k) {
  check(x.defined(), "local_response_norm: undefined input");
  const TensorT<T>& xv = x.value();
  check(xv.dim() >= 3,
        "local_response_norm: expected input [N, C, ...] of rank >= 3, got " + xv.shape_str());
  check(size >= 1, "local_response_norm: size must be >= 1, got " + std::to_string(size));
  const ChannelLayout l = channel_layout(xv.shape());

  // scale = k + alpha/size * sum of x^2 over the window; kept for the backward.
  TensorT<T> scale = TensorT<T>::empty(xv.shape());
  TensorT<T> y = TensorT<T>::empty(xv.shape());
  kernels::lrn_forward<T>(l, size, alpha, beta, k, xv.data(), scale.data(), y.data());

  trace::next<T>([&] {
    return trace::Attributes{{{"size", {size}}}, {{"alpha", alpha}, {"beta", beta}, {"k", k}}, {}};
  });
  return make_result<T>(
      std::move(y), {x}, "local_response_norm",
      [xv, scale, l, size, alpha, beta](Node<T>& n) {
        if (!n.input_needs_grad(0)) return;
        TensorT<T> gx = TensorT<T>::empty(xv.shape());
        kernels::lrn_backward<T>(l, size, alpha, beta, xv.data(), scale.data(), n.value.data(),
                                 n.grad.data(), gx.data());
        n.inputs[0]->accumulate(std::move(gx));
      },
      /*keep_value=*/true);  // the backward reads the output
}

#define CNNZOO_INSTANTIATE(T)                                                                     \
  template VarT<T> batch_norm<T>(const VarT<T>&, const VarT<T>&, const VarT<T>&, TensorT<T>,      \
                                 TensorT<T>, bool, double, double);                               \
  template VarT<T> batch_norm_relu<T>(const VarT<T>&, const VarT<T>&, const VarT<T>&, TensorT<T>, \
                                      TensorT<T>, bool, double, double);                          \
  template VarT<T> sync_batch_norm<T>(const VarT<T>&, const VarT<T>&, const VarT<T>&, TensorT<T>, \
                                      TensorT<T>, dist::Communicator&, double, double, bool);     \
  template VarT<T> local_response_norm<T>(const VarT<T>&, int64_t, double, double, double);
CNNZOO_INSTANTIATE(float)
CNNZOO_INSTANTIATE(double)
#undef CNNZOO_INSTANTIATE

}  // namespace cnnzoo
