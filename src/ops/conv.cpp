// conv2d: shape checks, the kernels (im2col + Eigen GEMM per image, direct GEMM for 1x1,
// direct depthwise, direct taps for the weight gradient of 3x3 stride-1 convs; Winograd is in
// conv_winograd.cpp), and the autograd op whose backward sits next to its forward.
#include "cnnzoo/ops/conv.hpp"

#include <Eigen/Core>
#include <algorithm>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "ops/conv_kernels.hpp"
#include "parallel_for.hpp"

namespace cnnzoo {

namespace conv_detail {

namespace {

template <class T>
using MatR = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using MapR = Eigen::Map<MatR<T>, Eigen::Unaligned, Eigen::OuterStride<>>;
template <class T>
using CMapR = Eigen::Map<const MatR<T>, Eigen::Unaligned, Eigen::OuterStride<>>;

// The im2col tile stays well inside L2 while the GEMM packs it right after it is written;
// for ResNet-20's 32x32 layers two tiles of 16 rows per image measured faster than one of 32
// and than smaller ones. Tiles keep at least kMinTileCols output pixels, though: deep layers
// (K = 512 * 9, 14x14 output) would otherwise become many skinny GEMMs that each re-pack
// the whole weight.
constexpr int64_t kColBudgetBytes = 384 * 1024;
constexpr int64_t kMinTileCols = 256;

// Waking the other threads costs microseconds (much more on a busy machine), so small convs
// (late layers at batch 1, gradient checks) stay on the calling thread.
constexpr double kMinMacsPerThread = 256 * 1024;

int64_t useful_threads(const ConvGeom& g) {
  const double macs = double(g.N) * double(g.Cout) * double(g.P()) * double(g.K());
  return std::clamp<int64_t>(static_cast<int64_t>(macs / kMinMacsPerThread), 1, num_threads());
}

// parallel_for's min_per_thread for n work items: all of them when one thread is enough.
int64_t min_items(const ConvGeom& g, int64_t n) {
  return useful_threads(g) > 1 ? 1 : std::max<int64_t>(n, 1);
}

// Weight gradients are summed per block of images, and the blocks in a fixed order at the end:
// the count depends only on the problem (never on the thread count or on which thread ran
// which block), so the result is the same with any number of threads and run to run.
constexpr int64_t kMaxGradBlocks = 8;
constexpr double kGradBlockBudgetBytes = 64.0 * 1024 * 1024;

int64_t grad_blocks(int64_t items, int64_t acc_n, size_t elem_size) {
  const double per_block = double(acc_n) * double(elem_size);
  const int64_t by_memory = std::max<int64_t>(1, int64_t(kGradBlockBudgetBytes / per_block));
  return std::max<int64_t>(1, std::min({items, kMaxGradBlocks, by_memory}));
}

// Output rows per im2col tile, balanced so the last tile is not a sliver.
int64_t rows_per_tile(const ConvGeom& g, size_t elem_size) {
  if (g.pointwise()) return g.OH;
  const int64_t row_bytes = g.K() * g.OW * static_cast<int64_t>(elem_size);
  const int64_t budget_rows = kColBudgetBytes / std::max<int64_t>(row_bytes, 1);
  const int64_t min_rows = (kMinTileCols + g.OW - 1) / g.OW;
  const int64_t max_rows = std::clamp<int64_t>(std::max(budget_rows, min_rows), 1, g.OH);
  const int64_t tiles = (g.OH + max_rows - 1) / max_rows;
  return (g.OH + tiles - 1) / tiles;
}

// The inverse: the H x W interior of `planes` padded planes (Hp x Wp) -> dst. Input pixels the
// kernel never reads (past Hp / Wp) get zero.
template <class T>
void unpad(const ConvGeom& g, const Padded& pd, const T* src, int64_t planes, T* dst) {
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

// Padded input rows needed by output rows [oh0, oh1).
inline void input_rows(const ConvGeom& g, int64_t oh0, int64_t oh1, int64_t& r0, int64_t& r1) {
  r0 = oh0 * g.sh;
  r1 = (oh1 - 1) * g.sh + (g.kh - 1) * g.dh + 1;
}

// Unrolls output rows [oh0, oh1) into col [K, (oh1 - oh0) * OW] (rows ld apart, default
// packed): row (c, ki, kj) holds the input pixel each output reads. `xp` points at padded row
// input_rows(oh0, ..).r0 of channel 0; channel c starts plane_rows * Wp further on. Every row
// is a plain OW-long copy (contiguous for stride 1).
template <class T>
void im2col(const ConvGeom& g, const Padded& pd, const T* xp, int64_t plane_rows, int64_t oh0,
            int64_t oh1, T* col, int64_t ld = 0) {
  const int64_t OW = g.OW, rows = oh1 - oh0, tp = ld > 0 ? ld : rows * OW;
  for (int64_t c = 0; c < g.Cg(); ++c) {
    const T* plane = xp + c * plane_rows * pd.Wp;
    for (int64_t ki = 0; ki < g.kh; ++ki) {
      for (int64_t kj = 0; kj < g.kw; ++kj) {
        T* row = col + ((c * g.kh + ki) * g.kw + kj) * tp;
        const T* src = plane + ki * g.dh * pd.Wp + kj * g.dw;
        if (g.sw == 1) {
          move_rows<false>(row, OW, src, g.sh * pd.Wp, rows, OW);
          continue;
        }
        for (int64_t i = 0; i < rows; ++i) {
          const T* s = src + i * g.sh * pd.Wp;
          T* dst = row + i * OW;
          for (int64_t ow = 0; ow < OW; ++ow) dst[ow] = s[ow * g.sw];
        }
      }
    }
  }
}

// The adjoint of im2col: adds col [K, (oh1 - oh0) * OW] onto the padded planes `dxp`
// (Cg x Hp x Wp, the whole image, since neighbouring tiles overlap).
template <class T>
void col2im_add(const ConvGeom& g, const Padded& pd, const T* col, int64_t oh0, int64_t oh1, T* dxp,
                int64_t ld = 0) {
  const int64_t OW = g.OW, rows = oh1 - oh0, tp = ld > 0 ? ld : rows * OW;
  for (int64_t c = 0; c < g.Cg(); ++c) {
    T* plane = dxp + c * pd.Hp * pd.Wp;
    for (int64_t ki = 0; ki < g.kh; ++ki) {
      for (int64_t kj = 0; kj < g.kw; ++kj) {
        const T* row = col + ((c * g.kh + ki) * g.kw + kj) * tp;
        T* dst = plane + (oh0 * g.sh + ki * g.dh) * pd.Wp + kj * g.dw;
        if (g.sw == 1) {
          move_rows<true>(dst, g.sh * pd.Wp, row, OW, rows, OW);
          continue;
        }
        for (int64_t i = 0; i < rows; ++i) {
          const T* src = row + i * OW;
          T* d = dst + i * g.sh * pd.Wp;
          for (int64_t ow = 0; ow < OW; ++ow) d[ow * g.sw] += src[ow];
        }
      }
    }
  }
}

template <class T>
T row_sum(const T* p, int64_t n) {
  T s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n; ++i) s += p[i];
  return s;
}

// ---- general case: im2col (or the input itself for 1x1) times the weight ------------------

template <class T>
void gemm_forward(const ConvGeom& g, const T* x, const T* w, const T* b, T* y) {
  const int64_t K = g.K(), P = g.P(), Cg = g.Cg(), Coutg = g.Coutg();
  const Padded pd(g);
  int64_t rows = rows_per_tile(g, sizeof(T));
  // Small batches (inference) would leave threads idle: split images into row tiles too.
  const int64_t per_image = g.G * ((g.OH + rows - 1) / rows);
  const int64_t nt = useful_threads(g);
  if (g.N * per_image < nt) {
    const int64_t want = (nt + g.N * g.G - 1) / (g.N * g.G);
    rows = std::max<int64_t>(1, std::min(rows, (g.OH + want - 1) / want));
  }
  const int64_t tiles = (g.OH + rows - 1) / rows;
  const int64_t items = g.N * g.G * tiles;
  parallel_dynamic(items, nt, 1, [&](int64_t item) {
    const int64_t n = item / (g.G * tiles), grp = item / tiles % g.G, t = item % tiles;
    const int64_t oh0 = t * rows, oh1 = std::min(g.OH, oh0 + rows), tp = (oh1 - oh0) * g.OW;
    const T* xg = x + (n * g.C + grp * Cg) * g.H * g.W;
    T* yg = y + (n * g.Cout + grp * Coutg) * P + oh0 * g.OW;
    CMapR<T> wg(w + grp * Coutg * K, Coutg, K, Eigen::OuterStride<>(K));
    MapR<T> yt(yg, Coutg, tp, Eigen::OuterStride<>(P));
    if (g.pointwise()) {
      yt.noalias() = wg * CMapR<T>(xg + oh0 * g.OW, Cg, tp, Eigen::OuterStride<>(P));
    } else {
      int64_t r0, r1;
      input_rows(g, oh0, oh1, r0, r1);
      T* xp = thread_workspace<T>(kSlotPadded, static_cast<size_t>(Cg * (r1 - r0) * pd.Wp));
      pad_rows(g, pd, xg, Cg, r0, r1, xp);
      T* col = thread_workspace<T>(kSlotCol, static_cast<size_t>(K * tp));
      im2col(g, pd, xp, r1 - r0, oh0, oh1, col);
      yt.noalias() = wg * CMapR<T>(col, K, tp, Eigen::OuterStride<>(tp));
    }
    if (b) {
      for (int64_t oc = 0; oc < Coutg; ++oc) {
        T* row = yg + oc * P;
        const T bv = b[grp * Coutg + oc];
#pragma omp simd
        for (int64_t i = 0; i < tp; ++i) row[i] += bv;
      }
    }
  });
}

// Sums the per-block gradients (each block: the weight part transposed per group, [K, Coutg],
// then the bias), in block order, transposing the weight back to [Cout, Cg, kh, kw].
template <class T>
void sum_grad_blocks(const ConvGeom& g, const T* parts, int64_t chunks, T* dw, T* db) {
  const int64_t K = g.K(), Coutg = g.Coutg(), wn = g.Cout * K, acc_n = wn + g.Cout;
  if (dw) {
    parallel_for(
        g.Cout,
        [&](int64_t oc) {
          const int64_t grp = oc / Coutg, o = oc % Coutg;
          T* dst = dw + oc * K;
          for (int64_t k = 0; k < K; ++k) {
            const T* src = parts + grp * K * Coutg + k * Coutg + o;
            T s = src[0];
            for (int64_t c = 1; c < chunks; ++c) s += src[c * acc_n];
            dst[k] = s;
          }
        },
        min_items(g, g.Cout));
  }
  if (db) {
    for (int64_t oc = 0; oc < g.Cout; ++oc) {
      T s = parts[wn + oc];
      for (int64_t c = 1; c < chunks; ++c) s += parts[c * acc_n + wn + oc];
      db[oc] = s;
    }
  }
}

// Images are split into grad_blocks() contiguous blocks handed out to the threads; each block
// accumulates its own weight/bias gradient, summed at the end. The weight part is accumulated
// transposed, per group [K, Coutg] instead of [Coutg, K]: Eigen then packs the large im2col
// operand without transposing it (measured 65 -> 41 us per ResNet-20 image).
template <class T>
void gemm_backward(const ConvGeom& g, const T* x, const T* w, const T* dy, T* dx, T* dw, T* db) {
  const int64_t K = g.K(), P = g.P(), Cg = g.Cg(), Coutg = g.Coutg();
  const int64_t wn = g.Cout * K, acc_n = wn + g.Cout;
  const Padded pd(g);
  const int64_t rows = rows_per_tile(g, sizeof(T));
  const int64_t tiles = (g.OH + rows - 1) / rows;
  const int64_t chunks = dw || db ? grad_blocks(g.N, acc_n, sizeof(T)) : g.N;
  TensorT<T> partial;  // from the storage cache, so steady-state calls do not hit malloc
  if (dw || db) partial = TensorT<T>::empty({chunks * acc_n});

  parallel_dynamic(chunks, useful_threads(g), 1, [&](int64_t chunk) {
    T* dwt_acc = dw || db ? partial.data() + chunk * acc_n : nullptr;
    T* db_acc = dwt_acc ? dwt_acc + wn : nullptr;
    const int64_t n0 = g.N * chunk / chunks, n1 = g.N * (chunk + 1) / chunks;
    for (int64_t n = n0; n < n1; ++n) {
      for (int64_t grp = 0; grp < g.G; ++grp) {
        const T* xg = x ? x + (n * g.C + grp * Cg) * g.H * g.W : nullptr;
        T* dxg = dx ? dx + (n * g.C + grp * Cg) * g.H * g.W : nullptr;
        const T* dyg = dy + (n * g.Cout + grp * Coutg) * P;
        if (db) {
          for (int64_t oc = 0; oc < Coutg; ++oc) {
            const T s = row_sum(dyg + oc * P, P);
            T& acc = db_acc[grp * Coutg + oc];
            acc = n == n0 ? s : acc + s;
          }
        }
        MapR<T> dwt(dwt_acc ? dwt_acc + grp * K * Coutg : nullptr, K, Coutg,
                    Eigen::OuterStride<>(Coutg));
        CMapR<T> wg(w ? w + grp * Coutg * K : nullptr, Coutg, K, Eigen::OuterStride<>(K));
        if (g.pointwise()) {
          CMapR<T> dyt(dyg, Coutg, P, Eigen::OuterStride<>(P));
          if (dw) {
            CMapR<T> xt(xg, Cg, P, Eigen::OuterStride<>(P));
            if (n == n0)
              dwt.noalias() = xt * dyt.transpose();
            else
              dwt.noalias() += xt * dyt.transpose();
          }
          if (dx) MapR<T>(dxg, Cg, P, Eigen::OuterStride<>(P)).noalias() = wg.transpose() * dyt;
          continue;
        }
        T* xp = nullptr;
        if (dw) {
          xp = thread_workspace<T>(kSlotPadded, static_cast<size_t>(Cg * pd.Hp * pd.Wp));
          pad_rows(g, pd, xg, Cg, 0, pd.Hp, xp);
        }
        T* dxp = nullptr;
        if (dx) {
          dxp = thread_workspace<T>(kSlotPaddedGrad, static_cast<size_t>(Cg * pd.Hp * pd.Wp));
          std::fill(dxp, dxp + Cg * pd.Hp * pd.Wp, T(0));
        }
        for (int64_t t = 0; t < tiles; ++t) {
          const int64_t oh0 = t * rows, oh1 = std::min(g.OH, oh0 + rows), tp = (oh1 - oh0) * g.OW;
          CMapR<T> dyt(dyg + oh0 * g.OW, Coutg, tp, Eigen::OuterStride<>(P));
          T* col = thread_workspace<T>(kSlotCol, static_cast<size_t>(K * tp));
          MapR<T> colm(col, K, tp, Eigen::OuterStride<>(tp));
          if (dw) {
            // xp holds whole padded planes; im2col reads from the tile's first row on.
            im2col(g, pd, xp + oh0 * g.sh * pd.Wp, pd.Hp, oh0, oh1, col);
            if (n == n0 && t == 0)
              dwt.noalias() = colm * dyt.transpose();
            else
              dwt.noalias() += colm * dyt.transpose();
          }
          if (dx) {
            // The same buffer now receives d(col), which col2im folds back onto dx.
            colm.noalias() = wg.transpose() * dyt;
            col2im_add(g, pd, col, oh0, oh1, dxp);
          }
        }
        if (dx) unpad(g, pd, dxp, Cg, dxg);
      }
    }
  });

  sum_grad_blocks(g, partial.data(), chunks, dw, db);
}

// ---- small planes: several images side by side in one GEMM --------------------------------
// Deep layers of CIFAR networks have tiny planes (VGG's 2x2, ResNet's 8x8): one GEMM per image
// would be [Cout x K] times [K x P] with P = 4..64, re-reading the whole weight for a few
// columns. Here `nb` images are unrolled next to each other into col [K, nb * P] (image i in
// columns [i P, (i + 1) P)), so the GEMM has at least kMinTileCols columns.

// At most half the batch, so two threads have work; the count depends on the shape only,
// which keeps results identical for any thread count.
int64_t images_per_gemm(const ConvGeom& g) {
  if (g.P() >= kMinTileCols || g.N < 2) return 1;
  return std::min<int64_t>((g.N + 1) / 2, (kMinTileCols + g.P() - 1) / g.P());
}

// Image n's Cg x (H x W) input planes of group grp -> im2col columns [0, P) of col (row
// stride ld); pointwise convs copy the planes themselves.
template <class T>
void unroll_image(const ConvGeom& g, const Padded& pd, const T* xg, T* col, int64_t ld) {
  if (g.pointwise()) {
    move_rows<false>(col, ld, xg, g.P(), g.Cg(), g.P());
    return;
  }
  T* xp = thread_workspace<T>(kSlotPadded, static_cast<size_t>(g.Cg() * pd.Hp * pd.Wp));
  pad_rows(g, pd, xg, g.Cg(), 0, pd.Hp, xp);
  im2col(g, pd, xp, pd.Hp, 0, g.OH, col, ld);
}

template <class T>
void batched_forward(const ConvGeom& g, const T* x, const T* w, const T* b, T* y) {
  const int64_t K = g.K(), P = g.P(), Cg = g.Cg(), Coutg = g.Coutg();
  const Padded pd(g);
  const int64_t nt = useful_threads(g), nb = images_per_gemm(g);
  const int64_t blocks = (g.N + nb - 1) / nb, items = blocks * g.G;
  parallel_dynamic(items, nt, 1, [&](int64_t item) {
    const int64_t blk = item / g.G, grp = item % g.G;
    const int64_t n0 = blk * nb, m = std::min(g.N, n0 + nb) - n0, cols = m * P;
    T* col = thread_workspace<T>(kSlotCol, static_cast<size_t>(K * cols));
    for (int64_t i = 0; i < m; ++i)
      unroll_image(g, pd, x + ((n0 + i) * g.C + grp * Cg) * g.H * g.W, col + i * P, cols);
    T* out = thread_workspace<T>(kSlotBatch, static_cast<size_t>(Coutg * cols));
    MapR<T>(out, Coutg, cols, Eigen::OuterStride<>(cols)).noalias() =
        CMapR<T>(w + grp * Coutg * K, Coutg, K, Eigen::OuterStride<>(K)) *
        CMapR<T>(col, K, cols, Eigen::OuterStride<>(cols));
    for (int64_t i = 0; i < m; ++i) {
      T* yi = y + ((n0 + i) * g.Cout + grp * Coutg) * P;
      move_rows<false>(yi, P, out + i * P, cols, Coutg, P);
      if (b) {
        for (int64_t oc = 0; oc < Coutg; ++oc) {
          const T bv = b[grp * Coutg + oc];
#pragma omp simd
          for (int64_t j = 0; j < P; ++j) yi[oc * P + j] += bv;
        }
      }
    }
  });
}

// Images are cut into a fixed number of blocks (shape-dependent only, as in gemm_backward),
// each accumulating its own weight/bias gradient; within a block, nb images per GEMM.
template <class T>
void batched_backward(const ConvGeom& g, const T* x, const T* w, const T* dy, T* dx, T* dw, T* db) {
  const int64_t K = g.K(), P = g.P(), Cg = g.Cg(), Coutg = g.Coutg();
  const int64_t wn = g.Cout * K, acc_n = wn + g.Cout;
  const Padded pd(g);
  const int64_t nb = images_per_gemm(g);
  const int64_t chunks =
      std::max<int64_t>(1, std::min(grad_blocks(g.N, acc_n, sizeof(T)), g.N / nb));
  TensorT<T> partial;
  if (dw || db) partial = TensorT<T>::empty({chunks * acc_n});

  parallel_dynamic(chunks, useful_threads(g), 1, [&](int64_t chunk) {
    T* dwt_acc = dw || db ? partial.data() + chunk * acc_n : nullptr;
    T* db_acc = dwt_acc ? dwt_acc + wn : nullptr;
    const int64_t c0 = g.N * chunk / chunks, c1 = g.N * (chunk + 1) / chunks;
    for (int64_t grp = 0; grp < g.G; ++grp) {
      MapR<T> dwt(dwt_acc ? dwt_acc + grp * K * Coutg : nullptr, K, Coutg,
                  Eigen::OuterStride<>(Coutg));
      CMapR<T> wg(w ? w + grp * Coutg * K : nullptr, Coutg, K, Eigen::OuterStride<>(K));
      for (int64_t n0 = c0; n0 < c1; n0 += nb) {
        const int64_t m = std::min(c1, n0 + nb) - n0, cols = m * P;
        const bool first = n0 == c0;
        // dy of the m images side by side: [Coutg, cols].
        T* dyb = thread_workspace<T>(kSlotBatch, static_cast<size_t>(Coutg * cols));
        for (int64_t i = 0; i < m; ++i)
          move_rows<false>(dyb + i * P, cols, dy + ((n0 + i) * g.Cout + grp * Coutg) * P, P, Coutg,
                           P);
        CMapR<T> dyt(dyb, Coutg, cols, Eigen::OuterStride<>(cols));
        if (db) {
          for (int64_t oc = 0; oc < Coutg; ++oc) {
            const T s = row_sum(dyb + oc * cols, cols);
            T& acc = db_acc[grp * Coutg + oc];
            acc = first ? s : acc + s;
          }
        }
        T* col = thread_workspace<T>(kSlotCol, static_cast<size_t>(K * cols));
        MapR<T> colm(col, K, cols, Eigen::OuterStride<>(cols));
        if (dw) {
          for (int64_t i = 0; i < m; ++i)
            unroll_image(g, pd, x + ((n0 + i) * g.C + grp * Cg) * g.H * g.W, col + i * P, cols);
          if (first)
            dwt.noalias() = colm * dyt.transpose();
          else
            dwt.noalias() += colm * dyt.transpose();
        }
        if (!dx) continue;
        colm.noalias() = wg.transpose() * dyt;  // d(col), folded back image by image
        for (int64_t i = 0; i < m; ++i) {
          T* dxg = dx + ((n0 + i) * g.C + grp * Cg) * g.H * g.W;
          if (g.pointwise()) {
            move_rows<false>(dxg, P, col + i * P, cols, Cg, P);
            continue;
          }
          T* dxp = thread_workspace<T>(kSlotPaddedGrad, static_cast<size_t>(Cg * pd.Hp * pd.Wp));
          std::fill(dxp, dxp + Cg * pd.Hp * pd.Wp, T(0));
          col2im_add(g, pd, col + i * P, 0, g.OH, dxp, cols);
          unpad(g, pd, dxp, Cg, dxg);
        }
      }
    }
  });

  sum_grad_blocks(g, partial.data(), chunks, dw, db);
}

// ---- depthwise: one input channel per group, direct loops over the (small) kernel ----------
//
// Each input plane is first copied into a zero-padded Hp x Wp plane, so the tap loops need no
// bounds checks. With stride 1 an output pixel (oh, ow) stored at q = oh * Wp + ow reads the
// padded input at q + ki * dh * Wp + kj * dw: every tap is then one long contiguous loop over
// the whole plane instead of OH short rows (ResNet-sized rows of 32 left the vector units
// mostly in scalar epilogues). The Wp - OW extra columns per row are computed and dropped.

struct DepthwisePlanes : Padded {
  bool flat;  // stride 1: taps are constant offsets in the padded plane
  explicit DepthwisePlanes(const ConvGeom& g) : Padded(g), flat(g.sh == 1 && g.sw == 1) {}
  int64_t flat_len(const ConvGeom& g) const { return (g.OH - 1) * Wp + g.OW; }
};

// dst[q] = (add ? dst[q] : bias) + sum_t w[t] * src[q + off[t]] for q in [0, len). Common
// kernel sizes are unrolled so all taps accumulate in registers (one store per output).
template <class T, int Taps>
void flat_taps_fixed(const T* src, const int64_t* off, const T* w, T* dst, int64_t len, bool add,
                     T bias) {
  T wr[Taps];
  int64_t o[Taps];
  for (int t = 0; t < Taps; ++t) wr[t] = w[t], o[t] = off[t];
  if (add) {
#pragma omp simd
    for (int64_t q = 0; q < len; ++q) {
      T s = dst[q];
      for (int t = 0; t < Taps; ++t) s += wr[t] * src[q + o[t]];
      dst[q] = s;
    }
  } else {
#pragma omp simd
    for (int64_t q = 0; q < len; ++q) {
      T s = bias;
      for (int t = 0; t < Taps; ++t) s += wr[t] * src[q + o[t]];
      dst[q] = s;
    }
  }
}

template <class T>
void flat_taps(const T* src, const int64_t* off, const T* w, int64_t taps, T* dst, int64_t len,
               bool add, T bias) {
  if (taps == 9) return flat_taps_fixed<T, 9>(src, off, w, dst, len, add, bias);
  if (taps == 25) return flat_taps_fixed<T, 25>(src, off, w, dst, len, add, bias);
  if (!add) std::fill(dst, dst + len, bias);
  for (int64_t t = 0; t < taps; ++t) {
    const T wv = w[t];
    const T* s = src + off[t];
#pragma omp simd
    for (int64_t q = 0; q < len; ++q) dst[q] += wv * s[q];
  }
}

template <class T>
void depthwise_forward(const ConvGeom& g, const T* x, const T* w, const T* b, T* y) {
  const int64_t mult = g.Cout / g.C, P = g.P(), HW = g.H * g.W, KK = g.kh * g.kw;
  const DepthwisePlanes d(g);
  std::vector<int64_t> offsets;  // tap (ki, kj) -> offset in the padded plane (stride 1)
  for (int64_t ki = 0; ki < g.kh; ++ki)
    for (int64_t kj = 0; kj < g.kw; ++kj) offsets.push_back(ki * g.dh * d.Wp + kj * g.dw);
  const int64_t planes = g.N * g.C, threads = useful_threads(g);
  parallel_dynamic(planes, threads, planes / (16 * threads), [&](int64_t item) {
    const int64_t n = item / g.C, ic = item % g.C;
    T* xp = thread_workspace<T>(kSlotPadded, static_cast<size_t>(d.Hp * d.Wp + g.OH * d.Wp));
    T* acc = xp + d.Hp * d.Wp;
    pad_rows(g, d, x + item * HW, 1, 0, d.Hp, xp);
    for (int64_t m = 0; m < mult; ++m) {
      const int64_t oc = ic * mult + m;
      const T* wk = w + oc * KK;
      T* yp = y + (n * g.Cout + oc) * P;
      const T bias = b ? b[oc] : T(0);
      if (d.flat) {
        flat_taps(xp, offsets.data(), wk, KK, acc, d.flat_len(g), false, bias);
        for (int64_t oh = 0; oh < g.OH; ++oh) {
          const T* src = acc + oh * d.Wp;
          T* dst = yp + oh * g.OW;
          for (int64_t ow = 0; ow < g.OW; ++ow) dst[ow] = src[ow];
        }
        continue;
      }
      for (int64_t oh = 0; oh < g.OH; ++oh) {
        T* yrow = yp + oh * g.OW;
        std::fill(yrow, yrow + g.OW, bias);
        for (int64_t ki = 0; ki < g.kh; ++ki) {
          const T* xrow = xp + (oh * g.sh + ki * g.dh) * d.Wp;
          for (int64_t kj = 0; kj < g.kw; ++kj) {
            const T wv = wk[ki * g.kw + kj];
            const T* src = xrow + kj * g.dw;
            for (int64_t ow = 0; ow < g.OW; ++ow) yrow[ow] += wv * src[ow * g.sw];
          }
        }
      }
    }
  });
}

// One pass over the input planes computes all three gradients: the (n, c) planes are cut into
// fixed blocks, each keeping its own (small) weight/bias gradient, summed in order at the end.
template <class T>
void depthwise_backward(const ConvGeom& g, const T* x, const T* w, const T* dy, T* dx, T* dw,
                        T* db) {
  const int64_t mult = g.Cout / g.C, P = g.P(), HW = g.H * g.W, KK = g.kh * g.kw;
  const DepthwisePlanes d(g);
  const int64_t planes = g.N * g.C, acc_n = g.Cout * KK + g.Cout;
  // Per-block gradients are tiny here (Cout * (kh * kw + 1)), so use many blocks.
  const int64_t chunks = std::min<int64_t>(planes, 16 * kMaxGradBlocks);
  TensorT<T> partial;  // from the storage cache
  if (dw || db) partial = TensorT<T>::zeros({chunks * acc_n});
  parallel_dynamic(chunks, useful_threads(g), 1, [&](int64_t chunk) {
    T* dw_acc = dw || db ? partial.data() + chunk * acc_n : nullptr;
    T* db_acc = dw_acc ? dw_acc + g.Cout * KK : nullptr;
    const int64_t plane_n = d.Hp * d.Wp;
    T* xp = thread_workspace<T>(kSlotPadded, static_cast<size_t>(2 * plane_n + g.OH * d.Wp));
    T* dxp = xp + plane_n;
    T* dyq = dxp + plane_n;
    const int64_t len = d.flat_len(g);
    // Columns past OW in each padded-width dy row stay zero, so whole-plane loops are exact.
    if (d.flat) std::fill(dyq, dyq + g.OH * d.Wp, T(0));
    for (int64_t item = planes * chunk / chunks; item < planes * (chunk + 1) / chunks; ++item) {
      const int64_t n = item / g.C, ic = item % g.C;
      if (dw) pad_rows(g, d, x + item * HW, 1, 0, d.Hp, xp);
      if (dx) std::fill(dxp, dxp + plane_n, T(0));
      for (int64_t m = 0; m < mult; ++m) {
        const int64_t oc = ic * mult + m;
        const T* dyp = dy + (n * g.Cout + oc) * P;
        const T* wk = w ? w + oc * KK : nullptr;
        if (db) db_acc[oc] += row_sum(dyp, P);
        if (!dw && !dx) continue;
        if (d.flat) {
          for (int64_t oh = 0; oh < g.OH; ++oh) {
            const T* src = dyp + oh * g.OW;
            T* dst = dyq + oh * d.Wp;
            for (int64_t ow = 0; ow < g.OW; ++ow) dst[ow] = src[ow];
          }
          for (int64_t ki = 0; ki < g.kh; ++ki) {
            for (int64_t kj = 0; kj < g.kw; ++kj) {
              const int64_t off = ki * g.dh * d.Wp + kj * g.dw;
              if (dw) {
                const T* xs = xp + off;
                T s = 0;
#pragma omp simd reduction(+ : s)
                for (int64_t q = 0; q < len; ++q) s += dyq[q] * xs[q];
                dw_acc[oc * KK + ki * g.kw + kj] += s;
              }
              if (dx) {
                const T wv = wk[ki * g.kw + kj];
                T* dst = dxp + off;
#pragma omp simd
                for (int64_t q = 0; q < len; ++q) dst[q] += wv * dyq[q];
              }
            }
          }
          continue;
        }
        for (int64_t oh = 0; oh < g.OH; ++oh) {
          const T* dyrow = dyp + oh * g.OW;
          for (int64_t ki = 0; ki < g.kh; ++ki) {
            const int64_t base = (oh * g.sh + ki * g.dh) * d.Wp;
            for (int64_t kj = 0; kj < g.kw; ++kj) {
              const int64_t start = base + kj * g.dw;
              if (dw) {
                T s = 0;
                for (int64_t ow = 0; ow < g.OW; ++ow) s += dyrow[ow] * xp[start + ow * g.sw];
                dw_acc[oc * KK + ki * g.kw + kj] += s;
              }
              if (dx) {
                const T wv = wk[ki * g.kw + kj];
                for (int64_t ow = 0; ow < g.OW; ++ow) dxp[start + ow * g.sw] += wv * dyrow[ow];
              }
            }
          }
        }
      }
      if (dx) {
        unpad(g, d, dxp, 1, dx + item * HW);
      }
    }
  });
  if (dw || db) {
    const T* parts = partial.data();
    T* outs[2] = {dw, db};
    const int64_t begin[2] = {0, g.Cout * KK}, end[2] = {g.Cout * KK, acc_n};
    for (int part = 0; part < 2; ++part) {
      if (!outs[part]) continue;
      for (int64_t i = begin[part]; i < end[part]; ++i) {
        T s = parts[i];
        for (int64_t c = 1; c < chunks; ++c) s += parts[c * acc_n + i];
        outs[part][i - begin[part]] = s;
      }
    }
  }
}

// ---- 1x1 convs whose planes fill whole vectors: one unpacked GEMM per image ------------------
// y = w x writes y directly: Eigen's product would zero y first and pack both operands, which
// for the few input channels of bottleneck 1x1 convs costs as much as the multiplies.

bool pointwise_lanes(const ConvGeom& g, size_t elem) {
  return g.pointwise() && g.G == 1 && g.P() % gemm_lanes_step(elem) == 0;
}

template <class T>
void pointwise_forward(const ConvGeom& g, const T* x, const T* w, const T* b, T* y) {
  const int64_t P = g.P();
  parallel_dynamic(g.N, useful_threads(g), 1, [&](int64_t n) {
    T* yn = y + n * g.Cout * P;
    gemm_lanes(w, g.Cout, g.C, x + n * g.C * P, P, P, yn);
    if (!b) return;
    for (int64_t oc = 0; oc < g.Cout; ++oc) {
      const T bv = b[oc];
#pragma omp simd
      for (int64_t i = 0; i < P; ++i) yn[oc * P + i] += bv;
    }
  });
}

// dx = w^T dy, the same way (w transposed once per call).
template <class T>
void pointwise_backward_input(const ConvGeom& g, const T* w, const T* dy, T* dx) {
  const int64_t P = g.P();
  TensorT<T> wt = TensorT<T>::empty({g.C, g.Cout});
  for (int64_t o = 0; o < g.Cout; ++o)
    for (int64_t c = 0; c < g.C; ++c) wt.data()[c * g.Cout + o] = w[o * g.C + c];
  parallel_dynamic(g.N, useful_threads(g), 1, [&](int64_t n) {
    gemm_lanes(wt.data(), g.C, g.Cout, dy + n * g.Cout * P, P, P, dx + n * g.C * P);
  });
}

// ---- 3x3 stride-1 weight gradient: direct taps, no im2col -----------------------------------
// dw[o][c][t] = sum over output pixels p of dy[o][p] * x[c][p + offset(t)]. With output channels
// as vector lanes (dy transposed to [P, Cout]), each input pixel a tap reads is one broadcast
// against dy[:, p], and the 9 taps x Q vectors of output channels stay in registers over a whole
// image: the same multiply-adds as im2col + GEMM, without writing (and packing) the 9 shifted
// copies of the input.

// acc[t][q] (rows Cp apart) (+)= sum over p of xp[tap t of p] * dyt[p][q], for Q vectors of
// output channels; xp is one zero-padded input plane (Wp wide). `fresh`: start from zero.
template <class T, int Q>
void accumulate_taps(const T* xp, int64_t Wp, int64_t OH, int64_t OW, const T* dyt, int64_t Cp,
                     bool fresh, T* acc) {
  using V = typename Vec<T>::type;
  constexpr int64_t L = Vec<T>::kLanes;
  V a[9][Q];
  for (int t = 0; t < 9; ++t)
    for (int q = 0; q < Q; ++q) {
      a[t][q] = V{};
      if (!fresh) std::memcpy(&a[t][q], acc + t * Cp + q * L, sizeof(V));
    }
  for (int64_t oh = 0; oh < OH; ++oh) {
    const T* r[3] = {xp + oh * Wp, xp + (oh + 1) * Wp, xp + (oh + 2) * Wp};
    const T* d = dyt + oh * OW * Cp;
    for (int64_t ow = 0; ow < OW; ++ow, d += Cp) {
      V dv[Q];
      for (int q = 0; q < Q; ++q) std::memcpy(&dv[q], d + q * L, sizeof(V));
      for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j) {
          const T s = r[i][ow + j];
          for (int q = 0; q < Q; ++q) a[i * 3 + j][q] += s * dv[q];
        }
    }
  }
  for (int t = 0; t < 9; ++t)
    for (int q = 0; q < Q; ++q) std::memcpy(acc + t * Cp + q * L, &a[t][q], sizeof(V));
}

// Images in grad_blocks() fixed blocks, each with its own [C][9][Cp] accumulator, summed in
// block order at the end (the same result with any thread count).
template <class T>
void taps_weight_grad(const ConvGeom& g, const T* x, const T* dy, T* dw) {
  constexpr int64_t L = Vec<T>::kLanes;
  const int64_t C = g.C, Cout = g.Cout, P = g.P(), Cp = (Cout + L - 1) / L * L;
  const int64_t acc_n = C * 9 * Cp;
  const Padded pd(g);
  const int64_t chunks = grad_blocks(g.N, acc_n, sizeof(T));
  TensorT<T> partial = TensorT<T>::empty({chunks * acc_n});  // each block's first image sets it
  parallel_dynamic(chunks, useful_threads(g), 1, [&](int64_t chunk) {
    T* acc = partial.data() + chunk * acc_n;
    T* xp = thread_workspace<T>(kSlotPadded, static_cast<size_t>(C * pd.Hp * pd.Wp));
    T* dyt = thread_workspace<T>(kSlotBatch, static_cast<size_t>(P * Cp));
    const int64_t n0 = g.N * chunk / chunks;
    for (int64_t n = n0; n < g.N * (chunk + 1) / chunks; ++n) {
      pad_rows(g, pd, x + n * C * g.H * g.W, C, 0, pd.Hp, xp);
      const T* dyn = dy + n * Cout * P;
      for (int64_t p0 = 0; p0 < P; p0 += L) {  // transpose in L1-sized blocks, zero past Cout
        const int64_t pn = std::min(L, P - p0);
        for (int64_t o = 0; o < Cout; ++o)
          for (int64_t p = p0; p < p0 + pn; ++p) dyt[p * Cp + o] = dyn[o * P + p];
        for (int64_t p = p0; p < p0 + pn; ++p)
          std::fill(dyt + p * Cp + Cout, dyt + (p + 1) * Cp, T(0));
      }
      for (int64_t c = 0; c < C; ++c) {
        const T* plane = xp + c * pd.Hp * pd.Wp;
        T* ac = acc + c * 9 * Cp;
        int64_t o = 0;
        for (; o + 2 * L <= Cp; o += 2 * L)
          accumulate_taps<T, 2>(plane, pd.Wp, g.OH, g.OW, dyt + o, Cp, n == n0, ac + o);
        if (o < Cp) accumulate_taps<T, 1>(plane, pd.Wp, g.OH, g.OW, dyt + o, Cp, n == n0, ac + o);
      }
    }
  });
  // Block sums row by row (unit stride over output channels; the blocks can be 10s of MB for
  // 512-channel layers), each row then written to its place in dw.
  parallel_for(
      C,
      [&](int64_t c) {
        for (int64_t t = 0; t < 9; ++t) {
          T* sum = partial.data() + (c * 9 + t) * Cp;  // block 0's row takes the total
          for (int64_t k = 1; k < chunks; ++k) {
            const T* row = sum + k * acc_n;
#pragma omp simd
            for (int64_t o = 0; o < Cout; ++o) sum[o] += row[o];
          }
          for (int64_t o = 0; o < Cout; ++o) dw[(o * C + c) * 9 + t] = sum[o];
        }
      },
      min_items(g, C));
}

}  // namespace

template <class T>
void conv2d_forward(const ConvGeom& g, const T* x, const T* w, const T* b, T* y) {
  if (g.N == 0) return;
  if (g.depthwise())
    depthwise_forward(g, x, w, b, y);
  else if (winograd_applies(g))
    winograd_forward(g, x, w, b, y);
  else if (pointwise_lanes(g, sizeof(T)))
    pointwise_forward(g, x, w, b, y);
  else if (images_per_gemm(g) > 1)
    batched_forward(g, x, w, b, y);
  else
    gemm_forward(g, x, w, b, y);
}

template <class T>
void conv2d_backward(const ConvGeom& g, const T* x, const T* w, const T* dy, T* dx, T* dw, T* db) {
  if (g.N == 0) {  // empty batch: nothing flows back, but the gradients still exist
    if (dw) std::fill(dw, dw + g.Cout * g.K(), T(0));
    if (db) std::fill(db, db + g.Cout, T(0));
    return;
  }
  if (winograd_applies(g)) {  // input gradient by Winograd, weight gradient by direct taps
    if (dx) winograd_backward_input(g, w, dy, dx);
    if (dw) taps_weight_grad(g, x, dy, dw);
    dx = dw = nullptr;
    if (!db) return;  // the bias gradient (row sums) below
  }
  if (dx && pointwise_lanes(g, sizeof(T))) {  // the input gradient; the rest by Eigen below
    pointwise_backward_input(g, w, dy, dx);
    dx = nullptr;
    if (!dw && !db) return;
  }
  if (g.depthwise())
    depthwise_backward(g, x, w, dy, dx, dw, db);
  else if (images_per_gemm(g) > 1)
    batched_backward(g, x, w, dy, dx, dw, db);
  else
    gemm_backward(g, x, w, dy, dx, dw, db);
}

template void conv2d_forward(const ConvGeom&, const float*, const float*, const float*, float*);
template void conv2d_forward(const ConvGeom&, const double*, const double*, const double*, double*);
template void conv2d_backward(const ConvGeom&, const float*, const float*, const float*, float*,
                              float*, float*);
template void conv2d_backward(const ConvGeom&, const double*, const double*, const double*, double*,
                              double*, double*);

ConvGeom make_geom(const Shape& x, const Shape& w, const Conv2dOptions& opt) {
  const Shape y = conv2d_output_shape(x, w, opt);
  return ConvGeom{x[0],
                  x[1],
                  x[2],
                  x[3],
                  w[0],
                  w[2],
                  w[3],
                  opt.stride.h,
                  opt.stride.w,
                  opt.padding.top,
                  opt.padding.left,
                  opt.dilation.h,
                  opt.dilation.w,
                  opt.groups,
                  y[2],
                  y[3]};
}

}  // namespace conv_detail

