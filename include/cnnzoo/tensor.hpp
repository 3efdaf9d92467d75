// Tensor: a contiguous, row-major (NCHW for images) array that shares its storage on copy.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "cnnzoo/error.hpp"

namespace cnnzoo {

using Shape = std::vector<int64_t>;

std::string shape_str(const Shape& shape);  // "[2, 3, 4]"
int64_t shape_numel(const Shape& shape);

// Storage comes from plain malloc. The library leaves the process's allocator settings
// alone unless the application asks with keep_freed_memory().
void* storage_alloc(size_t bytes);
void storage_free(void* p);

// Asks glibc malloc (mallopt) to keep every block on the heap and never trim it, for the
// whole process: a training step then reuses the memory the previous step freed instead of
// faulting fresh pages in from the OS; the process then keeps its peak memory. The cnnzoo
// command line and benchmarks call it; an application that trains may too. CNNZOO_SYSTEM_MALLOC=1
// in the environment makes it do nothing.
void keep_freed_memory();

template <class T>
class TensorT {
 public:
  using value_type = T;

  TensorT() = default;
  // Uninitialised storage of the given shape; use zeros() when the contents matter.
  static TensorT empty(Shape shape);
  static TensorT zeros(Shape shape);
  static TensorT full(Shape shape, T value);
  static TensorT ones(Shape shape) { return full(std::move(shape), T(1)); }
  static TensorT from_vector(Shape shape, const std::vector<T>& values);
  static TensorT scalar(T value) { return full({}, value); }

  bool defined() const { return static_cast<bool>(data_); }
  const Shape& shape() const { return shape_; }
  int64_t dim() const { return static_cast<int64_t>(shape_.size()); }
  int64_t size(int64_t d) const;  // negative d counts from the end
  int64_t numel() const { return numel_; }
  std::string shape_str() const { return cnnzoo::shape_str(shape_); }

  T* data() { return data_.get(); }
  const T* data() const { return data_.get(); }
  T* begin() { return data(); }
  T* end() { return data() + numel_; }
  const T* begin() const { return data(); }
  const T* end() const { return data() + numel_; }
  T& operator[](int64_t i) { return data_.get()[i]; }
  const T& operator[](int64_t i) const { return data_.get()[i]; }
  T item() const;  // the single element of a one-element tensor

  // Same storage, new shape with the same number of elements (-1 infers one dimension).
  TensorT reshape(Shape shape) const;
  TensorT clone() const;
  void copy_from(const TensorT& other);  // element copy; shapes must have equal numel
  void fill(T value);
  void zero() { fill(T(0)); }
  bool same_storage(const TensorT& other) const { return data_ == other.data_; }
  // No other tensor (view or copy) shares this storage.
  bool sole_owner() const { return data_.use_count() == 1; }
  std::vector<T> to_vector() const { return std::vector<T>(begin(), end()); }

 private:
  Shape shape_;
  int64_t numel_ = 0;
  std::shared_ptr<T> data_;
};

// The element type of Tensor, Var, module parameters and layers: float. The library cnnzoo_double
// (installed beside cnnzoo) is the core, ops, nn and models compiled once more with
// CNNZOO_DOUBLE_MODULES, real = double, to gradient-check layers, blocks and whole models
// (cnnzoo/testing/gradcheck.hpp). A program links one of the two, never both.
#ifdef CNNZOO_DOUBLE_MODULES
using real = double;
#else
using real = float;
#endif
using Tensor = TensorT<real>;
using TensorD = TensorT<double>;

// Element type conversion (float <-> double), e.g. for double-precision gradient checks.
template <class To, class From>
TensorT<To> tensor_cast(const TensorT<From>& t);

extern template class TensorT<float>;
extern template class TensorT<double>;

}  // namespace cnnzoo
