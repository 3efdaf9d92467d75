// Spatial pooling over [N, C, H, W], PyTorch semantics for output size, ceil_mode
// (a window may not start in the right/bottom padding) and count_include_pad.
#pragma once
#include "cnnzoo/autograd.hpp"
#include "cnnzoo/ops/geometry.hpp"

namespace cnnzoo {

struct Pool2dOptions {
  Size2 kernel_size{2, 2};
  Size2 stride{0, 0};  // 0 means "equal to kernel_size", as PyTorch's default
  Padding2d padding{0};
  bool ceil_mode = false;
  bool count_include_pad = true;  // average pooling only
};

// Output spatial size (H_out, W_out) for input [N, C, H, W]; throws Error if invalid.
Size2 pool2d_output_size(const Shape& x, const Pool2dOptions& opt);

template <class T>
VarT<T> max_pool2d(const VarT<T>& x, const Pool2dOptions& opt);
template <class T>
VarT<T> avg_pool2d(const VarT<T>& x, const Pool2dOptions& opt);
// PyTorch's adaptive bins: start = floor(i * H / out), end = ceil((i + 1) * H / out).
template <class T>
VarT<T> adaptive_avg_pool2d(const VarT<T>& x, Size2 output_size);
// Mean over H and W: [N, C, H, W] -> [N, C, 1, 1].
template <class T>
VarT<T> global_avg_pool2d(const VarT<T>& x);

}  // namespace cnnzoo
