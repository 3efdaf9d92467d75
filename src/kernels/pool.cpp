// Pooling loops over [planes, H, W]: max (with argmax for the backward), average with
// PyTorch's padding rules, adaptive and global average, and their gradients.
#include <algorithm>
#include <limits>
#include <type_traits>

#include "kernels/kernels.hpp"
#include "parallel_for.hpp"

namespace cnnzoo::kernels {

namespace {

// Output columns whose window lies wholly inside the input, [lo, hi): there the kernels run
// without clipping, vectorised across output columns; the few border columns go the
// general way.
struct InteriorCols {
  int64_t lo, hi;
};

InteriorCols interior_cols(const PoolGeometry& g) {
  const int64_t lo = std::min((g.pl + g.sw - 1) / g.sw, g.OW);
  const int64_t last = g.W + g.pl - g.kw;  // window start must be <= W - kw
  const int64_t hi = last < 0 ? lo : std::max(lo, std::min(g.OW, last / g.sw + 1));
  return {lo, hi};
}

// Strides 1 and 2 as compile-time constants let the compiler vectorise the strided loads.
template <class F>
void dispatch_stride(int64_t stride, F&& f) {
  if (stride == 1)
    f(std::integral_constant<int, 1>());
  else if (stride == 2)
    f(std::integral_constant<int, 2>());
  else
    f(std::integral_constant<int, 0>());
}

// Runs f(plane, stride) for every plane in parallel, stride being g.sw as a compile-time
// constant where dispatch_stride has one.
template <class F>
void for_each_plane(const PoolGeometry& g, F&& f) {
  dispatch_stride(g.sw, [&](auto stride) {
    parallel_items(g.planes, g.OH * g.OW * g.kh * g.kw, [&](int64_t plane) { f(plane, stride); });
  });
}

// Max pooling of one plane. Windows are scanned row by row, left to right, keeping the
// first maximum (strictly greater) and letting NaN win, exactly as PyTorch does; padding
// counts as -inf, so clipping the window to the input is equivalent.
template <class T, bool kRecord, int kStride>
void max_pool_plane(const T* __restrict xp, T* __restrict yp, int32_t* __restrict ip,
                    const PoolGeometry& g, InteriorCols ic) {
  const int64_t sw = kStride > 0 ? kStride : g.sw;
  for (int64_t oh = 0; oh < g.OH; ++oh) {
    const int64_t h0 = std::max<int64_t>(oh * g.sh - g.pt, 0);
    const int64_t h1 = std::min<int64_t>(oh * g.sh - g.pt + g.kh, g.H);
    T* __restrict yrow = yp + oh * g.OW;
    int32_t* __restrict irow = kRecord ? ip + oh * g.OW : nullptr;
    auto clipped = [&](int64_t ow) {
      const int64_t w0 = std::max<int64_t>(ow * sw - g.pl, 0);
      const int64_t w1 = std::min<int64_t>(ow * sw - g.pl + g.kw, g.W);
      T best = -std::numeric_limits<T>::infinity();
      int64_t arg = h0 * g.W + w0;
      for (int64_t h = h0; h < h1; ++h)
        for (int64_t w = w0; w < w1; ++w) {
          const T v = xp[h * g.W + w];
          if (v > best || v != v) {
            best = v;
            arg = h * g.W + w;
          }
        }
      yrow[ow] = best;
      if (kRecord) irow[ow] = static_cast<int32_t>(arg);
    };
    for (int64_t ow = 0; ow < ic.lo; ++ow) clipped(ow);
    for (int64_t ow = ic.hi; ow < g.OW; ++ow) clipped(ow);

    const int64_t n = ic.hi - ic.lo;
    const int64_t col0 = ic.lo * sw - g.pl;  // first input column of the first interior window
    T* __restrict yi = yrow + ic.lo;
    int32_t* __restrict ii = kRecord ? irow + ic.lo : nullptr;
    for (int64_t o = 0; o < n; ++o) {
      yi[o] = -std::numeric_limits<T>::infinity();
      if (kRecord) ii[o] = static_cast<int32_t>(h0 * g.W + col0 + o * sw);
    }
    for (int64_t h = h0; h < h1; ++h) {
      for (int64_t j = 0; j < g.kw; ++j) {
        const T* __restrict src = xp + h * g.W + col0 + j;
        const int32_t base = static_cast<int32_t>(h * g.W + col0 + j);
        for (int64_t o = 0; o < n; ++o) {
          const T v = src[o * sw];
          const T b = yi[o];
          const bool take = v > b || v != v;
          if (kRecord) {
            const int32_t cur = ii[o];
            ii[o] = take ? base + static_cast<int32_t>(o * sw) : cur;
          }
          yi[o] = take ? v : b;
        }
      }
    }
  }
}

// Averaging window of output position o along one axis: the clipped input range [lo, hi)
// and the divisor's factor, which with count_include_pad counts padded cells up to the end
// of the padded input (PyTorch computes it before clipping).
struct AvgSpan {
  int64_t lo, hi, count;
};

AvgSpan avg_span(int64_t o, int64_t s, int64_t k, int64_t pad_lo, int64_t pad_hi, int64_t in,
                 bool include_pad) {
  int64_t start = o * s - pad_lo;
  int64_t end = std::min(start + k, in + pad_hi);
  const int64_t padded_count = end - start;
  start = std::max<int64_t>(start, 0);
  end = std::min(end, in);
  return {start, end, include_pad ? padded_count : end - start};
}

// Average pooling of one plane; interior columns (full kernel width either way) are summed
// vectorised across output columns.
template <class T, int kStride>
void avg_pool_plane(const T* __restrict xp, T* __restrict yp, const PoolGeometry& g,
                    InteriorCols ic, bool include_pad) {
  const int64_t sw = kStride > 0 ? kStride : g.sw;
  for (int64_t oh = 0; oh < g.OH; ++oh) {
    const AvgSpan sh = avg_span(oh, g.sh, g.kh, g.pt, g.pb, g.H, include_pad);
    T* __restrict yrow = yp + oh * g.OW;
    auto clipped = [&](int64_t ow) {
      const AvgSpan sc = avg_span(ow, sw, g.kw, g.pl, g.pr, g.W, include_pad);
      T sum = 0;
      for (int64_t h = sh.lo; h < sh.hi; ++h)
        for (int64_t w = sc.lo; w < sc.hi; ++w) sum += xp[h * g.W + w];
      yrow[ow] = sum / static_cast<T>(sh.count * sc.count);
    };
    for (int64_t ow = 0; ow < ic.lo; ++ow) clipped(ow);
    for (int64_t ow = ic.hi; ow < g.OW; ++ow) clipped(ow);

    const int64_t n = ic.hi - ic.lo;
    const int64_t col0 = ic.lo * sw - g.pl;
    T* __restrict yi = yrow + ic.lo;
    for (int64_t o = 0; o < n; ++o) yi[o] = T(0);
    for (int64_t h = sh.lo; h < sh.hi; ++h)
      for (int64_t j = 0; j < g.kw; ++j) {
        const T* __restrict src = xp + h * g.W + col0 + j;
        for (int64_t o = 0; o < n; ++o) yi[o] += src[o * sw];
      }
    const T divisor = static_cast<T>(sh.count * g.kw);
    for (int64_t o = 0; o < n; ++o) yi[o] /= divisor;
  }
}

// Backward of avg_pool_plane: each output's share dy / divisor goes to its window.
template <class T, int kStride>
void avg_pool_plane_backward(const T* __restrict dyp, T* __restrict gp, const PoolGeometry& g,
                             InteriorCols ic, bool include_pad) {
  const int64_t sw = kStride > 0 ? kStride : g.sw;
  for (int64_t oh = 0; oh < g.OH; ++oh) {
    const AvgSpan sh = avg_span(oh, g.sh, g.kh, g.pt, g.pb, g.H, include_pad);
    const T* __restrict dyrow = dyp + oh * g.OW;
    auto clipped = [&](int64_t ow) {
      const AvgSpan sc = avg_span(ow, sw, g.kw, g.pl, g.pr, g.W, include_pad);
      const T share = dyrow[ow] / static_cast<T>(sh.count * sc.count);
      for (int64_t h = sh.lo; h < sh.hi; ++h)
        for (int64_t w = sc.lo; w < sc.hi; ++w) gp[h * g.W + w] += share;
    };
    for (int64_t ow = 0; ow < ic.lo; ++ow) clipped(ow);
    for (int64_t ow = ic.hi; ow < g.OW; ++ow) clipped(ow);

    const int64_t n = ic.hi - ic.lo;
    const int64_t col0 = ic.lo * sw - g.pl;
    const T* __restrict dyi = dyrow + ic.lo;
    const T divisor = static_cast<T>(sh.count * g.kw);
    for (int64_t h = sh.lo; h < sh.hi; ++h)
      for (int64_t j = 0; j < g.kw; ++j) {
        // Within one (h, j) pass distinct outputs hit distinct columns (stride >= 1).
        T* __restrict dst = gp + h * g.W + col0 + j;
        for (int64_t o = 0; o < n; ++o) dst[o * sw] += dyi[o] / divisor;
      }
  }
}

int64_t adaptive_start(int64_t i, int64_t out, int64_t in) {
  return i * in / out;
}
int64_t adaptive_end(int64_t i, int64_t out, int64_t in) {
  return ((i + 1) * in + out - 1) / out;
}

}  // namespace

template <class T>
void max_pool_forward(const PoolGeometry& g, const T* px, T* py, int32_t* pidx) {
  const int64_t out_plane = g.OH * g.OW;
  const InteriorCols ic = interior_cols(g);
  for_each_plane(g, [&](int64_t plane, auto stride) {
    constexpr int kStride = decltype(stride)::value;
    const T* xp = px + plane * g.H * g.W;
    T* yp = py + plane * out_plane;
    if (pidx)
      max_pool_plane<T, true, kStride>(xp, yp, pidx + plane * out_plane, g, ic);
    else
      max_pool_plane<T, false, kStride>(xp, yp, nullptr, g, ic);
  });
}

template <class T>
void max_pool_backward(const PoolGeometry& g, const int32_t* pidx, const T* pdy, T* pg) {
  const int64_t out_plane = g.OH * g.OW;
  parallel_items(g.planes, g.H * g.W + out_plane, [&](int64_t plane) {
    T* gp = pg + plane * g.H * g.W;
    const T* dyp = pdy + plane * out_plane;
    const int32_t* ip = pidx + plane * out_plane;
    for (int64_t i = 0; i < out_plane; ++i) gp[ip[i]] += dyp[i];
  });
}

template <class T>
void avg_pool_forward(const PoolGeometry& g, bool include_pad, const T* px, T* py) {
  const InteriorCols ic = interior_cols(g);
  for_each_plane(g, [&](int64_t plane, auto stride) {
    avg_pool_plane<T, decltype(stride)::value>(px + plane * g.H * g.W, py + plane * g.OH * g.OW, g,
                                               ic, include_pad);
  });
}

template <class T>
void avg_pool_backward(const PoolGeometry& g, bool include_pad, const T* pdy, T* pg) {
  const InteriorCols ic = interior_cols(g);
  for_each_plane(g, [&](int64_t plane, auto stride) {
    avg_pool_plane_backward<T, decltype(stride)::value>(pdy + plane * g.OH * g.OW,
                                                        pg + plane * g.H * g.W, g, ic, include_pad);
  });
}

template <class T>
void adaptive_avg_pool_forward(const PoolGeometry& g, const T* px, T* py) {
  const int64_t planes = g.planes, H = g.H, W = g.W, OH = g.OH, OW = g.OW;
  parallel_items(planes, H * W, [&](int64_t plane) {
    const T* xp = px + plane * H * W;
    T* yp = py + plane * OH * OW;
    for (int64_t oh = 0; oh < OH; ++oh) {
      const int64_t h0 = adaptive_start(oh, OH, H), h1 = adaptive_end(oh, OH, H);
      for (int64_t ow = 0; ow < OW; ++ow) {
        const int64_t w0 = adaptive_start(ow, OW, W), w1 = adaptive_end(ow, OW, W);
        T sum = 0;
        for (int64_t h = h0; h < h1; ++h)
          for (int64_t w = w0; w < w1; ++w) sum += xp[h * W + w];
        yp[oh * OW + ow] = sum / static_cast<T>((h1 - h0) * (w1 - w0));
      }
    }
  });
}

template <class T>
void adaptive_avg_pool_backward(const PoolGeometry& g, const T* pdy, T* pg) {
  const int64_t planes = g.planes, H = g.H, W = g.W, OH = g.OH, OW = g.OW;
  parallel_items(planes, H * W, [&](int64_t plane) {
    T* gp = pg + plane * H * W;
    const T* dyp = pdy + plane * OH * OW;
    for (int64_t oh = 0; oh < OH; ++oh) {
      const int64_t h0 = adaptive_start(oh, OH, H), h1 = adaptive_end(oh, OH, H);
      for (int64_t ow = 0; ow < OW; ++ow) {
        const int64_t w0 = adaptive_start(ow, OW, W), w1 = adaptive_end(ow, OW, W);
        const T share = dyp[oh * OW + ow] / static_cast<T>((h1 - h0) * (w1 - w0));
        for (int64_t h = h0; h < h1; ++h)
          for (int64_t w = w0; w < w1; ++w) gp[h * W + w] += share;
      }
    }
  });
}

template <class T>
void global_avg_pool_forward(int64_t planes, int64_t plane_size, const T* px, T* py) {
  const T inv = T(1) / static_cast<T>(plane_size);
  parallel_items(planes, plane_size, [&](int64_t plane) {
    const T* xp = px + plane * plane_size;
    T sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int64_t i = 0; i < plane_size; ++i) sum += xp[i];
    py[plane] = sum * inv;
  });
}

