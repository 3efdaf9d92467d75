// Private to src/kernels: what the conv kernel files (GEMM, depthwise, direct, Winograd) share:
// per-thread workspaces, zero padding, the thread and block counts, and each other's entry points.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <type_traits>

#include "cnnzoo/parallel.hpp"
#include "kernels/kernels.hpp"
#include "kernels/thresholds.hpp"

namespace cnnzoo::kernels {

// Per-thread scratch buffers that only grow: OpenMP keeps its worker threads alive, so the
// im2col buffer (and the padded planes) are allocated once per thread and reused by every
// conv call after that. `slot` (0 .. kWorkspaceSlots - 1) tells apart buffers in use at once.
// Each kernel uses distinct slots for buffers that are alive at the same time.
enum Slot {
  kSlotCol,
  kSlotPadded,
  kSlotPaddedGrad,
  kSlotBatch,
  kSlotWinogradV,  // transformed input tiles
  kSlotWinogradM,  // their products with the transformed weights
  kWorkspaceSlots
};

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

// The input extent the kernel actually reads, after zero padding: rows [0, Hp), cols [0, Wp)
// of the padded plane (a stride that does not divide evenly leaves the last rows unread).
struct Padded {
  int64_t Hp, Wp;
  explicit Padded(const ConvGeometry& g)
      : Hp((g.OH - 1) * g.sh + (g.kh - 1) * g.dh + 1),
        Wp((g.OW - 1) * g.sw + (g.kw - 1) * g.dw + 1) {}
  Padded(int64_t hp, int64_t wp) : Hp(hp), Wp(wp) {}  // a larger extent, zero past the input
};

// dst row r (+)= src row r, for `rows` rows of n elements. Rows of 8, 16 or 32 (CIFAR-sized
// images) get fixed-length loops that compile to straight vector moves: with a runtime length
// the loop overhead costs more than the copy itself (im2col of a 64-channel 8x8 image:
// 9 -> 4 us).
template <bool Add, class T>
void move_rows(T* __restrict dst, int64_t dst_stride, const T* __restrict src, int64_t src_stride,
               int64_t rows, int64_t n) {
  auto run = [&](auto len) {
    const int64_t m = decltype(len)::value > 0 ? int64_t(decltype(len)::value) : n;
    for (int64_t r = 0; r < rows; ++r) {
      T* d = dst + r * dst_stride;
      const T* s = src + r * src_stride;
      if (Add) {
#pragma omp simd
        for (int64_t i = 0; i < m; ++i) d[i] += s[i];
      } else {
#pragma omp simd
        for (int64_t i = 0; i < m; ++i) d[i] = s[i];
      }
    }
  };
  switch (n) {
    case 8:
      return run(std::integral_constant<int, 8>());
    case 16:
      return run(std::integral_constant<int, 16>());
    case 32:
      return run(std::integral_constant<int, 32>());
    default:
      return run(std::integral_constant<int, 0>());
  }
}

// Padded rows [r0, r1) of `planes` input planes (H x W each) -> dst, (r1 - r0) x Wp per plane.
// Copying once lets im2col, col2im and the depthwise loops run without any bounds tests.
template <class T>
void pad_rows(const ConvGeometry& g, const Padded& pd, const T* src, int64_t planes, int64_t r0,
              int64_t r1, T* dst) {
  const int64_t rows = r1 - r0, Wp = pd.Wp;
  // Input rows ih in [ih0, ih1) land in padded rows r = ih + pt within [r0, r1).
  const int64_t ih0 = std::max<int64_t>(0, r0 - g.pt), ih1 = std::min(g.H, r1 - g.pt);
  const int64_t c0 = std::min(g.pl, Wp), c1 = std::min(g.pl + g.W, Wp);
  if (ih0 >= ih1 || c0 >= c1) {
    std::fill(dst, dst + planes * rows * Wp, T(0));
    return;
  }
  // Only the border is zeroed: the interior is overwritten right after.
  const int64_t top = ih0 + g.pt - r0, mid = ih1 - ih0;
  for (int64_t c = 0; c < planes; ++c) {
    T* plane = dst + c * rows * Wp;
    std::fill(plane, plane + top * Wp, T(0));
    for (int64_t r = top; r < top + mid; ++r) {
      std::fill(plane + r * Wp, plane + r * Wp + c0, T(0));
      std::fill(plane + r * Wp + c1, plane + (r + 1) * Wp, T(0));
    }
    std::fill(plane + (top + mid) * Wp, plane + rows * Wp, T(0));
    move_rows<false>(plane + top * Wp + c0, Wp, src + (c * g.H + ih0) * g.W + (c0 - g.pl), g.W, mid,
                     c1 - c0);
  }
}

// y rows [0, rows) (n values, ld apart) += b[row]; nothing without a bias.
template <class T>
void add_bias_rows(const T* b, int64_t rows, int64_t n, int64_t ld, T* y) {
  if (!b) return;
  for (int64_t r = 0; r < rows; ++r) {
    T* row = y + r * ld;
    const T bv = b[r];
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) row[i] += bv;
  }
}

