// Element-wise arithmetic and reductions: residual additions, gates, SE scaling, weighted
// residuals.
#pragma once
#include "cnnzoo/autograd.hpp"

namespace cnnzoo {

template <class T>
VarT<T> add(const VarT<T>& a, const VarT<T>& b);  // same shape
// With a temporary a (add(bn(conv(h)), shortcut)) the sum is written over a's value when
// nothing else can read it (value_reusable).
template <class T>
VarT<T> add(VarT<T>&& a, const VarT<T>& b);
template <class T>
VarT<T> sub(const VarT<T>& a, const VarT<T>& b);  // same shape
template <class T>
VarT<T> mul(const VarT<T>& a, const VarT<T>& b);  // same shape, element-wise
// x [N, C, ...] times s of shape [N, C], [N, C, 1, 1] or [C]: one factor per channel
// (squeeze-and-excitation, gates).
template <class T>
VarT<T> mul_channel(const VarT<T>& x, const VarT<T>& s);
template <class T>
VarT<T> scale(const VarT<T>& x, double alpha);  // alpha * x
// alpha * x with a learnable one-element alpha (weighted residuals).
template <class T>
VarT<T> scale(const VarT<T>& x, const VarT<T>& alpha);
template <class T>
VarT<T> add_scalar(const VarT<T>& x, double c);  // x + c
template <class T>
VarT<T> sum(const VarT<T>& x);  // all elements -> shape []
template <class T>
VarT<T> mean(const VarT<T>& x);  // all elements -> shape []

template <class T>
VarT<T> operator+(const VarT<T>& a, const VarT<T>& b) {
  return add(a, b);
}
template <class T>
VarT<T> operator-(const VarT<T>& a, const VarT<T>& b) {
  return sub(a, b);
}
template <class T>
VarT<T> operator*(const VarT<T>& a, const VarT<T>& b) {
  return mul(a, b);
}

}  // namespace cnnzoo
