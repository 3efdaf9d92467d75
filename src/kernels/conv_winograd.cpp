// Winograd F(4x4, 3x3) (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks",
// 2016) for 3x3 stride-1 convolutions: the forward pass and the gradient of the input.
//
// Each 4x4 block of outputs comes from its 6x6 input patch d as A^T [(G g G^T) . (B^T d B)] A:
// the 36 element-wise products become 36 GEMMs between the transformed weights U[e] (Cout x C)
// and the transformed input tiles V[e] (C x tiles), with 36 multiplies per 16 outputs where the
// direct method needs 144. Tiles are the lanes of every vector loop.
//
// The weight gradient is not done here: through F(4x4) it would sum over every tile of the
// batch with rounding amplified ~1000-fold by the transforms (coefficients up to 8), and
// F(2x2) measured 1.3-2.5x slower than im2col; conv_direct.cpp computes it by direct taps.
#include <algorithm>
#include <cstring>
#include <type_traits>

#include "cnnzoo/tensor.hpp"
#include "kernels/conv_internal.hpp"
#include "parallel_for.hpp"

namespace cnnzoo::kernels {

namespace {

constexpr int64_t kBytes = Vec<float>::kBytes;  // one 512-bit vector

// ---- the transforms: 1-D passes applied along columns and then along rows ------------------
// Lavin & Gray's B^T, G and A^T for F(4, 3) with interpolation points 0, +-1, +-2. Each pass
// runs on `len` tiles (or kernels) at once: value i of tile q is in[i][q].
struct F4x4 {
  static constexpr int64_t m = 4, n = 6;
  template <class T>  // out = B^T in
  static void input(const T* const in[n], T* const out[n], int64_t len) {
#pragma omp simd
    for (int64_t q = 0; q < len; ++q) {
      const T d1 = in[1][q], d2 = in[2][q], d3 = in[3][q], d4 = in[4][q];
      out[0][q] = 4 * in[0][q] - 5 * d2 + d4;
      out[1][q] = -4 * (d1 + d2) + d3 + d4;
      out[2][q] = 4 * (d1 - d2) - d3 + d4;
      out[3][q] = 2 * (d3 - d1) - d2 + d4;
      out[4][q] = 2 * (d1 - d3) - d2 + d4;
      out[5][q] = 4 * d1 - 5 * d3 + in[5][q];
    }
  }
  template <class T>  // out = A^T in
  static void output(const T* const in[n], T* const out[m], int64_t len) {
#pragma omp simd
    for (int64_t q = 0; q < len; ++q) {
      const T s12 = in[1][q] + in[2][q], d12 = in[1][q] - in[2][q];
      const T s34 = in[3][q] + in[4][q], d34 = in[3][q] - in[4][q];
      out[0][q] = in[0][q] + s12 + s34;
      out[1][q] = d12 + 2 * d34;
      out[2][q] = s12 + 4 * s34;
      out[3][q] = d12 + 8 * d34 + in[5][q];
    }
  }
  template <class T>  // out = G in (3 -> 6)
  static void weight(const T* const in[3], T* const out[n], int64_t len) {
    constexpr T k4 = T(1) / 4, k6 = T(1) / 6, k12 = T(1) / 12, k24 = T(1) / 24;
#pragma omp simd
    for (int64_t q = 0; q < len; ++q) {
      const T g0 = in[0][q], g1 = in[1][q], g2 = in[2][q];
      out[0][q] = g0 * k4;
      out[1][q] = -(g0 + g1 + g2) * k6;
      out[2][q] = -(g0 - g1 + g2) * k6;
      out[3][q] = g0 * k24 + g1 * k12 + g2 * k6;
      out[4][q] = g0 * k24 - g1 * k12 + g2 * k6;
      out[5][q] = g2;
    }
  }
};

using F = F4x4;
constexpr int64_t kM = F::m, kN = F::n, kE = kN * kN;  // tile sides, transformed elements

// U[e][o][c] = (G w[o][c] G^T)[e] for the 3x3 kernels of a conv with Cout = g.Cout, C = g.C.
// `adjoint` reads the kernels of the transposed conv instead (the input gradient of a conv
// with weight w [C, Cout, 3, 3]): kernel (o, c) is w[c][o] rotated by 180 degrees.
template <class T>
void transform_weights(const ConvGeometry& g, const T* w, bool adjoint, T* u) {
  constexpr int64_t n = kN, E = kE;
  const int64_t C = g.C, Cout = g.Cout;
  // Kernels are transformed kChunk input channels at a time, as the lanes of every pass, and
  // stored as runs of U rows (one element of kChunk kernels per run).
  constexpr int64_t kChunk = 64;
  parallel_items(Cout, C * E * 8, [&](int64_t o) {
    T k[9][kChunk], tmp[n * 3][kChunk], out[E][kChunk];
    for (int64_t c0 = 0; c0 < C; c0 += kChunk) {
      const int64_t len = std::min(kChunk, C - c0);
      for (int64_t c = c0; c < c0 + len; ++c)
        for (int64_t i = 0; i < 9; ++i)
          k[i][c - c0] = adjoint ? w[(c * Cout + o) * 9 + (8 - i)] : w[(o * C + c) * 9 + i];
      for (int64_t j = 0; j < 3; ++j) {  // G k: column j of the kernel -> column j of tmp
        const T* in[3] = {k[j], k[3 + j], k[6 + j]};
        T* res[n];
        for (int64_t i = 0; i < n; ++i) res[i] = tmp[3 * i + j];
        F::weight(in, res, len);
      }
      for (int64_t i = 0; i < n; ++i) {  // (G k) G^T: row i of tmp -> row i of U
        const T* in[3] = {tmp[3 * i], tmp[3 * i + 1], tmp[3 * i + 2]};
        T* res[n];
        for (int64_t j = 0; j < n; ++j) res[j] = out[n * i + j];
        F::weight(in, res, len);
      }
      for (int64_t e = 0; e < E; ++e) std::copy(out[e], out[e] + len, u + (e * Cout + o) * C + c0);
    }
  });
}

// ---- the forward GEMMs: M[e] (Cout x len) = U[e] (Cout x C) * V[e] (C x len) ---------------
// R output channels times two vectors of tiles stay in registers over the whole C loop; len is
// a multiple of two vectors, rows are TB apart.

template <class T, int R>
void gemm_rows(const T* u, int64_t C, const T* v, int64_t TB, int64_t len, T* m) {
  using V = typename Vec<T>::type;
  constexpr int64_t L = Vec<T>::kLanes;
  for (int64_t t = 0; t < len; t += 2 * L) {
    V acc[R][2];
    for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = V{};
    for (int64_t c = 0; c < C; ++c) {
      V v0, v1;
      std::memcpy(&v0, v + c * TB + t, kBytes);
      std::memcpy(&v1, v + c * TB + t + L, kBytes);
      for (int r = 0; r < R; ++r) {
        const T s = u[r * C + c];
        acc[r][0] += s * v0;
        acc[r][1] += s * v1;
      }
    }
    for (int r = 0; r < R; ++r) {
      std::memcpy(m + r * TB + t, &acc[r][0], kBytes);
      std::memcpy(m + r * TB + t + L, &acc[r][1], kBytes);
    }
  }
}

// out[4 q + j] = s[j][q] + bias for q in [0, len): four rows of tiles' pixels into output order.
template <class T>
void interleave4(const T* const s[4], int64_t len, T bias, T* out) {
  int64_t q = 0;
  if constexpr (std::is_same_v<T, float>) {  // 16 tiles at a time: 8 two-vector shuffles
    typedef float V __attribute__((vector_size(64)));
    for (; q + 16 <= len; q += 16) {
      V a0, a1, a2, a3;
      std::memcpy(&a0, s[0] + q, kBytes);
      std::memcpy(&a1, s[1] + q, kBytes);
      std::memcpy(&a2, s[2] + q, kBytes);
      std::memcpy(&a3, s[3] + q, kBytes);
      const V lo01 =
          __builtin_shufflevector(a0, a1, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
      const V lo23 =
          __builtin_shufflevector(a2, a3, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
      const V hi01 = __builtin_shufflevector(a0, a1, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29,
                                             14, 30, 15, 31);
      const V hi23 = __builtin_shufflevector(a2, a3, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29,
                                             14, 30, 15, 31);
      const V o[4] = {__builtin_shufflevector(lo01, lo23, 0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21,
                                              6, 7, 22, 23),
                      __builtin_shufflevector(lo01, lo23, 8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28,
                                              29, 14, 15, 30, 31),
                      __builtin_shufflevector(hi01, hi23, 0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21,
                                              6, 7, 22, 23),
                      __builtin_shufflevector(hi01, hi23, 8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28,
                                              29, 14, 15, 30, 31)};
      for (int k = 0; k < 4; ++k) {
        const V r = o[k] + bias;
        std::memcpy(out + 4 * q + 16 * k, &r, kBytes);
      }
    }
  }
  for (; q < len; ++q)
    for (int64_t j = 0; j < 4; ++j) out[4 * q + j] = s[j][q] + bias;
}

// ---- tiles and blocks ----------------------------------------------------------------------

// Tiles are numbered image by image, row by row; a block of work is a run of whole tile rows
// (possibly across images), its tiles the lanes [0, nt) of every V and M row.
struct TileGrid {
  int64_t rows, cols;
  explicit TileGrid(const ConvGeometry& g)
      : rows((g.OH + kM - 1) / kM), cols((g.OW + kM - 1) / kM) {}
  int64_t padded_width() const { return kM * cols + kN - kM; }  // of the padded input rows
};

// Calls f(n, ti0, ti1, lane0) for each image's share of tile rows [R0, R1) (global tile row
// R = n * rows + ti); lane0 is the lane of tile (ti0, 0).
template <class Fn>
void for_each_image_part(const TileGrid& grid, int64_t R0, int64_t R1, Fn&& f) {
  for (int64_t R = R0; R < R1;) {
    const int64_t n = R / grid.rows, ti0 = R % grid.rows;
    const int64_t ti1 = std::min(grid.rows, ti0 + (R1 - R));
    f(n, ti0, ti1, (R - R0) * grid.cols);
    R += ti1 - ti0;
  }
}

// Threads worth waking for this many multiplies.
int64_t useful_threads(const ConvGeometry& g, const TileGrid& grid) {
  const double macs = double(g.N * grid.rows * grid.cols) * kE * double(g.C) * double(g.Cout);
  return std::clamp<int64_t>(static_cast<int64_t>(macs / kMinMacsPerThread), 1, num_threads());
}

// Work is cut into `count` blocks of `rows` tile rows. V and M stay within the cache budget
// (but hold at least one GEMM column step of tiles), there is at least one block per thread,
// and among those sizes the one with the fewest padding lanes up to the next step wins.
struct Blocking {
  int64_t step, rows, TB, count;
  Blocking(const ConvGeometry& g, const TileGrid& grid, int64_t threads, size_t elem) {
    step = gemm_lanes_step(elem);
    const int64_t cols = grid.cols, total_rows = g.N * grid.rows;
    const int64_t per_tile = kE * (g.C + g.Cout) * static_cast<int64_t>(elem);
    int64_t max_rows =
        std::max(kWinogradBlockBudgetBytes / per_tile / cols, (step + cols - 1) / cols);
    max_rows = std::clamp<int64_t>(max_rows, 1, (total_rows + threads - 1) / threads);
    rows = 1;
    double best = 0;
    for (int64_t r = 1; r <= max_rows; ++r) {
      const double use = double(r * cols) / double(padded(r * cols));
      if (use >= best) best = use, rows = r;
    }
    TB = padded(rows * cols);
    count = (total_rows + rows - 1) / rows;
  }
  int64_t padded(int64_t tiles) const { return (tiles + step - 1) / step * step; }
};

// dst[j * TB + t] = row[4 t + j] for j < 6, t < len: the six patch columns of `len` tiles along
// one padded input row. The float version shuffles whole vectors, 8 or 4 tiles at a time, and
// reads up to 2 elements past row[4 len + 1]: callers keep that much readable memory after it.
template <class T>
void patch_columns(const T* row, int64_t len, T* dst, int64_t TB) {
  int64_t t = 0;
  if constexpr (std::is_same_v<T, float>) {
    typedef float V16 __attribute__((vector_size(64)));
    typedef float V8 __attribute__((vector_size(32)));
    typedef float V4 __attribute__((vector_size(16)));
    for (; t + 8 <= len; t += 8) {
      V16 a0, a1, b0, b1;  // row[4t + 0 .. 31] and row[4t + 4 .. 35]
      std::memcpy(&a0, row + 4 * t, sizeof(V16));
      std::memcpy(&a1, row + 4 * t + 16, sizeof(V16));
      std::memcpy(&b0, row + 4 * t + 4, sizeof(V16));
      std::memcpy(&b1, row + 4 * t + 20, sizeof(V16));
      const V8 c[6] = {__builtin_shufflevector(a0, a1, 0, 4, 8, 12, 16, 20, 24, 28),
                       __builtin_shufflevector(a0, a1, 1, 5, 9, 13, 17, 21, 25, 29),
                       __builtin_shufflevector(a0, a1, 2, 6, 10, 14, 18, 22, 26, 30),
                       __builtin_shufflevector(a0, a1, 3, 7, 11, 15, 19, 23, 27, 31),
                       __builtin_shufflevector(b0, b1, 0, 4, 8, 12, 16, 20, 24, 28),
                       __builtin_shufflevector(b0, b1, 1, 5, 9, 13, 17, 21, 25, 29)};
      for (int64_t j = 0; j < 6; ++j) std::memcpy(dst + j * TB + t, &c[j], sizeof(V8));
    }
    if (t + 4 <= len) {
      V16 a, b;  // row[4t + 0 .. 15] and row[4t + 4 .. 19]
      std::memcpy(&a, row + 4 * t, sizeof(V16));
      std::memcpy(&b, row + 4 * t + 4, sizeof(V16));
      const V4 c[6] = {
          __builtin_shufflevector(a, a, 0, 4, 8, 12),  __builtin_shufflevector(a, a, 1, 5, 9, 13),
          __builtin_shufflevector(a, a, 2, 6, 10, 14), __builtin_shufflevector(a, a, 3, 7, 11, 15),
          __builtin_shufflevector(b, b, 0, 4, 8, 12),  __builtin_shufflevector(b, b, 1, 5, 9, 13)};
      for (int64_t j = 0; j < 6; ++j) std::memcpy(dst + j * TB + t, &c[j], sizeof(V4));
      t += 4;
    }
  }
  for (; t < len; ++t)
    for (int64_t j = 0; j < 6; ++j) dst[j * TB + t] = row[4 * t + j];
}

// V rows (element e of channel c at v + (e * C + c) * TB) for the tiles of tile rows [R0, R1):
// the input rows they read are first copied into zero-padded planes p (so no bounds tests
// follow); then, one channel at a time, each tile's 6x6 patch goes to q (pixel (i, j) in row
// i * 6 + j, lane = tile, rows TB apart) and B^T d B runs on it, both passes long unit-stride
// loops over the nt tiles. q and h (36 rows each) stay in cache from one step to the next.
template <class T>
void transform_input(const ConvGeometry& g, const TileGrid& grid, const T* x, int64_t R0,
                     int64_t R1, int64_t TB, T* p, T* q, T* h, T* v) {
  constexpr int64_t n = kN;
  const int64_t C = g.C, Wp = grid.padded_width(), nt = (R1 - R0) * grid.cols;
  const Padded pd(0, Wp);
  int64_t off = 0;
  for_each_image_part(grid, R0, R1, [&](int64_t img, int64_t ti0, int64_t ti1, int64_t) {
    const int64_t r0 = kM * ti0, rows = kM * (ti1 - ti0) + kN - kM;
    pad_rows(g, pd, x + img * C * g.H * g.W, C, r0, r0 + rows, p + off);
    off += C * rows * Wp;
  });
  for (int64_t c = 0; c < C; ++c) {
    off = 0;
    for_each_image_part(grid, R0, R1, [&](int64_t, int64_t ti0, int64_t ti1, int64_t lane0) {
      const int64_t rows = kM * (ti1 - ti0) + kN - kM;
      const T* plane = p + off + c * rows * Wp;
      off += C * rows * Wp;
      if (std::is_same_v<T, float> && grid.cols >= 4) {  // a tile row at a time, by shuffles
        for (int64_t ti = 0; ti < ti1 - ti0; ++ti) {
          T* dst = q + lane0 + ti * grid.cols;
          for (int64_t i = 0; i < n; ++i)
            patch_columns(plane + (kM * ti + i) * Wp, grid.cols, dst + i * n * TB, TB);
        }
        return;
      }
      for (int64_t ti = 0; ti < ti1 - ti0; ++ti) {
        for (int64_t tj = 0; tj < grid.cols; ++tj) {
          const T* patch = plane + kM * (ti * Wp + tj);
          T* dst = q + lane0 + ti * grid.cols + tj;
          for (int64_t i = 0; i < n; ++i)
            for (int64_t j = 0; j < n; ++j) dst[(i * n + j) * TB] = patch[i * Wp + j];
        }
      }
    });
    for (int64_t i = 0; i < n; ++i) {  // along each patch row: d B
      const T* in[n];
      T* out[n];
      for (int64_t j = 0; j < n; ++j) in[j] = q + (i * n + j) * TB, out[j] = h + (j * n + i) * TB;
      F::input(in, out, nt);
    }
    for (int64_t j = 0; j < n; ++j) {  // along each column: B^T (d B)
      const T* in[n];
      T* out[n];
      for (int64_t i = 0; i < n; ++i)
        in[i] = h + (j * n + i) * TB, out[i] = v + ((i * n + j) * C + c) * TB;
      F::input(in, out, nt);
    }
  }
}

// Padded planes for transform_input on one block: one part per image touched, at most one per
// tile row, each kN - kM rows taller than its tiles; plus patch_columns' reads past the end.
int64_t padded_scratch(const ConvGeometry& g, const TileGrid& grid, const Blocking& bl) {
  return g.C * kN * bl.rows * grid.padded_width() + 64;
}

// y = conv(x, kernels) (+ b) for the geometry g (3x3, stride 1, no dilation, one group);
// `adjoint`: see transform_weights.
template <class T>
void winograd_conv(const ConvGeometry& g, const T* x, const T* w, bool adjoint, const T* b, T* y) {
  constexpr int64_t m = kM, n = kN, E = kE;
  const int64_t C = g.C, Cout = g.Cout, OH = g.OH, OW = g.OW;
  const TileGrid grid(g);
  const int64_t total_rows = g.N * grid.rows, threads = useful_threads(g, grid);

  TensorT<T> u = TensorT<T>::empty({E, Cout, C});  // from the storage cache: no malloc per call
  transform_weights(g, w, adjoint, u.data());

  const Blocking bl(g, grid, threads, sizeof(T));
  const int64_t TB = bl.TB;
  parallel_dynamic(bl.count, threads, 1, [&](int64_t blk) {
    const int64_t R0 = blk * bl.rows, R1 = std::min(total_rows, R0 + bl.rows);
    const int64_t nt = (R1 - R0) * grid.cols, np = bl.padded(nt);
    T* v = thread_workspace<T>(kSlotWinogradV, static_cast<size_t>(E * C * TB));
    T* mm = thread_workspace<T>(kSlotWinogradM, static_cast<size_t>(E * Cout * TB));
    T* p = thread_workspace<T>(kSlotPadded, static_cast<size_t>(padded_scratch(g, grid, bl)));
    T* q = thread_workspace<T>(kSlotPaddedGrad, static_cast<size_t>(2 * E * TB));
    T* z = thread_workspace<T>(kSlotCol, static_cast<size_t>((m * n + 2 * m * m) * np));

    transform_input(g, grid, x, R0, R1, TB, p, q, q + E * TB, v);
    // Lanes past the last tile are computed too (whole vectors): keep them finite.
    for (int64_t r = 0; r < E * C; ++r) std::fill(v + r * TB + nt, v + r * TB + np, T(0));

    for (int64_t e = 0; e < E; ++e)
      gemm_lanes(u.data() + e * Cout * C, Cout, C, v + e * C * TB, TB, np, mm + e * Cout * TB);

    // A^T M A for one output channel at a time (columns, then rows), then each 4x4 block to its
    // place in y, cut at the image's edge.
    T* zc = z;                    // [m][n] rows of np: A^T applied to the columns
    T* out = z + m * n * np;      // [m][m] rows of np: the output blocks
    T* stage = out + m * m * np;  // one row of every block, in output order
    for (int64_t o = 0; o < Cout; ++o) {
      for (int64_t k = 0; k < n; ++k) {
        const T* in[n];
        T* res[m];
        for (int64_t i = 0; i < n; ++i) in[i] = mm + ((i * n + k) * Cout + o) * TB;
        for (int64_t i = 0; i < m; ++i) res[i] = zc + (i * n + k) * np;
        F::output(in, res, nt);
      }
      for (int64_t i = 0; i < m; ++i) {
        const T* in[n];
        T* res[m];
        for (int64_t k = 0; k < n; ++k) in[k] = zc + (i * n + k) * np;
        for (int64_t j = 0; j < m; ++j) res[j] = out + (i * m + j) * np;
        F::output(in, res, nt);
      }
      // Row i of every block, interleaved in lane order (tile by tile, 4 pixels each), is a
      // run of whole output rows: one copy per tile row.
      const T bias = b ? b[o] : T(0);
      for (int64_t i = 0; i < m; ++i) {
        const T* src[m];
        for (int64_t j = 0; j < m; ++j) src[j] = out + (i * m + j) * np;
        interleave4(src, nt, bias, stage);
        for_each_image_part(
            grid, R0, R1, [&](int64_t img, int64_t ti0, int64_t ti1, int64_t lane0) {
              for (int64_t ti = ti0; ti < ti1 && m * ti + i < OH; ++ti) {
                const T* row = stage + m * (lane0 + (ti - ti0) * grid.cols);
                std::copy(row, row + OW, y + ((img * Cout + o) * OH + m * ti + i) * OW);
              }
            });
      }
    }
  });
}

// The transposed conv that maps dy back onto x: same 3x3 kernels rotated, channels swapped,
// padding 2 - p so that every input pixel sees each output it fed.
ConvGeometry adjoint_geometry(const ConvGeometry& g) {
  return ConvGeometry{g.N, g.Cout,   g.OH,     g.OW, g.C, 3, 3,   1,
                      1,   2 - g.pt, 2 - g.pl, 1,    1,   1, g.H, g.W};
}

bool worth_it(const ConvGeometry& g) {
  // Outputs smaller than one tile waste most of it; the rest: see thresholds.hpp.
  const TileGrid grid(g);
  return g.C >= kWinogradMinChannels && g.Cout >= kWinogradMinChannels && g.OH >= kM &&
         g.OW >= kM && g.N * grid.rows * grid.cols >= kWinogradMinTiles;
}

}  // namespace

template <class T>
void gemm_lanes(const T* u, int64_t M, int64_t K, const T* v, int64_t ld, int64_t len, T* m) {
  constexpr int kR = 8;  // rows per register block; the last block takes the remainder
  using Rows = void (*)(const T*, int64_t, const T*, int64_t, int64_t, T*);
  static constexpr Rows kRows[kR] = {nullptr,         gemm_rows<T, 1>, gemm_rows<T, 2>,
                                     gemm_rows<T, 3>, gemm_rows<T, 4>, gemm_rows<T, 5>,
                                     gemm_rows<T, 6>, gemm_rows<T, 7>};
  int64_t r = 0;
  for (; r + kR <= M; r += kR) gemm_rows<T, kR>(u + r * K, K, v, ld, len, m + r * ld);
  if (r < M) kRows[M - r](u + r * K, K, v, ld, len, m + r * ld);
}
template void gemm_lanes(const float*, int64_t, int64_t, const float*, int64_t, int64_t, float*);
template void gemm_lanes(const double*, int64_t, int64_t, const double*, int64_t, int64_t, double*);

bool winograd_applies(const ConvGeometry& g) {
  return g.kh == 3 && g.kw == 3 && g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1 && g.G == 1 &&
         g.pt <= 2 && g.pl <= 2 && worth_it(g) && worth_it(adjoint_geometry(g));
}

template <class T>
void winograd_forward(const ConvGeometry& g, const T* x, const T* w, const T* b, T* y) {
  winograd_conv(g, x, w, false, b, y);
}

template <class T>
void winograd_backward_input(const ConvGeometry& g, const T* w, const T* dy, T* dx) {
  winograd_conv(adjoint_geometry(g), dy, w, true, static_cast<const T*>(nullptr), dx);
}

template void winograd_forward(const ConvGeometry&, const float*, const float*, const float*,
                               float*);
template void winograd_forward(const ConvGeometry&, const double*, const double*, const double*,
                               double*);
template void winograd_backward_input(const ConvGeometry&, const float*, const float*, float*);
template void winograd_backward_input(const ConvGeometry&, const double*, const double*, double*);

}  // namespace cnnzoo::kernels