Shape conv2d_output_shape(const Shape& x, const Shape& w, const Conv2dOptions& opt) {
  const std::string shapes = "input " + shape_str(x) + ", weight " + shape_str(w);
  check(x.size() == 4, "conv2d: expected input [N, C, H, W], got " + shapes);
  check(w.size() == 4, "conv2d: expected weight [C_out, C_in / groups, kh, kw], got " + shapes);
  check(opt.groups >= 1,
        "conv2d: groups must be >= 1, got " + std::to_string(opt.groups) + " (" + shapes + ")");
  check(opt.stride.h >= 1 && opt.stride.w >= 1,
        "conv2d: stride must be >= 1, got (" + std::to_string(opt.stride.h) + ", " +
            std::to_string(opt.stride.w) + ") (" + shapes + ")");
  check(opt.dilation.h >= 1 && opt.dilation.w >= 1,
        "conv2d: dilation must be >= 1, got (" + std::to_string(opt.dilation.h) + ", " +
            std::to_string(opt.dilation.w) + ") (" + shapes + ")");
  const Padding2d& p = opt.padding;
  check(p.top >= 0 && p.bottom >= 0 && p.left >= 0 && p.right >= 0,
        "conv2d: padding must be >= 0 (" + shapes + ")");
  check(w[1] >= 1 && w[2] >= 1 && w[3] >= 1, "conv2d: empty kernel (" + shapes + ")");
  const std::string g = std::to_string(opt.groups);
  check(x[1] % opt.groups == 0, "conv2d: input channels " + std::to_string(x[1]) +
                                    " not divisible by groups " + g + " (" + shapes + ")");
  check(w[0] % opt.groups == 0, "conv2d: output channels " + std::to_string(w[0]) +
                                    " not divisible by groups " + g + " (" + shapes + ")");
  check(x[1] == w[1] * opt.groups, "conv2d: input has " + std::to_string(x[1]) +
                                       " channels but weight expects " + std::to_string(w[1]) +
                                       " x groups " + g + " (" + shapes + ")");
  const int64_t oh = (x[2] + p.top + p.bottom - opt.dilation.h * (w[2] - 1) - 1) / opt.stride.h + 1;
  const int64_t ow = (x[3] + p.left + p.right - opt.dilation.w * (w[3] - 1) - 1) / opt.stride.w + 1;
  // Plain division truncates toward zero, so check the padded extent itself.
  const bool fits = x[2] + p.top + p.bottom >= opt.dilation.h * (w[2] - 1) + 1 &&
                    x[3] + p.left + p.right >= opt.dilation.w * (w[3] - 1) + 1;
  check(fits && oh >= 1 && ow >= 1,
        "conv2d: kernel (dilated) larger than padded input, no output (" + shapes + ")");
  return {x[0], w[0], oh, ow};
}

