// Element-wise activations (relu, leaky_relu, prelu, sigmoid, tanh): forward kernels and
// their backward lambdas side by side.
#include "cnnzoo/ops/activation.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "export/trace.hpp"
#include "kernels/kernels.hpp"
#include "parallel_for.hpp"

namespace cnnzoo {

namespace {

// Element-wise work is memory bound: a second thread only pays off on larger tensors.
constexpr int64_t kMinPerThread = 1 << 14;

}  // namespace

namespace {

// The backward of an activation whose derivative follows from its output y:
// dx[i] = dx_of(y[i], dy[i]), written over dy when the node owns it (grad_buffer).
template <class T, class F>
void backward_from_output(Node<T>& n, F dx_of) {
  if (!n.input_needs_grad(0)) return;
  const T* py = n.value.data();
  const T* pdy = n.grad.data();
  TensorT<T> g = grad_buffer(n);
  T* pg = g.data();
  parallel_chunks(
      g.numel(),
      [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) pg[i] = dx_of(py[i], pdy[i]);
      },
      kMinPerThread);
  n.inputs[0]->accumulate(std::move(g));
}

// y = max(x, 0) (y may be x), and the node whose backward masks dy by y > 0.
template <class T>
VarT<T> relu_result(const VarT<T>& x, TensorT<T> y) {
  const T* px = x.value().data();
  T* py = y.data();
  parallel_chunks(
      y.numel(),
      [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) py[i] = px[i] < T(0) ? T(0) : px[i];  // NaN passes
      },
      kMinPerThread);
  // The output alone tells where x > 0, so nothing needs to be captured.
  return make_result<T>(
      std::move(y), {x}, "relu",
      [](Node<T>& n) {
        // dy is passed whether or not y > 0, so the select vectorises instead of branching
        // on the (random) sign.
        backward_from_output(n, [](T y, T dy) { return y > T(0) ? dy : T(0); });
      },
      /*keep_value=*/true);  // the backward reads the output
}

}  // namespace

template <class T>
VarT<T> relu(const VarT<T>& x) {
  check(x.defined(), "relu: undefined input");
  return relu_result(x, TensorT<T>::empty(x.value().shape()));
}

template <class T>
VarT<T> relu(VarT<T>&& x) {
  check(x.defined(), "relu: undefined input");
  if (!value_reusable(x)) return relu(static_cast<const VarT<T>&>(x));
  TensorT<T> y = x.value();
  return relu_result(x, std::move(y));
}

template <class T>
VarT<T> leaky_relu(const VarT<T>& x, double negative_slope) {
  check(x.defined(), "leaky_relu: undefined input");
  const TensorT<T>& xv = x.value();
  TensorT<T> y = TensorT<T>::empty(xv.shape());
  const T slope = static_cast<T>(negative_slope);
  const T* px = xv.data();
  T* py = y.data();
  parallel_chunks(
      xv.numel(),
      [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) py[i] = px[i] > T(0) ? px[i] : px[i] * slope;
      },
      kMinPerThread);
  // x, not y: with a negative slope the sign of y no longer tells the branch.
  trace::next<T>([&] { return trace::Attributes{{}, {{"negative_slope", negative_slope}}, {}}; });
  return make_result<T>(std::move(y), {x}, "leaky_relu", [xv, slope](Node<T>& n) {
    if (!n.input_needs_grad(0)) return;
    TensorT<T> g = TensorT<T>::empty(xv.shape());
    const T* px = xv.data();
    const T* pdy = n.grad.data();
    T* pg = g.data();
    parallel_chunks(
        g.numel(),
        [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) pg[i] = px[i] > T(0) ? pdy[i] : pdy[i] * slope;
        },
        kMinPerThread);
    n.inputs[0]->accumulate(std::move(g));
  });
}

