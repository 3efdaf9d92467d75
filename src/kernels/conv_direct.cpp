// conv2d kernels without im2col: 1x1 convs as one register-blocked GEMM per image, and the
// weight gradient of 3x3 stride-1 convs by direct taps.
#include <algorithm>
#include <cstring>

#include "cnnzoo/tensor.hpp"
#include "kernels/conv_internal.hpp"
#include "parallel_for.hpp"

namespace cnnzoo::kernels {

// ---- 1x1 convs whose planes fill whole vectors: one unpacked GEMM per image ------------------
// y = w x writes y directly: Eigen's product would zero y first and pack both operands, which
// for the few input channels of bottleneck 1x1 convs costs as much as the multiplies.

bool pointwise_lanes(const ConvGeometry& g, size_t elem) {
  return g.pointwise() && g.G == 1 && g.P() % gemm_lanes_step(elem) == 0;
}

template <class T>
void pointwise_forward(const ConvGeometry& g, const T* x, const T* w, const T* b, T* y) {
  const int64_t P = g.P(), nt = useful_threads(g);
  // Fewer images than threads (inference): each image's output channels are cut into blocks
  // of whole register rows, which changes no sum.
  int64_t per_block = g.Cout;
  if (g.N < nt) {
    const int64_t parts = 2 * ((nt + g.N - 1) / g.N);
    per_block = std::max<int64_t>(8, (g.Cout + parts - 1) / parts / 8 * 8);
  }
  const int64_t blocks = (g.Cout + per_block - 1) / per_block;
  parallel_dynamic(g.N * blocks, nt, 1, [&](int64_t item) {
    const int64_t n = item / blocks, o0 = item % blocks * per_block;
    const int64_t m = std::min(g.Cout, o0 + per_block) - o0;
    T* yn = y + (n * g.Cout + o0) * P;
    gemm_lanes(w + o0 * g.C, m, g.C, x + n * g.C * P, P, P, yn);
    add_bias_rows(b ? b + o0 : nullptr, m, P, P, yn);
  });
}

// dx = w^T dy, the same way (w transposed once per call).
template <class T>
void pointwise_backward_input(const ConvGeometry& g, const T* w, const T* dy, T* dx) {
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

namespace {

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

}  // namespace

// Images in grad_blocks() fixed blocks, each with its own [C][9][Cp] accumulator, summed in
// block order at the end (the same result with any thread count).
template <class T>
void taps_weight_grad(const ConvGeometry& g, const T* x, const T* dy, T* dw) {
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

template void pointwise_forward(const ConvGeometry&, const float*, const float*, const float*,
                                float*);
template void pointwise_forward(const ConvGeometry&, const double*, const double*, const double*,
                                double*);
template void pointwise_backward_input(const ConvGeometry&, const float*, const float*, float*);
template void pointwise_backward_input(const ConvGeometry&, const double*, const double*, double*);
template void taps_weight_grad(const ConvGeometry&, const float*, const float*, float*);
template void taps_weight_grad(const ConvGeometry&, const double*, const double*, double*);

}  // namespace cnnzoo::kernels
