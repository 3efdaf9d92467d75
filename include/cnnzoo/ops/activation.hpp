// Element-wise activations.
#pragma once
#include "cnnzoo/autograd.hpp"

namespace cnnzoo {

template <class T>
VarT<T> relu(const VarT<T>& x);
// A temporary input (relu(bn(x)), relu(a + b)) whose value nothing else can read is
// overwritten in place: no new buffer, one pass less over cold memory.
template <class T>
VarT<T> relu(VarT<T>&& x);
template <class T>
VarT<T> leaky_relu(const VarT<T>& x, double negative_slope = 0.01);
// PReLU: weight has 1 element (shared) or C elements (per channel of x's dim 1).
template <class T>
VarT<T> prelu(const VarT<T>& x, const VarT<T>& weight);
template <class T>
VarT<T> sigmoid(const VarT<T>& x);
template <class T>
VarT<T> tanh(const VarT<T>& x);

}  // namespace cnnzoo
