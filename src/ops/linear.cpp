// Fully connected layer: argument checks, the forward call into the GEMM kernels
// (src/kernels/linear.cpp) and the backward lambda.
#include "cnnzoo/ops/linear.hpp"

#include <utility>

#include "kernels/kernels.hpp"

namespace cnnzoo {

template <class T>
VarT<T> linear(const VarT<T>& x, const VarT<T>& weight, const VarT<T>& bias) {
  check(x.defined() && weight.defined(), "linear: undefined input or weight");
  check(x.dim() == 2, "linear: input must be [N, in], got " + x.value().shape_str());
  check(weight.dim() == 2, "linear: weight must be [out, in], got " + weight.value().shape_str());
  check(x.size(1) == weight.size(1), "linear: input " + x.value().shape_str() +
                                         " does not match weight " + weight.value().shape_str());
  const int64_t batch = x.size(0), in = x.size(1), out = weight.size(0);
  const bool has_bias = bias.defined();
  if (has_bias)
    check(bias.dim() == 1 && bias.size(0) == out, "linear: bias " + bias.value().shape_str() +
                                                      " does not match weight " +
                                                      weight.value().shape_str());

  const kernels::LinearGeometry g{batch, in, out};
  TensorT<T> y = TensorT<T>::empty({batch, out});
  kernels::linear_forward<T>(g, x.value().data(), weight.value().data(),
                             has_bias ? bias.value().data() : nullptr, y.data());

  // dX needs W and dW needs X: keep each only when the other side wants a gradient.
  TensorT<T> xv = weight.requires_grad() ? x.value() : TensorT<T>();
  TensorT<T> wv = x.requires_grad() ? weight.value() : TensorT<T>();
  return make_result<T>(std::move(y), {x, weight, bias}, "linear", [xv, wv, g](Node<T>& n) {
    const bool want_dx = n.input_needs_grad(0), want_dw = n.input_needs_grad(1);
    const bool want_db = n.input_needs_grad(2);
    TensorT<T> dx, dw, db;
    if (want_dx) dx = TensorT<T>::empty({g.batch, g.in});
    if (want_dw) dw = TensorT<T>::empty({g.out, g.in});
    if (want_db) db = TensorT<T>::empty({g.out});
    kernels::linear_backward<T>(g, xv.data(), wv.data(), n.grad.data(),
                                want_dx ? dx.data() : nullptr, want_dw ? dw.data() : nullptr,
                                want_db ? db.data() : nullptr);
    if (want_dx) n.inputs[0]->accumulate(std::move(dx));
    if (want_dw) n.inputs[1]->accumulate(std::move(dw));
    if (want_db) n.inputs[2]->accumulate(std::move(db));
  });
}

template VarT<float> linear(const VarT<float>&, const VarT<float>&, const VarT<float>&);
template VarT<double> linear(const VarT<double>&, const VarT<double>&, const VarT<double>&);

}  // namespace cnnzoo
