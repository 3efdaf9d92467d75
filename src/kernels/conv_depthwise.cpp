// Depthwise conv2d kernels (one input channel per group): direct loops over the small kernel,
// forward and all three gradients in one pass.
#include <algorithm>
#include <vector>

#include "cnnzoo/tensor.hpp"
#include "kernels/conv_internal.hpp"
#include "parallel_for.hpp"

namespace cnnzoo::kernels {

namespace {

// ---- depthwise: one input channel per group, direct loops over the (small) kernel ----------
//
// Each input plane is first copied into a zero-padded Hp x Wp plane, so the tap loops need no
// bounds checks. With stride 1 an output pixel (oh, ow) stored at q = oh * Wp + ow reads the
// padded input at q + ki * dh * Wp + kj * dw: every tap is then one long contiguous loop over
// the whole plane instead of OH short rows (ResNet-sized rows of 32 left the vector units
// mostly in scalar epilogues). The Wp - OW extra columns per row are computed and dropped.

struct DepthwisePlanes : Padded {
  bool flat;  // stride 1: taps are constant offsets in the padded plane
  explicit DepthwisePlanes(const ConvGeometry& g) : Padded(g), flat(g.sh == 1 && g.sw == 1) {}
  int64_t flat_len(const ConvGeometry& g) const { return (g.OH - 1) * Wp + g.OW; }
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

}  // namespace

template <class T>
void depthwise_forward(const ConvGeometry& g, const T* x, const T* w, const T* b, T* y) {
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
void depthwise_backward(const ConvGeometry& g, const T* x, const T* w, const T* dy, T* dx, T* dw,
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

template void depthwise_forward(const ConvGeometry&, const float*, const float*, const float*,
                                float*);
template void depthwise_forward(const ConvGeometry&, const double*, const double*, const double*,
                                double*);
template void depthwise_backward(const ConvGeometry&, const float*, const float*, const float*,
                                 float*, float*, float*);
template void depthwise_backward(const ConvGeometry&, const double*, const double*, const double*,
                                 double*, double*, double*);

}  // namespace cnnzoo::kernels
