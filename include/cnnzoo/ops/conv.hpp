// 2-D convolution (cross-correlation, like PyTorch): for 3x3 stride-1 convs Winograd F(4x4, 3x3)
// (forward pass and input gradient) and direct taps (weight gradient); im2col + GEMM otherwise,
// a direct GEMM for 1x1, and a direct kernel for depthwise.
// Weight layout [C_out, C_in / groups, kh, kw].
#pragma once
#include "cnnzoo/autograd.hpp"
#include "cnnzoo/ops/geometry.hpp"

namespace cnnzoo {

struct Conv2dParams {
  Size2 stride{1, 1};
  Padding2d padding{0};
  Size2 dilation{1, 1};
  int64_t groups = 1;
  bool bias = true;  // read by nn::Conv2d; the op itself takes bias as an (optional) input
};

// Output shape of conv2d for input x [N, C, H, W] and weight w; throws Error if invalid.
Shape conv2d_output_shape(const Shape& x, const Shape& w, const Conv2dParams& opt);

// y = conv(x, weight) + bias. `bias` may be an undefined Var (no bias).
template <class T>
VarT<T> conv2d(const VarT<T>& x, const VarT<T>& weight, const VarT<T>& bias,
               const Conv2dParams& opt);

}  // namespace cnnzoo
