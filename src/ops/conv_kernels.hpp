// Internal: conv2d geometry, the per-thread im2col workspace, and the raw-pointer kernels
// (im2col + GEMM, direct GEMM for 1x1, direct depthwise) that src/ops/conv.cpp wires into autograd.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>

namespace cnnzoo::conv_detail {

// Everything a kernel needs to know about one conv2d call, in NCHW / [Cout, Cg, kh, kw].
struct ConvGeom {
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

// Output positions o in [lo, hi) whose input index o * stride - pad + offset lies in [0, n).
// Lets the kernels split each row into zero / copy / zero runs instead of testing per pixel.
inline void valid_range(int64_t out_size, int64_t n, int64_t stride, int64_t pad, int64_t offset,
                        int64_t& lo, int64_t& hi) {
  const int64_t a = pad - offset;  // need o * stride >= a
  lo = a <= 0 ? 0 : (a + stride - 1) / stride;
  const int64_t b = n - 1 + pad - offset;  // need o * stride <= b
  hi = b < 0 ? 0 : std::min(out_size, b / stride + 1);
  lo = std::min(lo, out_size);
  hi = std::max(hi, lo);
}

// A per-thread scratch buffer that only grows: OpenMP keeps its worker threads alive, so the
// im2col buffer is allocated once per thread and reused by every conv call after that.
template <class T>
T* thread_workspace(size_t count) {
  struct Buffer {
    T* data = nullptr;
    size_t capacity = 0;
    ~Buffer() { std::free(data); }
  };
  thread_local Buffer buf;
  if (buf.capacity < count) {
    std::free(buf.data);
    buf.data = nullptr;
    buf.capacity = 0;
    const size_t bytes = (count * sizeof(T) + 63) / 64 * 64;
    buf.data = static_cast<T*>(std::aligned_alloc(64, bytes));
    if (!buf.data) throw std::bad_alloc();
    buf.capacity = count;
  }
  return buf.data;
}

// y = conv(x, w) + b (b may be null).
template <class T>
void conv2d_forward(const ConvGeom& g, const T* x, const T* w, const T* b, T* y);

// Gradients for y = conv(x, w) + b. Null output pointers are skipped; x is only read when
// dw is wanted, w only when dx is wanted. dx, dw, db are overwritten (not accumulated).
template <class T>
void conv2d_backward(const ConvGeom& g, const T* x, const T* w, const T* dy, T* dx, T* dw, T* db);

}  // namespace cnnzoo::conv_detail
