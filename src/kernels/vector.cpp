// Contiguous-array primitives the element-wise ops need from Eigen: dot product, sum, and the
// vectorised logistic and tanh.
// GCC 12 reports false "may be used uninitialized" warnings inside Eigen's AVX-512 packet
// math (the _mm512_undefined_* idiom) once it is inlined here.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <Eigen/Core>

#include "kernels/kernels.hpp"

namespace cnnzoo::kernels {

namespace {

template <class T>
using ArrayMap = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
template <class T>
using ConstArrayMap = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;
template <class T>
using ConstVec = Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, 1>>;

}  // namespace

template <class T>
T vec_dot(const T* a, const T* b, int64_t n) {
  return ConstVec<T>(a, n).dot(ConstVec<T>(b, n));
}

template <class T>
T vec_sum(const T* a, int64_t n) {
  return ConstVec<T>(a, n).sum();
}

template <class T>
void vec_logistic(const T* x, T* y, int64_t n) {
  ArrayMap<T>(y, n) = ConstArrayMap<T>(x, n).logistic();
}

template <class T>
void vec_tanh(const T* x, T* y, int64_t n) {
  ArrayMap<T>(y, n) = ConstArrayMap<T>(x, n).tanh();
}

#define CNNZOO_INSTANTIATE(T)                        \
  template T vec_dot(const T*, const T*, int64_t);   \
  template T vec_sum(const T*, int64_t);             \
  template void vec_logistic(const T*, T*, int64_t); \
  template void vec_tanh(const T*, T*, int64_t);
CNNZOO_INSTANTIATE(float)
CNNZOO_INSTANTIATE(double)
#undef CNNZOO_INSTANTIATE

}  // namespace cnnzoo::kernels