// One 512-bit vector of T (GCC vector extension) for the register-blocked kernels.
template <class T>
struct Vec {
  static constexpr int64_t kBytes = 64, kLanes = kBytes / static_cast<int64_t>(sizeof(T));
  typedef T type __attribute__((vector_size(kBytes)));
};

// m (M x len, rows ld apart) = u (M x K, rows K apart) * v (K x len, rows ld apart), for len a
// multiple of two 512-bit vectors (32 floats): a register-blocked kernel that writes m
// directly, without packing either operand or zeroing m first (conv_winograd.cpp).
template <class T>
void gemm_lanes(const T* u, int64_t M, int64_t K, const T* v, int64_t ld, int64_t len, T* m);
constexpr int64_t gemm_lanes_step(size_t elem) {
  return 128 / static_cast<int64_t>(elem);
}

// Winograd F(4x4, 3x3) (conv_winograd.cpp), when winograd_applies(g).
template <class T>
void winograd_forward(const ConvGeometry& g, const T* x, const T* w, const T* b, T* y);
// dx = the gradient of conv(x, w) with respect to x, for dy (overwritten, not accumulated).
template <class T>
void winograd_backward_input(const ConvGeometry& g, const T* w, const T* dy, T* dx);

// Threads worth waking for this conv (see kMinMacsPerThread).
inline int64_t useful_threads(const ConvGeometry& g) {
  const double macs = double(g.N) * double(g.Cout) * double(g.P()) * double(g.K());
  return std::clamp<int64_t>(static_cast<int64_t>(macs / kMinMacsPerThread), 1, num_threads());
}

// parallel_for's min_per_thread for n work items: all of them when one thread is enough.
inline int64_t min_items(const ConvGeometry& g, int64_t n) {
  return useful_threads(g) > 1 ? 1 : std::max<int64_t>(n, 1);
}

// Blocks of images whose weight gradients are summed separately (see kMaxGradBlocks).
inline int64_t grad_blocks(int64_t items, int64_t acc_n, size_t elem_size) {
  const double per_block = double(acc_n) * double(elem_size);
  const int64_t by_memory = std::max<int64_t>(1, int64_t(kGradBlockBudgetBytes / per_block));
  return std::max<int64_t>(1, std::min({items, kMaxGradBlocks, by_memory}));
}

// The inverse of pad_rows: the H x W interior of `planes` padded planes (Hp x Wp) -> dst. Input
// pixels the kernel never reads (past Hp / Wp) get zero.
template <class T>
void unpad(const ConvGeometry& g, const Padded& pd, const T* src, int64_t planes, T* dst) {
  const int64_t n_cols = std::clamp<int64_t>(pd.Wp - g.pl, 0, g.W);
  for (int64_t c = 0; c < planes; ++c) {
    for (int64_t ih = 0; ih < g.H; ++ih) {
      T* out = dst + (c * g.H + ih) * g.W;
      const int64_t r = ih + g.pt;
      const int64_t n = r < pd.Hp ? n_cols : 0;
      const T* in = n > 0 ? src + (c * pd.Hp + r) * pd.Wp + g.pl : src;
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) out[i] = in[i];
      for (int64_t i = n; i < g.W; ++i) out[i] = T(0);
    }
  }
}

// Sum of n contiguous values (bias gradients).
template <class T>
T row_sum(const T* p, int64_t n) {
  T s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n; ++i) s += p[i];
  return s;
}

// The other conv paths, in their own files; conv.cpp dispatches between them.
// conv_depthwise.cpp: one input channel per group.
template <class T>
void depthwise_forward(const ConvGeometry& g, const T* x, const T* w, const T* b, T* y);
template <class T>
void depthwise_backward(const ConvGeometry& g, const T* x, const T* w, const T* dy, T* dx, T* dw,
                        T* db);
// conv_direct.cpp: 1x1 convs by register-blocked GEMM (when pointwise_lanes), and the weight
// gradient of 3x3 stride-1 convs by direct taps.
bool pointwise_lanes(const ConvGeometry& g, size_t elem);
template <class T>
void pointwise_forward(const ConvGeometry& g, const T* x, const T* w, const T* b, T* y);
template <class T>
void pointwise_backward_input(const ConvGeometry& g, const T* w, const T* dy, T* dx);
template <class T>
void taps_weight_grad(const ConvGeometry& g, const T* x, const T* dy, T* dw);

}  // namespace cnnzoo::kernels