template <class T>
VarT<T> prelu(const VarT<T>& x, const VarT<T>& weight) {
  check(x.defined() && weight.defined(), "prelu: undefined input or weight");
  const TensorT<T>& xv = x.value();
  const TensorT<T>& wv = weight.value();
  // As in PyTorch: channels are dim 1; inputs of rank < 2 have a single channel.
  const int64_t channels = xv.dim() >= 2 ? xv.size(1) : 1;
  const int64_t wn = wv.numel();
  check(wv.dim() <= 1 && (wn == 1 || wn == channels),
        "prelu: weight " + wv.shape_str() + " must have 1 or " + std::to_string(channels) +
            " elements for input " + xv.shape_str());
  const int64_t batch = xv.dim() >= 2 ? xv.size(0) : 1;
  const int64_t inner = channels == 0 || batch == 0 ? 0 : xv.numel() / (batch * channels);
  const bool shared = wn == 1;

  TensorT<T> y = TensorT<T>::empty(xv.shape());
  const T* px = xv.data();
  const T* pw = wv.data();
  T* py = y.data();
  parallel_items(batch * channels, inner, [&](int64_t plane) {
    const T w = pw[shared ? 0 : plane % channels];
    const T* xp = px + plane * inner;
    T* yp = py + plane * inner;
    for (int64_t i = 0; i < inner; ++i) yp[i] = xp[i] > T(0) ? xp[i] : xp[i] * w;
  });

  return make_result<T>(
      std::move(y), {x, weight}, "prelu", [xv, wv, batch, channels, inner, shared](Node<T>& n) {
        const bool need_x = n.input_needs_grad(0), need_w = n.input_needs_grad(1);
        const T* px = xv.data();
        const T* pw = wv.data();
        const T* pdy = n.grad.data();
        TensorT<T> gx = need_x ? TensorT<T>::empty(xv.shape()) : TensorT<T>();
        T* pgx = gx.data();
        // Per-channel sums even for a shared weight: channels run in parallel without
        // contention, and the shared gradient is their total.
        TensorT<T> gw_channel = need_w ? TensorT<T>::empty({channels}) : TensorT<T>();
        T* pgw = gw_channel.data();
        parallel_items(channels, batch * inner, [&](int64_t c) {
          const T w = pw[shared ? 0 : c];
          double wsum = 0;
          for (int64_t b = 0; b < batch; ++b) {
            const int64_t off = (b * channels + c) * inner;
            const T* xp = px + off;
            const T* dyp = pdy + off;
            if (need_x) {
              T* gp = pgx + off;
              for (int64_t i = 0; i < inner; ++i) gp[i] = xp[i] > T(0) ? dyp[i] : dyp[i] * w;
            }
            if (need_w) {
              T s = 0;
#pragma omp simd reduction(+ : s)
              for (int64_t i = 0; i < inner; ++i) {
                const T p = dyp[i] * xp[i];
                s += xp[i] > T(0) ? T(0) : p;
              }
              wsum += s;
            }
          }
          if (need_w) pgw[c] = static_cast<T>(wsum);
        });
        if (need_x) n.inputs[0]->accumulate(std::move(gx));
        if (need_w) {
          TensorT<T> gw = TensorT<T>::empty(wv.shape());
          if (shared) {
            double total = 0;
            for (int64_t c = 0; c < channels; ++c) total += pgw[c];
            gw[0] = static_cast<T>(total);
          } else {
            gw.copy_from(gw_channel);
          }
          n.inputs[1]->accumulate(std::move(gw));
        }
      });
}

template <class T>
VarT<T> sigmoid(const VarT<T>& x) {
  check(x.defined(), "sigmoid: undefined input");
  const TensorT<T>& xv = x.value();
  TensorT<T> y = TensorT<T>::empty(xv.shape());
  const T* px = xv.data();
  T* py = y.data();
  parallel_chunks(
      xv.numel(), [&](int64_t b, int64_t e) { kernels::vec_logistic(px + b, py + b, e - b); },
      kMinPerThread);
  return make_result<T>(
      std::move(y), {x}, "sigmoid",
      [](Node<T>& n) { backward_from_output(n, [](T y, T dy) { return dy * y * (T(1) - y); }); },
      /*keep_value=*/true);  // the backward reads the output
}

template <class T>
VarT<T> tanh(const VarT<T>& x) {
  check(x.defined(), "tanh: undefined input");
  const TensorT<T>& xv = x.value();
  TensorT<T> y = TensorT<T>::empty(xv.shape());
  const T* px = xv.data();
  T* py = y.data();
  parallel_chunks(
      xv.numel(), [&](int64_t b, int64_t e) { kernels::vec_tanh(px + b, py + b, e - b); },
      kMinPerThread);
  return make_result<T>(
      std::move(y), {x}, "tanh",
      [](Node<T>& n) { backward_from_output(n, [](T y, T dy) { return dy * (T(1) - y * y); }); },
      /*keep_value=*/true);  // the backward reads the output
}

#define CNNZOO_INSTANTIATE(T)                                \
  template VarT<T> relu<T>(const VarT<T>&);                  \
  template VarT<T> relu<T>(VarT<T> &&);                      \
  template VarT<T> leaky_relu<T>(const VarT<T>&, double);    \
  template VarT<T> prelu<T>(const VarT<T>&, const VarT<T>&); \
  template VarT<T> sigmoid<T>(const VarT<T>&);               \
  template VarT<T> tanh<T>(const VarT<T>&);
CNNZOO_INSTANTIATE(float)
CNNZOO_INSTANTIATE(double)
#undef CNNZOO_INSTANTIATE

}  // namespace cnnzoo
