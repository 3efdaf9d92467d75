// conv2d kernels: the dispatch between the conv paths, and the general one, im2col (or the
// input itself for 1x1) times the weight by Eigen GEMMs, per image tile or per batch of images.
#include <Eigen/Core>
#include <algorithm>
#include <cstring>
#include <type_traits>

#include "cnnzoo/tensor.hpp"
#include "kernels/conv_internal.hpp"
#include "kernels/gemm_bf16.hpp"
#include "parallel_for.hpp"

namespace cnnzoo::kernels {

namespace {

template <class T>
using MatR = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using MapR = Eigen::Map<MatR<T>, Eigen::Unaligned, Eigen::OuterStride<>>;
template <class T>
using CMapR = Eigen::Map<const MatR<T>, Eigen::Unaligned, Eigen::OuterStride<>>;

// Output rows per im2col tile, balanced so the last tile is not a sliver.
int64_t rows_per_tile(const ConvGeometry& g, size_t elem_size) {
  if (g.pointwise()) return g.OH;
  const int64_t row_bytes = g.K() * g.OW * static_cast<int64_t>(elem_size);
  const int64_t budget_rows = kColBudgetBytes / std::max<int64_t>(row_bytes, 1);
  const int64_t min_rows = (kMinTileCols + g.OW - 1) / g.OW;
  const int64_t max_rows = std::clamp<int64_t>(std::max(budget_rows, min_rows), 1, g.OH);
  const int64_t tiles = (g.OH + max_rows - 1) / max_rows;
  return (g.OH + tiles - 1) / tiles;
}

// Padded input rows needed by output rows [oh0, oh1).
inline void input_rows(const ConvGeometry& g, int64_t oh0, int64_t oh1, int64_t& r0, int64_t& r1) {
  r0 = oh0 * g.sh;
  r1 = (oh1 - 1) * g.sh + (g.kh - 1) * g.dh + 1;
}

// Unrolls output rows [oh0, oh1) of one channel into its kh * kw rows of col (rows tp apart):
// row (ki, kj) holds the input pixel each output reads. `plane` points at padded row
// input_rows(oh0, ..).r0 of the channel. Every row is a plain OW-long copy (contiguous for
// stride 1).
template <class T>
void im2col_channel(const ConvGeometry& g, const Padded& pd, const T* plane, int64_t oh0,
                    int64_t oh1, T* col, int64_t tp) {
  const int64_t OW = g.OW, rows = oh1 - oh0;
  for (int64_t ki = 0; ki < g.kh; ++ki) {
    for (int64_t kj = 0; kj < g.kw; ++kj) {
      T* row = col + (ki * g.kw + kj) * tp;
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

// Output rows [oh0, oh1) of every channel into col [K, (oh1 - oh0) * OW] (rows ld apart,
// default packed); channel c starts plane_rows * Wp after `xp`.
template <class T>
void im2col(const ConvGeometry& g, const Padded& pd, const T* xp, int64_t plane_rows, int64_t oh0,
            int64_t oh1, T* col, int64_t ld = 0) {
  const int64_t tp = ld > 0 ? ld : (oh1 - oh0) * g.OW, taps = g.kh * g.kw;
  for (int64_t c = 0; c < g.Cg(); ++c)
    im2col_channel(g, pd, xp + c * plane_rows * pd.Wp, oh0, oh1, col + c * taps * tp, tp);
}

// The adjoint of im2col: adds col [K, (oh1 - oh0) * OW] onto the padded planes `dxp`
// (Cg x Hp x Wp, the whole image, since neighbouring tiles overlap).
template <class T>
void col2im_add(const ConvGeometry& g, const Padded& pd, const T* col, int64_t oh0, int64_t oh1,
                T* dxp, int64_t ld = 0) {
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

// ---- general case: im2col (or the input itself for 1x1) times the weight ------------------

// A single image whose output plane is smaller than its output channels (deep layers at
// batch 1): the threads share one im2col of the image and each multiplies a block of
// output channels by it, so each packs only its share of the weight. (Cutting the plane
// instead would have every thread pack the whole weight for a few dozen columns.)
template <class T>
void output_split_forward(const ConvGeometry& g, const T* x, const T* w, const T* b, T* y,
                          int64_t nt) {
  const int64_t K = g.K(), P = g.P(), Cg = g.Cg(), Coutg = g.Coutg(), taps = g.kh * g.kw;
  const Padded pd(g);
  for (int64_t n = 0; n < g.N; ++n) {
    const T* xn = x + n * g.C * g.H * g.W;
    const T* col = xn;  // 1x1: the planes themselves
    if (!g.pointwise()) {
      T* cols = thread_workspace<T>(kSlotCol, static_cast<size_t>(g.C * taps * P));
      parallel_dynamic(g.C, nt, 1, [&](int64_t c) {
        T* xp = thread_workspace<T>(kSlotPadded, static_cast<size_t>(pd.Hp * pd.Wp));
        pad_rows(g, pd, xn + c * g.H * g.W, 1, 0, pd.Hp, xp);
        im2col_channel(g, pd, xp, 0, g.OH, cols + c * taps * P, P);
      });
      col = cols;
    }
    // Blocks of output channels, a multiple of 16 (the GEMM's row panel), two per thread.
    const int64_t per_block = std::max<int64_t>(16, (Coutg + 2 * nt - 1) / (2 * nt) / 16 * 16);
    const int64_t blocks = (Coutg + per_block - 1) / per_block;
    parallel_dynamic(g.G * blocks, nt, 1, [&](int64_t item) {
      const int64_t grp = item / blocks, o0 = item % blocks * per_block;
      const int64_t m = std::min(Coutg, o0 + per_block) - o0;
      T* yo = y + (n * g.Cout + grp * Coutg + o0) * P;
      matmul(MapR<T>(yo, m, P, Eigen::OuterStride<>(P)),
             CMapR<T>(w + (grp * Coutg + o0) * K, m, K, Eigen::OuterStride<>(K)),
             CMapR<T>(col + grp * Cg * taps * P, K, P, Eigen::OuterStride<>(P)));
      add_bias_rows(b ? b + grp * Coutg + o0 : nullptr, m, P, P, yo);
    });
  }
}

template <class T>
void gemm_forward(const ConvGeometry& g, const T* x, const T* w, const T* b, T* y) {
  const int64_t K = g.K(), P = g.P(), Cg = g.Cg(), Coutg = g.Coutg();
  const Padded pd(g);
  int64_t rows = rows_per_tile(g, sizeof(T));
  // Small batches (inference) would leave threads idle: split the output channels, or the
  // images into row tiles, whichever leaves each thread the larger GEMM operand to itself.
  const int64_t per_image = g.G * ((g.OH + rows - 1) / rows);
  const int64_t nt = useful_threads(g);
  if (g.N * per_image < nt) {
    if (Coutg >= P && Coutg >= 16 * nt) return output_split_forward(g, x, w, b, y, nt);
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
      matmul(yt, wg, CMapR<T>(xg + oh0 * g.OW, Cg, tp, Eigen::OuterStride<>(P)));
    } else {
      int64_t r0, r1;
      input_rows(g, oh0, oh1, r0, r1);
      T* xp = thread_workspace<T>(kSlotPadded, static_cast<size_t>(Cg * (r1 - r0) * pd.Wp));
      pad_rows(g, pd, xg, Cg, r0, r1, xp);
      T* col = thread_workspace<T>(kSlotCol, static_cast<size_t>(K * tp));
      im2col(g, pd, xp, r1 - r0, oh0, oh1, col);
      matmul(yt, wg, CMapR<T>(col, K, tp, Eigen::OuterStride<>(tp)));
    }
    add_bias_rows(b ? b + grp * Coutg : nullptr, Coutg, tp, P, yg);
  });
}

// Sums the per-block gradients (each block: the weight part transposed per group, [K, Coutg],
// then the bias), in block order, transposing the weight back to [Cout, Cg, kh, kw].
template <class T>
void sum_grad_blocks(const ConvGeometry& g, const T* parts, int64_t chunks, T* dw, T* db) {
  const int64_t K = g.K(), Coutg = g.Coutg(), wn = g.Cout * K, acc_n = wn + g.Cout;
  if (dw) {
    // Tiles of kTile rows of the transposed parts: the sums read whole contiguous rows of
    // every block, and dw is written kTile contiguous values per output channel (summing
    // column by column strided over the parts cost a quarter of VGG's training step).
    constexpr int64_t kTile = 16;
    const int64_t tiles = (K + kTile - 1) / kTile;
    parallel_for(
        g.G * tiles,
        [&](int64_t item) {
          const int64_t grp = item / tiles, k0 = item % tiles * kTile;
          const int64_t kn = std::min(kTile, K - k0);
          T* tile = thread_workspace<T>(kSlotPaddedGrad, static_cast<size_t>(kTile * Coutg));
          const T* first = parts + (grp * K + k0) * Coutg;
          std::copy(first, first + kn * Coutg, tile);
          for (int64_t c = 1; c < chunks; ++c) {
            const T* src = first + c * acc_n;
#pragma omp simd
            for (int64_t i = 0; i < kn * Coutg; ++i) tile[i] += src[i];
          }
          for (int64_t o = 0; o < Coutg; ++o) {
            T* dst = dw + (grp * Coutg + o) * K + k0;
            for (int64_t k = 0; k < kn; ++k) dst[k] = tile[k * Coutg + o];
          }
        },
        min_items(g, g.G * tiles));
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
void gemm_backward(const ConvGeometry& g, const T* x, const T* w, const T* dy, T* dx, T* dw,
                   T* db) {
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
              matmul(dwt, xt, dyt.transpose());
            else
              matmul(dwt, xt, dyt.transpose(), true);
          }
          if (dx) matmul(MapR<T>(dxg, Cg, P, Eigen::OuterStride<>(P)), wg.transpose(), dyt);
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
              matmul(dwt, colm, dyt.transpose());
            else
              matmul(dwt, colm, dyt.transpose(), true);
          }
          if (dx) {
            // The same buffer now receives d(col), which col2im folds back onto dx.
            matmul(colm, wg.transpose(), dyt);
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
int64_t images_per_gemm(const ConvGeometry& g) {
  if (g.P() >= kMinTileCols || g.N < 2) return 1;
  return std::min<int64_t>((g.N + 1) / 2, (kMinTileCols + g.P() - 1) / g.P());
}

// Image n's Cg x (H x W) input planes of group grp -> im2col columns [0, P) of col (row
// stride ld); pointwise convs copy the planes themselves.
template <class T>
void unroll_image(const ConvGeometry& g, const Padded& pd, const T* xg, T* col, int64_t ld) {
  if (g.pointwise()) {
    move_rows<false>(col, ld, xg, g.P(), g.Cg(), g.P());
    return;
  }
  T* xp = thread_workspace<T>(kSlotPadded, static_cast<size_t>(g.Cg() * pd.Hp * pd.Wp));
  pad_rows(g, pd, xg, g.Cg(), 0, pd.Hp, xp);
  im2col(g, pd, xp, pd.Hp, 0, g.OH, col, ld);
}

template <class T>
void batched_forward(const ConvGeometry& g, const T* x, const T* w, const T* b, T* y) {
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
    matmul(MapR<T>(out, Coutg, cols, Eigen::OuterStride<>(cols)),
           CMapR<T>(w + grp * Coutg * K, Coutg, K, Eigen::OuterStride<>(K)),
           CMapR<T>(col, K, cols, Eigen::OuterStride<>(cols)));
    for (int64_t i = 0; i < m; ++i) {
      T* yi = y + ((n0 + i) * g.Cout + grp * Coutg) * P;
      move_rows<false>(yi, P, out + i * P, cols, Coutg, P);
      add_bias_rows(b ? b + grp * Coutg : nullptr, Coutg, P, P, yi);
    }
  });
}

// Images are cut into a fixed number of blocks (shape-dependent only, as in gemm_backward),
// each accumulating its own weight/bias gradient; within a block, nb images per GEMM.
template <class T>
void batched_backward(const ConvGeometry& g, const T* x, const T* w, const T* dy, T* dx, T* dw,
                      T* db) {
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
            matmul(dwt, colm, dyt.transpose());
          else
            matmul(dwt, colm, dyt.transpose(), true);
        }
        if (!dx) continue;
        matmul(colm, wg.transpose(), dyt);  // d(col), folded back image by image
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

}  // namespace

// Under Precision::BF16 the GEMM convs multiply in bf16 (gemm_bf16), the 1x1 ones included.
// Winograd stays: its fp32 products in the transform domain are fewer than a bf16 GEMM's
// (measured faster on every shape it takes), and more precise; depthwise convs stay fp32.
template <class T>
bool fp32_gemm() {
  return !std::is_same_v<T, float> || precision() == Precision::FP32;
}

template <class T>
void conv2d_forward(const ConvGeometry& g, const T* x, const T* w, const T* b, T* y) {
  if (g.N == 0) return;
  if (g.depthwise())
    depthwise_forward(g, x, w, b, y);
  else if (winograd_applies(g))
    winograd_forward(g, x, w, b, y);
  else if (fp32_gemm<T>() && pointwise_lanes(g, sizeof(T)))
    pointwise_forward(g, x, w, b, y);
  else if (images_per_gemm(g) > 1)
    batched_forward(g, x, w, b, y);
  else
    gemm_forward(g, x, w, b, y);
}

template <class T>
void conv2d_backward(const ConvGeometry& g, const T* x, const T* w, const T* dy, T* dx, T* dw,
                     T* db) {
  if (g.N == 0) {  // empty batch: nothing flows back, but the gradients still exist
    if (dw) std::fill(dw, dw + g.Cout * g.K(), T(0));
    if (db) std::fill(db, db + g.Cout, T(0));
    return;
  }
  if (winograd_applies(g)) {
    // Input gradient by Winograd; weight gradient by direct taps, or by the bf16 GEMM below
    // where that pays.
    if (dx) winograd_backward_input(g, w, dy, dx);
    dx = nullptr;
    if (dw && (fp32_gemm<T>() || g.Coutg() < kBf16WeightGradMinOutputs)) {
      taps_weight_grad(g, x, dy, dw);
      dw = nullptr;
    }
    if (!dw && !db) return;  // the bias gradient (row sums) below
  }
  // The 1x1 input gradient by the register-blocked kernel; the rest by the GEMMs below.
  if (dx && fp32_gemm<T>() && pointwise_lanes(g, sizeof(T))) {
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

template void conv2d_forward(const ConvGeometry&, const float*, const float*, const float*, float*);
template void conv2d_forward(const ConvGeometry&, const double*, const double*, const double*,
                             double*);
template void conv2d_backward(const ConvGeometry&, const float*, const float*, const float*, float*,
                              float*, float*);
template void conv2d_backward(const ConvGeometry&, const double*, const double*, const double*,
                              double*, double*, double*);

}  // namespace cnnzoo::kernels
