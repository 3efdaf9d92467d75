// Internal: conv2d geometry, the per-thread im2col workspace, and the raw-pointer kernels
// (im2col + GEMM, direct GEMM for 1x1, direct depthwise) that src/ops/conv.cpp wires into autograd.
#pragma once
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

// Per-thread scratch buffers that only grow: OpenMP keeps its worker threads alive, so the
// im2col buffer (and the padded planes) are allocated once per thread and reused by every
// conv call after that. `slot` (0 .. kWorkspaceSlots - 1) tells apart buffers in use at once.
constexpr int kWorkspaceSlots = 4;

template <class T>
T* thread_workspace(int slot, size_t count) {
  struct Buffer {
    T* data = nullptr;
    size_t capacity = 0;
    ~Buffer() { std::free(data); }
  };
  thread_local Buffer bufs[kWorkspaceSlots];
  Buffer& buf = bufs[slot];
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
