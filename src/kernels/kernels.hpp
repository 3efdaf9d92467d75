// Internal: the numeric kernels that src/ops wires into autograd, as raw-pointer calls over
// plain geometry structs. The only header src/ops includes from here; Eigen stays behind it.
#pragma once
#include <cstdint>
#include <functional>

namespace cnnzoo::kernels {

// ---- conv2d ----------------------------------------------------------------------------------

// Everything a kernel needs to know about one conv2d call, in NCHW / [Cout, Cg, kh, kw].
struct ConvGeometry {
  int64_t N, C, H, W;    // input
  int64_t Cout, kh, kw;  // weight
  int64_t sh, sw;        // stride
  int64_t pt, pl;        // top / left padding (bottom / right only shape OH, OW)
  int64_t dh, dw;        // dilation
  int64_t G;             // groups
  int64_t OH, OW;        // output
  int64_t Cg() const { return C / G; }
  int64_t Coutg() const { return Cout / G; }
  int64_t K() const { return Cg() * kh * kw; }  // GEMM depth: one im2col row per (c, ki, kj)
  int64_t P() const { return OH * OW; }         // output pixels per image
  bool pointwise() const {
    return kh == 1 && kw == 1 && sh == 1 && sw == 1 && pt == 0 && pl == 0 && OH == H && OW == W;
  }
  bool depthwise() const { return G == C && G > 1; }
};

// y = conv(x, w) + b (b may be null).
template <class T>
void conv2d_forward(const ConvGeometry& g, const T* x, const T* w, const T* b, T* y);

// Gradients for y = conv(x, w) + b. Null output pointers are skipped; x is only read when
// dw is wanted, w only when dx is wanted. dx, dw, db are overwritten (not accumulated).
template <class T>
void conv2d_backward(const ConvGeometry& g, const T* x, const T* w, const T* dy, T* dx, T* dw,
                     T* db);

// Whether conv2d_forward (and the input gradient) take Winograd F(4x4, 3x3) for g: 3x3,
// stride 1, no dilation, one group, padding <= 2, and enough channels and tiles to pay off.
bool winograd_applies(const ConvGeometry& g);

// ---- batch norm, local response norm --------------------------------------------------------

// x seen as [batch, channels, inner]: inner is 1 for [N, C], H * W for [N, C, H, W].
struct ChannelLayout {
  int64_t batch, channels, inner;
  int64_t per_channel() const { return batch * inner; }
  int64_t offset(int64_t b, int64_t c) const { return (b * channels + c) * inner; }
};

// y = (x - mean) * invstd * gamma + beta per channel, then max(y, 0) when `relu`. Training
// normalises with the batch statistics and moves running_mean / running_var (when given)
// towards them by `momentum`; evaluation uses the running ones. gamma, beta may be null (1, 0).
// mean and invstd receive the statistics used, in double, for the backward.
template <class T>
void batch_norm_forward(const ChannelLayout& l, const T* x, const T* gamma, const T* beta,
                        T* running_mean, T* running_var, bool training, double momentum, double eps,
                        bool relu, T* y, double* mean, double* invstd);

// Gradients of batch_norm_forward (dy masked by the ReLU when `relu`, which needs beta). Null
// outputs are skipped; dx may be the same buffer as dy.
template <class T>
void batch_norm_backward(const ChannelLayout& l, const T* x, const T* dy, const T* gamma,
                         const T* beta, const double* mean, const double* invstd, bool training,
                         bool relu, T* dx, T* dgamma, T* dbeta);

// Training-mode batch norm of a batch spread over several processes: every per-channel sum
// goes through `sum_across` (in place, the same calls in the same order on every process), so
// the statistics and the input gradient are those of the whole batch; dgamma and dbeta stay
// this process's share.
using SumAcross = std::function<void(double* data, int64_t n)>;
template <class T>
void batch_norm_forward_across(const ChannelLayout& l, const T* x, const T* gamma, const T* beta,
                               T* running_mean, T* running_var, double momentum, double eps,
                               bool relu, const SumAcross& sum_across, T* y, double* mean,
                               double* invstd);
template <class T>
void batch_norm_backward_across(const ChannelLayout& l, const T* x, const T* dy, const T* gamma,
                                const T* beta, const double* mean, const double* invstd, bool relu,
                                const SumAcross& sum_across, T* dx, T* dgamma, T* dbeta);

// AlexNet's local response norm across `size` channels: scale = k + alpha / size * (sum of x^2
// over the window), y = x * scale^-beta. scale is kept for the backward.
template <class T>
void lrn_forward(const ChannelLayout& l, int64_t size, double alpha, double beta, double k,
                 const T* x, T* scale, T* y);
template <class T>
void lrn_backward(const ChannelLayout& l, int64_t size, double alpha, double beta, const T* x,
                  const T* scale, const T* y, const T* dy, T* dx);

// ---- pooling ---------------------------------------------------------------------------------

// One 2-D pooling call over `planes` = N * C input planes of H x W; stride and padding resolved.
struct PoolGeometry {
  int64_t planes, H, W, OH, OW, kh, kw, sh, sw, pt, pb, pl, pr;
};

// Max pooling as PyTorch does it (first maximum wins, NaN propagates). indices (may be null)
// receives each output's argmax within its plane.
template <class T>
void max_pool_forward(const PoolGeometry& g, const T* x, T* y, int32_t* indices);
// dx (zeroed by the caller) += dy routed to the recorded argmax positions.
template <class T>
void max_pool_backward(const PoolGeometry& g, const int32_t* indices, const T* dy, T* dx);
// Average pooling; the divisor counts padding up to the padded input end when include_pad.
template <class T>
void avg_pool_forward(const PoolGeometry& g, bool include_pad, const T* x, T* y);
// dx (zeroed by the caller) += each output's dy shared over its window.
template <class T>
void avg_pool_backward(const PoolGeometry& g, bool include_pad, const T* dy, T* dx);
// Adaptive average pooling to OH x OW (only planes, H, W, OH, OW of g are read); the backward
// accumulates into a zeroed dx.
template <class T>
void adaptive_avg_pool_forward(const PoolGeometry& g, const T* x, T* y);
template <class T>
void adaptive_avg_pool_backward(const PoolGeometry& g, const T* dy, T* dx);
// The mean of each plane, and its gradient (dx overwritten).
template <class T>
void global_avg_pool_forward(int64_t planes, int64_t plane_size, const T* x, T* y);
template <class T>
void global_avg_pool_backward(int64_t planes, int64_t plane_size, const T* dy, T* dx);

// ---- contiguous arrays (vector.cpp) ----------------------------------------------------------

template <class T>
T vec_dot(const T* a, const T* b, int64_t n);
template <class T>
T vec_sum(const T* a, int64_t n);
// y = 1 / (1 + exp(-x)), vectorised, saturating cleanly (no inf / inf) for large |x|.
template <class T>
void vec_logistic(const T* x, T* y, int64_t n);
template <class T>
void vec_tanh(const T* x, T* y, int64_t n);

// ---- linear (fully connected) ----------------------------------------------------------------

// x [batch, in], w [out, in], y [batch, out].
struct LinearGeometry {
  int64_t batch, in, out;
};

// y = x w^T + b (b may be null).
template <class T>
void linear_forward(const LinearGeometry& g, const T* x, const T* w, const T* b, T* y);
// dx = dy w, dw = dy^T x, db = column sums of dy. Null outputs are skipped; x is only read
// for dw, w only for dx. Outputs are overwritten (not accumulated).
template <class T>
void linear_backward(const LinearGeometry& g, const T* x, const T* w, const T* dy, T* dx, T* dw,
                     T* db);

}  // namespace cnnzoo::kernels
