// Fully connected layer: y = x W^T + b, x [N, in], W [out, in], b [out] (optional).
#pragma once
#include "cnnzoo/autograd.hpp"

namespace cnnzoo {

template <class T>
VarT<T> linear(const VarT<T>& x, const VarT<T>& weight, const VarT<T>& bias);

}  // namespace cnnzoo