template <class T>
void global_avg_pool_backward(int64_t planes, int64_t plane_size, const T* pdy, T* pg) {
  const T inv = T(1) / static_cast<T>(plane_size);
  parallel_items(planes, plane_size, [&](int64_t plane) {
    std::fill(pg + plane * plane_size, pg + (plane + 1) * plane_size, pdy[plane] * inv);
  });
}

#define CNNZOO_INSTANTIATE(T)                                                         \
  template void max_pool_forward(const PoolGeometry&, const T*, T*, int32_t*);        \
  template void max_pool_backward(const PoolGeometry&, const int32_t*, const T*, T*); \
  template void avg_pool_forward(const PoolGeometry&, bool, const T*, T*);            \
  template void avg_pool_backward(const PoolGeometry&, bool, const T*, T*);           \
  template void adaptive_avg_pool_forward(const PoolGeometry&, const T*, T*);         \
  template void adaptive_avg_pool_backward(const PoolGeometry&, const T*, T*);        \
  template void global_avg_pool_forward(int64_t, int64_t, const T*, T*);              \
  template void global_avg_pool_backward(int64_t, int64_t, const T*, T*);
CNNZOO_INSTANTIATE(float)
CNNZOO_INSTANTIATE(double)
#undef CNNZOO_INSTANTIATE

}  // namespace cnnzoo::kernels
