// Swish (SiLU): y = x * sigmoid(x), an op with its own forward and backward on cnnzoo's
// autograd, and a block that uses it.
#pragma once
#include <cmath>

#include "cnnzoo/autograd.hpp"
#include "cnnzoo/nn/layers.hpp"

namespace custom {

using namespace cnnzoo;

template <class T>
T sigmoid_of(T v) {
  return T(1) / (T(1) + std::exp(-v));
}

// dy/dx = s + x s (1 - s), s = sigmoid(x). `planted_bug` drops the second term: the wrong
// backward the gradient check must catch.
template <class T>
VarT<T> swish(const VarT<T>& x, bool planted_bug = false) {
  const TensorT<T>& xv = x.value();
  TensorT<T> y = TensorT<T>::empty(xv.shape());
  for (int64_t i = 0; i < xv.numel(); ++i) y[i] = xv[i] * sigmoid_of(xv[i]);
  return make_result<T>(std::move(y), {x}, "swish", [xv, planted_bug](Node<T>& n) {
    if (!n.input_needs_grad(0)) return;
    TensorT<T> dx = TensorT<T>::empty(xv.shape());
    for (int64_t i = 0; i < xv.numel(); ++i) {
      const T s = sigmoid_of(xv[i]);
      dx[i] = n.grad[i] * (planted_bug ? s : s + xv[i] * s * (T(1) - s));
    }
    n.inputs[0]->accumulate(std::move(dx));
  });
}

// conv 3x3 -> Swish, a block built on the op.
class ConvSwish : public nn::Module {
 public:
  ConvSwish(int64_t in, int64_t out)
      : conv(std::make_shared<nn::Conv2d>(nn::Conv2dOptions(in, out, 3).padding(1))) {
    register_module("conv", conv);
  }
  Var forward(const Var& x) override { return swish(conv->forward(x)); }

 private:
  std::shared_ptr<nn::Conv2d> conv;
};

}  // namespace custom
