// Spatial pooling (max, average, adaptive average, global average) over [N, C, H, W]:
// forward kernels and their backward lambdas side by side, PyTorch's size rules.
#include "cnnzoo/ops/pool.hpp"

#include <algorithm>
#include <limits>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

#include "parallel_for.hpp"

namespace cnnzoo {

namespace {

std::string pool_args_str(const Pool2dOptions& o) {
  auto pair = [](int64_t a, int64_t b) {
    return "(" + std::to_string(a) + ", " + std::to_string(b) + ")";
  };
  return "kernel " + pair(o.kernel_size.h, o.kernel_size.w) + ", stride " +
         pair(o.stride.h, o.stride.w) + ", padding (" + std::to_string(o.padding.top) + ", " +
         std::to_string(o.padding.bottom) + ", " + std::to_string(o.padding.left) + ", " +
         std::to_string(o.padding.right) + ")" + (o.ceil_mode ? ", ceil_mode" : "");
}

int64_t floor_div(int64_t a, int64_t b) {
  return a >= 0 ? a / b : -((-a + b - 1) / b);
}

// PyTorch's pooling_output_shape: in ceil mode the last window may hang over the end, but
// must start inside the input or the leading padding.
int64_t pool_out_dim(int64_t in, int64_t k, int64_t s, int64_t pad_lo, int64_t pad_hi,
                     bool ceil_mode) {
  int64_t out = floor_div(in + pad_lo + pad_hi - k + (ceil_mode ? s - 1 : 0), s) + 1;
  if (ceil_mode && (out - 1) * s >= in + pad_lo) --out;
  return out;
}

// Resolved geometry of one pooling call.
struct PoolGeom {
  int64_t planes, H, W, OH, OW, kh, kw, sh, sw, pt, pb, pl, pr;
};

PoolGeom pool_geometry(const Shape& x, const Pool2dOptions& opt) {
  const Size2 out = pool2d_output_size(x, opt);
  PoolGeom g;
  g.planes = x[0] * x[1];
  g.H = x[2];
  g.W = x[3];
  g.OH = out.h;
  g.OW = out.w;
  g.kh = opt.kernel_size.h;
  g.kw = opt.kernel_size.w;
  g.sh = opt.stride.h == 0 ? g.kh : opt.stride.h;
  g.sw = opt.stride.w == 0 ? g.kw : opt.stride.w;
  g.pt = opt.padding.top;
  g.pb = opt.padding.bottom;
  g.pl = opt.padding.left;
  g.pr = opt.padding.right;
  return g;
}

void check_4d(const char* op, const Shape& x) {
  check(x.size() == 4, std::string(op) + ": expected input [N, C, H, W], got " + shape_str(x));
}

// Argmax positions (within a plane) kept for the backward, in the tensor storage cache so a
// training step reuses them like any activation.
std::shared_ptr<int32_t> alloc_indices(int64_t n) {
  const size_t bytes = static_cast<size_t>(n) * sizeof(int32_t);
  return std::shared_ptr<int32_t>(static_cast<int32_t*>(storage_alloc(bytes)),
                                  [](int32_t* p) { storage_free(p); });
}

}  // namespace

Size2 pool2d_output_size(const Shape& x, const Pool2dOptions& opt) {
  check(x.size() == 4, "pool2d: expected input [N, C, H, W], got " + shape_str(x));
  const Size2 k = opt.kernel_size;
  const Size2 s(opt.stride.h == 0 ? k.h : opt.stride.h, opt.stride.w == 0 ? k.w : opt.stride.w);
  const Padding2d& p = opt.padding;
  const std::string what = "pool2d: input " + shape_str(x) + ", " + pool_args_str(opt);
  check(k.h > 0 && k.w > 0 && s.h > 0 && s.w > 0,
        what + ": kernel must be positive and stride non-negative");
  check(p.top >= 0 && p.bottom >= 0 && p.left >= 0 && p.right >= 0,
        what + ": padding must be non-negative");
  check(p.top <= k.h / 2 && p.bottom <= k.h / 2 && p.left <= k.w / 2 && p.right <= k.w / 2,
        what + ": padding must be at most half the kernel size");
  const int64_t oh = pool_out_dim(x[2], k.h, s.h, p.top, p.bottom, opt.ceil_mode);
  const int64_t ow = pool_out_dim(x[3], k.w, s.w, p.left, p.right, opt.ceil_mode);
  check(oh >= 1 && ow >= 1,
        what + ": output size " + std::to_string(oh) + "x" + std::to_string(ow) + " is too small");
  return Size2(oh, ow);
}

namespace {

// Output columns whose window lies wholly inside the input, [lo, hi): there the kernels run
// without clipping, vectorised across output columns; the few border columns go the
// general way.
struct InteriorCols {
  int64_t lo, hi;
};

InteriorCols interior_cols(const PoolGeom& g) {
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

// Max pooling of one plane. Windows are scanned row by row, left to right, keeping the
// first maximum (strictly greater) and letting NaN win, exactly as PyTorch does; padding
// counts as -inf, so clipping the window to the input is equivalent.
template <class T, bool kRecord, int kStride>
void max_pool_plane(const T* __restrict xp, T* __restrict yp, int32_t* __restrict ip,
                    const PoolGeom& g, InteriorCols ic) {
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

}  // namespace

template <class T>
VarT<T> max_pool2d(const VarT<T>& x, const Pool2dOptions& opt) {
  check(x.defined(), "max_pool2d: undefined input");
  check_4d("max_pool2d", x.shape());
  const PoolGeom g = pool_geometry(x.shape(), opt);
  const TensorT<T>& xv = x.value();
  TensorT<T> y = TensorT<T>::empty({x.size(0), x.size(1), g.OH, g.OW});
  check(g.H * g.W <= std::numeric_limits<int32_t>::max(),
        "max_pool2d: plane of input " + xv.shape_str() + " is too large");
  // Argmax positions are only worth recording when a backward will read them.
  const bool record = grad_enabled() && x.requires_grad();
  std::shared_ptr<int32_t> indices = record ? alloc_indices(y.numel()) : nullptr;
  const T* px = xv.data();
  T* py = y.data();
  int32_t* pidx = indices.get();
  const int64_t out_plane = g.OH * g.OW;
  const InteriorCols ic = interior_cols(g);
  dispatch_stride(g.sw, [&](auto stride) {
    constexpr int kStride = decltype(stride)::value;
    parallel_items(g.planes, out_plane * g.kh * g.kw, [&](int64_t plane) {
      const T* xp = px + plane * g.H * g.W;
      T* yp = py + plane * out_plane;
      if (pidx)
        max_pool_plane<T, true, kStride>(xp, yp, pidx + plane * out_plane, g, ic);
      else
        max_pool_plane<T, false, kStride>(xp, yp, nullptr, g, ic);
    });
  });
  Shape in_shape = xv.shape();
  return make_result<T>(std::move(y), {x}, "max_pool2d",
                        [indices, in_shape, g, out_plane](Node<T>& n) {
                          if (!n.input_needs_grad(0)) return;
                          TensorT<T> gx = TensorT<T>::zeros(in_shape);
                          const T* pdy = n.grad.data();
                          const int32_t* pidx = indices.get();
                          T* pg = gx.data();
                          parallel_items(g.planes, g.H * g.W + out_plane, [&](int64_t plane) {
                            T* gp = pg + plane * g.H * g.W;
                            const T* dyp = pdy + plane * out_plane;
                            const int32_t* ip = pidx + plane * out_plane;
                            for (int64_t i = 0; i < out_plane; ++i) gp[ip[i]] += dyp[i];
                          });
                          n.inputs[0]->accumulate(std::move(gx));
                        });
}

namespace {

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
void avg_pool_plane(const T* __restrict xp, T* __restrict yp, const PoolGeom& g, InteriorCols ic,
                    bool include_pad) {
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
void avg_pool_plane_backward(const T* __restrict dyp, T* __restrict gp, const PoolGeom& g,
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

}  // namespace

template <class T>
VarT<T> avg_pool2d(const VarT<T>& x, const Pool2dOptions& opt) {
  check(x.defined(), "avg_pool2d: undefined input");
  check_4d("avg_pool2d", x.shape());
  const PoolGeom g = pool_geometry(x.shape(), opt);
  const bool include_pad = opt.count_include_pad;
  const TensorT<T>& xv = x.value();
  TensorT<T> y = TensorT<T>::empty({x.size(0), x.size(1), g.OH, g.OW});
  const T* px = xv.data();
  T* py = y.data();
  const int64_t out_plane = g.OH * g.OW;
  const InteriorCols ic = interior_cols(g);
  dispatch_stride(g.sw, [&](auto stride) {
    constexpr int kStride = decltype(stride)::value;
    parallel_items(g.planes, out_plane * g.kh * g.kw, [&](int64_t plane) {
      avg_pool_plane<T, kStride>(px + plane * g.H * g.W, py + plane * out_plane, g, ic,
                                 include_pad);
    });
  });
  Shape in_shape = xv.shape();
  return make_result<T>(
      std::move(y), {x}, "avg_pool2d", [in_shape, g, ic, out_plane, include_pad](Node<T>& n) {
        if (!n.input_needs_grad(0)) return;
        TensorT<T> gx = TensorT<T>::zeros(in_shape);
        const T* pdy = n.grad.data();
        T* pg = gx.data();
        dispatch_stride(g.sw, [&](auto stride) {
          constexpr int kStride = decltype(stride)::value;
          parallel_items(g.planes, out_plane * g.kh * g.kw, [&](int64_t plane) {
            avg_pool_plane_backward<T, kStride>(pdy + plane * out_plane, pg + plane * g.H * g.W, g,
                                                ic, include_pad);
          });
        });
        n.inputs[0]->accumulate(std::move(gx));
      });
}

namespace {

int64_t adaptive_start(int64_t i, int64_t out, int64_t in) {
  return i * in / out;
}
int64_t adaptive_end(int64_t i, int64_t out, int64_t in) {
  return ((i + 1) * in + out - 1) / out;
}

}  // namespace

template <class T>
VarT<T> adaptive_avg_pool2d(const VarT<T>& x, Size2 output_size) {
  check(x.defined(), "adaptive_avg_pool2d: undefined input");
  check_4d("adaptive_avg_pool2d", x.shape());
  const int64_t H = x.size(2), W = x.size(3), OH = output_size.h, OW = output_size.w;
  check(OH >= 1 && OW >= 1 && H >= 1 && W >= 1, "adaptive_avg_pool2d: cannot pool input " +
                                                    x.value().shape_str() + " to " +
                                                    std::to_string(OH) + "x" + std::to_string(OW));
  const TensorT<T>& xv = x.value();
  TensorT<T> y = TensorT<T>::empty({x.size(0), x.size(1), OH, OW});
  const int64_t planes = x.size(0) * x.size(1);
  const T* px = xv.data();
  T* py = y.data();
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
  Shape in_shape = xv.shape();
  return make_result<T>(
      std::move(y), {x}, "adaptive_avg_pool2d", [in_shape, planes, H, W, OH, OW](Node<T>& n) {
        if (!n.input_needs_grad(0)) return;
        TensorT<T> gx = TensorT<T>::zeros(in_shape);
        const T* pdy = n.grad.data();
        T* pg = gx.data();
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
        n.inputs[0]->accumulate(std::move(gx));
      });
}

template <class T>
VarT<T> global_avg_pool2d(const VarT<T>& x) {
  check(x.defined(), "global_avg_pool2d: undefined input");
  check_4d("global_avg_pool2d", x.shape());
  const int64_t plane_size = x.size(2) * x.size(3);
  check(plane_size >= 1, "global_avg_pool2d: empty spatial size in input " + x.value().shape_str());
  const TensorT<T>& xv = x.value();
  const int64_t planes = x.size(0) * x.size(1);
  TensorT<T> y = TensorT<T>::empty({x.size(0), x.size(1), 1, 1});
  const T* px = xv.data();
  T* py = y.data();
  const T inv = T(1) / static_cast<T>(plane_size);
  parallel_items(planes, plane_size, [&](int64_t plane) {
    const T* xp = px + plane * plane_size;
    T sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int64_t i = 0; i < plane_size; ++i) sum += xp[i];
    py[plane] = sum * inv;
  });
  Shape in_shape = xv.shape();
  return make_result<T>(
      std::move(y), {x}, "global_avg_pool2d", [in_shape, planes, plane_size, inv](Node<T>& n) {
        if (!n.input_needs_grad(0)) return;
        TensorT<T> gx = TensorT<T>::empty(in_shape);
        const T* pdy = n.grad.data();
        T* pg = gx.data();
        parallel_items(planes, plane_size, [&](int64_t plane) {
          std::fill(pg + plane * plane_size, pg + (plane + 1) * plane_size, pdy[plane] * inv);
        });
        n.inputs[0]->accumulate(std::move(gx));
      });
}

#define CNNZOO_INSTANTIATE(T)                                           \
  template VarT<T> max_pool2d<T>(const VarT<T>&, const Pool2dOptions&); \
  template VarT<T> avg_pool2d<T>(const VarT<T>&, const Pool2dOptions&); \
  template VarT<T> adaptive_avg_pool2d<T>(const VarT<T>&, Size2);       \
  template VarT<T> global_avg_pool2d<T>(const VarT<T>&);
CNNZOO_INSTANTIATE(float)
CNNZOO_INSTANTIATE(double)
#undef CNNZOO_INSTANTIATE

}  // namespace cnnzoo
