// Tensor storage (malloc, which keep_freed_memory tunes on request) and basic tensor methods.
#include "cnnzoo/tensor.hpp"

#include <malloc.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>

namespace cnnzoo {

std::string shape_str(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) check(d >= 0, "tensor: negative dimension in shape " + shape_str(shape));
  for (int64_t d : shape)
    check(!__builtin_mul_overflow(n, d, &n),
          "tensor: shape " + shape_str(shape) + " has more elements than an int64 holds");
  return n;
}

namespace {

constexpr size_t kAlign = 64;

size_t rounded(size_t bytes) {
  return (std::max<size_t>(bytes, 1) + kAlign - 1) / kAlign * kAlign;
}

}  // namespace

// glibc's defaults hand large blocks (> 128 KB, adaptively up to 32 MB) to mmap and give
// freed heap tops back to the OS, so every training step would fault its activations in
// again. Keeping everything on the heap and never trimming it lets malloc reuse (and
// coalesce) freed activations for the next step; unlike a cache keyed by exact size, a
// freed block serves requests of other sizes too (DenseNet's growing concatenations).
void keep_freed_memory() {
  static const bool done = [] {
    const char* keep = std::getenv("CNNZOO_SYSTEM_MALLOC");
    if (keep && *keep && std::string(keep) != "0") return true;
    mallopt(M_MMAP_THRESHOLD, std::numeric_limits<int>::max());
    mallopt(M_TRIM_THRESHOLD, -1);  // -1: never trim (INT_MAX would trim above 2 GB)
    mallopt(M_TOP_PAD, 1 << 30);
    return true;
  }();
  (void)done;
}

// 64-byte aligned blocks carved out of plain malloc blocks (the malloc pointer is kept just
// before the aligned one): aligned_alloc splits its blocks so that a freed block is not
// reused at the same place, and each training step would fault part of its memory in again.
void* storage_alloc(size_t bytes) {
  char* raw = static_cast<char*>(std::malloc(rounded(bytes) + kAlign));
  if (!raw) throw Error("tensor: out of memory allocating " + std::to_string(bytes) + " bytes");
  const uintptr_t aligned = (reinterpret_cast<uintptr_t>(raw) + kAlign) & ~uintptr_t(kAlign - 1);
  void* p = reinterpret_cast<void*>(aligned);
  static_cast<void**>(p)[-1] = raw;
  return p;
}

void storage_free(void* p) {
  if (p) std::free(static_cast<void**>(p)[-1]);
}

template <class T>
TensorT<T> TensorT<T>::empty(Shape shape) {
  TensorT t;
  t.numel_ = shape_numel(shape);
  t.shape_ = std::move(shape);
  size_t bytes = static_cast<size_t>(t.numel_) * sizeof(T);
  T* p = static_cast<T*>(storage_alloc(bytes));
  t.data_ = std::shared_ptr<T>(p, [](T* q) { storage_free(q); });
  return t;
}

template <class T>
TensorT<T> TensorT<T>::zeros(Shape shape) {
  TensorT t = empty(std::move(shape));
  std::memset(static_cast<void*>(t.data()), 0, static_cast<size_t>(t.numel_) * sizeof(T));
  return t;
}

template <class T>
TensorT<T> TensorT<T>::full(Shape shape, T value) {
  TensorT t = empty(std::move(shape));
  t.fill(value);
  return t;
}

template <class T>
TensorT<T> TensorT<T>::from_vector(Shape shape, const std::vector<T>& values) {
  TensorT t = empty(std::move(shape));
  check(static_cast<int64_t>(values.size()) == t.numel_, "tensor: from_vector got " +
                                                             std::to_string(values.size()) +
                                                             " values for shape " + t.shape_str());
  std::copy(values.begin(), values.end(), t.data());
  return t;
}

template <class T>
int64_t TensorT<T>::size(int64_t d) const {
  int64_t n = dim();
  if (d < 0) d += n;
  check(d >= 0 && d < n,
        "tensor: dimension " + std::to_string(d) + " out of range for shape " + shape_str());
  return shape_[static_cast<size_t>(d)];
}

template <class T>
T TensorT<T>::item() const {
  check(numel_ == 1, "tensor: item() needs one element, shape is " + shape_str());
  return data()[0];
}

template <class T>
TensorT<T> TensorT<T>::reshape(Shape shape) const {
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      check(infer < 0, "reshape: more than one -1 in " + cnnzoo::shape_str(shape));
      infer = static_cast<int64_t>(i);
    } else {
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    check(known > 0 && numel_ % known == 0,
          "reshape: cannot reshape " + shape_str() + " to " + cnnzoo::shape_str(shape));
    shape[static_cast<size_t>(infer)] = numel_ / known;
  }
  check(shape_numel(shape) == numel_,
        "reshape: cannot reshape " + shape_str() + " to " + cnnzoo::shape_str(shape));
  TensorT t = *this;
  t.shape_ = std::move(shape);
  return t;
}

template <class T>
TensorT<T> TensorT<T>::clone() const {
  if (!defined()) return TensorT();
  TensorT t = empty(shape_);
  std::copy(begin(), end(), t.data());
  return t;
}

template <class T>
void TensorT<T>::copy_from(const TensorT& other) {
  check(other.numel_ == numel_, "tensor: copy_from " + other.shape_str() + " into " + shape_str());
  std::copy(other.begin(), other.end(), data());
}

template <class T>
void TensorT<T>::fill(T value) {
  std::fill(begin(), end(), value);
}

template <class To, class From>
TensorT<To> tensor_cast(const TensorT<From>& t) {
  TensorT<To> r = TensorT<To>::empty(t.shape());
  for (int64_t i = 0; i < t.numel(); ++i) r[i] = static_cast<To>(t[i]);
  return r;
}

template class TensorT<float>;
template class TensorT<double>;
template TensorT<double> tensor_cast<double, float>(const TensorT<float>&);
template TensorT<float> tensor_cast<float, double>(const TensorT<double>&);
template TensorT<float> tensor_cast<float, float>(const TensorT<float>&);
template TensorT<double> tensor_cast<double, double>(const TensorT<double>&);

}  // namespace cnnzoo