template <class T>
VarT<T> conv2d(const VarT<T>& x, const VarT<T>& weight, const VarT<T>& bias,
               const Conv2dOptions& opt) {
  check(x.defined() && weight.defined(), "conv2d: input and weight must be defined");
  const conv_detail::ConvGeom g = conv_detail::make_geom(x.shape(), weight.shape(), opt);
  if (bias.defined())
    check(bias.dim() == 1 && bias.size(0) == g.Cout,
          "conv2d: bias " + bias.value().shape_str() + " does not match weight " +
              weight.value().shape_str() + " (expected [" + std::to_string(g.Cout) + "])");

  TensorT<T> y = TensorT<T>::empty({g.N, g.Cout, g.OH, g.OW});
  conv_detail::conv2d_forward<T>(g, x.value().data(), weight.value().data(),
                                 bias.defined() ? bias.value().data() : nullptr, y.data());

  // d(input) needs the weight, d(weight) needs the input: save only what will be used.
  const TensorT<T> saved_x = weight.requires_grad() ? x.value() : TensorT<T>();
  const TensorT<T> saved_w = x.requires_grad() ? weight.value() : TensorT<T>();
  return make_result<T>(
      std::move(y), {x, weight, bias}, "conv2d", [g, saved_x, saved_w](Node<T>& n) {
        const bool want_dx = n.input_needs_grad(0) && saved_w.defined();
        const bool want_dw = n.input_needs_grad(1) && saved_x.defined();
        const bool want_db = n.input_needs_grad(2);
        TensorT<T> dx, dw, db;
        if (want_dx) dx = TensorT<T>::empty({g.N, g.C, g.H, g.W});
        if (want_dw) dw = TensorT<T>::empty({g.Cout, g.Cg(), g.kh, g.kw});
        if (want_db) db = TensorT<T>::empty({g.Cout});
        conv_detail::conv2d_backward<T>(
            g, want_dw ? saved_x.data() : nullptr, want_dx ? saved_w.data() : nullptr,
            n.grad.data(), want_dx ? dx.data() : nullptr, want_dw ? dw.data() : nullptr,
            want_db ? db.data() : nullptr);
        if (want_dx) n.inputs[0]->accumulate(std::move(dx));
        if (want_dw) n.inputs[1]->accumulate(std::move(dw));
        if (want_db) n.inputs[2]->accumulate(std::move(db));
      });
}

template VarT<float> conv2d(const VarT<float>&, const VarT<float>&, const VarT<float>&,
                            const Conv2dOptions&);
template VarT<double> conv2d(const VarT<double>&, const VarT<double>&, const VarT<double>&,
                             const Conv2dOptions&);

}  // namespace cnnzoo
