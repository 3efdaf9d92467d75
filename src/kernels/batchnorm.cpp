// Batch-norm and local-response-norm loops over [batch, channels, inner] tensors: the
// per-channel statistics, the normalisation (optionally fused with a ReLU) and their gradients.
#include <algorithm>
#include <cmath>
#include <type_traits>

#include "cnnzoo/tensor.hpp"
#include "kernels/kernels.hpp"
#include "parallel_for.hpp"

namespace cnnzoo::kernels {

namespace {

// Per-channel sums run in T over runs of at most kSumRun elements (a few per vector lane, so
// T's rounding stays far below the result's), and the runs add up in double.
constexpr int64_t kSumRun = 256;

// Calls f(offset, len) for the runs of channel c: each image's plane, cut into kSumRun pieces.
template <class F>
void for_each_run(const ChannelLayout& l, int64_t c, F&& f) {
  for (int64_t b = 0; b < l.batch; ++b)
    for (int64_t i = 0; i < l.inner; i += kSumRun)
      f(l.offset(b, c) + i, std::min(kSumRun, l.inner - i));
}

// Sums of (x - shift) and (x - shift)^2 over one channel. Shifting by a sample of the channel
// (exact in T) keeps var = E[d^2] - E[d]^2 free of cancellation when |mean| >> std.
template <class T>
void shifted_moments(const T* x, const ChannelLayout& l, int64_t c, T shift, double& s1,
                     double& s2) {
  s1 = 0;
  s2 = 0;
  for_each_run(l, c, [&](int64_t at, int64_t len) {
    const T* p = x + at;
    T a1 = 0, a2 = 0;
#pragma omp simd reduction(+ : a1, a2)
    for (int64_t i = 0; i < len; ++i) {
      const T d = p[i] - shift;
      a1 += d;
      a2 += d * d;
    }
    s1 += a1;
    s2 += a2;
  });
}

// The mean as an unevaluated sum hi + lo of two T values: (x - hi) - lo keeps the digits of
// x - mean in float even when |mean| >> std, where x * a + (beta - mean * a) would lose
// them all to the rounding of x * a.
template <class T>
struct SplitMean {
  T hi, lo;
  explicit SplitMean(double m)
      : hi(static_cast<T>(m)), lo(static_cast<T>(m - static_cast<double>(static_cast<T>(m)))) {}
};

// (size - 1) / 2 + size / 2 + 1 == size channels: c - size/2 .. c + (size-1)/2.
struct LrnWindow {
  int64_t before, after;
};

// s^-beta; AlexNet's beta = 0.75 becomes square roots, which vectorise where pow does not.
template <class T>
void pow_neg_beta(const T* s, T* out, int64_t n, double beta) {
  if (beta == 0.75) {
    for (int64_t i = 0; i < n; ++i) {
      const T r = std::sqrt(s[i]);
      out[i] = T(1) / (r * std::sqrt(r));
    }
  } else {
    const T nb = static_cast<T>(-beta);
    for (int64_t i = 0; i < n; ++i) out[i] = std::pow(s[i], nb);
  }
}

}  // namespace

template <class T>
void batch_norm_forward(const ChannelLayout& l, const T* px, const T* pgamma, const T* pbeta,
                        T* prm, T* prv, bool training, double momentum, double eps, bool relu,
                        T* py, double* mean, double* invstd) {
  const int64_t count = l.per_channel();
  parallel_items(l.channels, l.per_channel(), [&](int64_t c) {
    double m, inv;
    if (training) {
      const T shift = px[l.offset(0, c)];
      double s1, s2;
      shifted_moments(px, l, c, shift, s1, s2);
      const double d = s1 / static_cast<double>(count);
      m = static_cast<double>(shift) + d;
      const double var = std::max(s2 / static_cast<double>(count) - d * d, 0.0);
      inv = 1.0 / std::sqrt(var + eps);
      if (prm) {
        const double unbiased = var * static_cast<double>(count) / static_cast<double>(count - 1);
        prm[c] = static_cast<T>((1 - momentum) * prm[c] + momentum * m);
        prv[c] = static_cast<T>((1 - momentum) * prv[c] + momentum * unbiased);
      }
    } else {
      m = prm[c];
      inv = 1.0 / std::sqrt(static_cast<double>(prv[c]) + eps);
    }
    mean[c] = m;
    invstd[c] = inv;
    const double gamma = pgamma ? pgamma[c] : 1.0;
    const double beta = pbeta ? pbeta[c] : 0.0;
    const T a = static_cast<T>(gamma * inv);
    const T b = static_cast<T>(beta);
    const SplitMean<T> mt(m);
    for (int64_t n = 0; n < l.batch; ++n) {
      const T* xp = px + l.offset(n, c);
      T* yp = py + l.offset(n, c);
      if (relu) {
        for (int64_t i = 0; i < l.inner; ++i) {
          const T z = ((xp[i] - mt.hi) - mt.lo) * a + b;
          yp[i] = z > T(0) ? z : T(0);
        }
      } else {
        for (int64_t i = 0; i < l.inner; ++i) yp[i] = ((xp[i] - mt.hi) - mt.lo) * a + b;
      }
    }
  });
}

template <class T>
void batch_norm_backward(const ChannelLayout& l, const T* px, const T* pdy, const T* pgamma,
                         const T* pbeta, const double* mean, const double* invstd, bool training,
                         bool relu, T* pgx, T* gw, T* gb) {
  const bool need_x = pgx != nullptr, need_w = gw != nullptr, need_b = gb != nullptr;
  const int64_t count = l.per_channel();
  // Fused ReLU: dy becomes dz = (z > 0 ? dy : 0), z = (x - mean) * a + beta as in forward.
  auto channel = [&](int64_t c, auto fused) {
    constexpr bool kRelu = decltype(fused)::value;
    const double m = mean[c], inv = invstd[c];
    const double gamma = pgamma ? pgamma[c] : 1.0;
    const T a = static_cast<T>(gamma * inv);
    const T beta = static_cast<T>(pbeta ? pbeta[c] : 0.0);
    const SplitMean<T> mt(m);
    auto dz = [&](T xmu, T dy) {
      if constexpr (kRelu) return xmu * a + beta > T(0) ? dy : T(0);
      return dy;
    };
    // In training the input gradient needs these sums too (it flows through the batch
    // mean and variance); in evaluation only the parameter gradients do.
    double sum_dy = 0, sum_dy_xmu = 0;
    if (need_w || need_b || (need_x && training)) {
      for_each_run(l, c, [&](int64_t at, int64_t len) {
        const T* xp = px + at;
        const T* dyp = pdy + at;
        T a1 = 0, a2 = 0;
#pragma omp simd reduction(+ : a1, a2)
        for (int64_t i = 0; i < len; ++i) {
          const T xmu = (xp[i] - mt.hi) - mt.lo, d = dz(xmu, dyp[i]);
          a1 += d;
          a2 += d * xmu;
        }
        sum_dy += a1;
        sum_dy_xmu += a2;
      });
    }
    if (need_w) gw[c] = static_cast<T>(sum_dy_xmu * inv);
    if (need_b) gb[c] = static_cast<T>(sum_dy);
    if (!need_x) return;
    if (training) {
      // dx = a * (dy - mean(dy) - (x - mean) * inv^2 * mean(dy * (x - mean)))
      const T mean_dy = static_cast<T>(sum_dy / static_cast<double>(count));
      const T k = static_cast<T>(inv * inv * sum_dy_xmu / static_cast<double>(count));
      for (int64_t b = 0; b < l.batch; ++b) {
        const T* xp = px + l.offset(b, c);
        const T* dyp = pdy + l.offset(b, c);
        T* gp = pgx + l.offset(b, c);
        for (int64_t i = 0; i < l.inner; ++i) {
          const T xmu = (xp[i] - mt.hi) - mt.lo;
          gp[i] = (dz(xmu, dyp[i]) - mean_dy - xmu * k) * a;
        }
      }
    } else {
      for (int64_t b = 0; b < l.batch; ++b) {
        const T* xp = px + l.offset(b, c);
        const T* dyp = pdy + l.offset(b, c);
        T* gp = pgx + l.offset(b, c);
        for (int64_t i = 0; i < l.inner; ++i) {
          if constexpr (kRelu)
            gp[i] = dz((xp[i] - mt.hi) - mt.lo, dyp[i]) * a;
          else
            gp[i] = dyp[i] * a;
        }
      }
    }
  };
  parallel_items(l.channels, l.per_channel(), [&](int64_t c) {
    if (relu)
      channel(c, std::true_type());
    else
      channel(c, std::false_type());
  });
}

template <class T>
void lrn_forward(const ChannelLayout& l, int64_t size, double alpha, double beta, double k,
                 const T* px, T* ps, T* py) {
  const LrnWindow win{size / 2, (size - 1) / 2};
  const T coef = static_cast<T>(alpha / static_cast<double>(size));
  const T kk = static_cast<T>(k);
  // Each output plane reads its own window of input planes directly (no running sum, whose
  // add/subtract would drift), so planes are independent and run in parallel.
  parallel_items(l.batch * l.channels, l.inner * (win.before + win.after + 2), [&](int64_t plane) {
    const int64_t b = plane / l.channels, c = plane % l.channels;
    T* sp = ps + plane * l.inner;
    T* yp = py + plane * l.inner;
    const T* xp = px + plane * l.inner;
    std::fill(sp, sp + l.inner, T(0));
    const int64_t c0 = std::max<int64_t>(c - win.before, 0);
    const int64_t c1 = std::min<int64_t>(c + win.after, l.channels - 1);
    for (int64_t cc = c0; cc <= c1; ++cc) {
      const T* q = px + l.offset(b, cc);
      for (int64_t i = 0; i < l.inner; ++i) sp[i] += q[i] * q[i];
    }
    for (int64_t i = 0; i < l.inner; ++i) sp[i] = kk + coef * sp[i];
    pow_neg_beta(sp, yp, l.inner, beta);
    for (int64_t i = 0; i < l.inner; ++i) yp[i] *= xp[i];
  });
}

template <class T>
void lrn_backward(const ChannelLayout& l, int64_t size, double alpha, double beta, const T* px,
                  const T* ps, const T* py, const T* pdy, T* pg) {
  const LrnWindow win{size / 2, (size - 1) / 2};
  const T coef = static_cast<T>(alpha / static_cast<double>(size));
  // dx_j = dy_j * s_j^-beta - 2 beta alpha/size * x_j * sum_c t_c over the channels c
  // whose window holds j, i.e. c in [j - after, j + before]; t_c = dy_c * y_c / s_c.
  TensorT<T> t = TensorT<T>::empty({l.batch * l.channels * l.inner});
  T* pt = t.data();
  const int64_t planes = l.batch * l.channels;
  parallel_items(planes, l.inner * (win.before + win.after + 2), [&](int64_t plane) {
    const int64_t o = plane * l.inner;
    for (int64_t i = 0; i < l.inner; ++i) pt[o + i] = pdy[o + i] * py[o + i] / ps[o + i];
  });
  const T f = static_cast<T>(-2.0 * beta) * coef;
  parallel_items(planes, l.inner * (win.before + win.after + 2), [&](int64_t plane) {
    const int64_t b = plane / l.channels, j = plane % l.channels;
    const int64_t o = plane * l.inner;
    T* gp = pg + o;
    const T* xp = px + o;
    pow_neg_beta(ps + o, gp, l.inner, beta);
    for (int64_t i = 0; i < l.inner; ++i) gp[i] *= pdy[o + i];
    const int64_t c0 = std::max<int64_t>(j - win.after, 0);
    const int64_t c1 = std::min<int64_t>(j + win.before, l.channels - 1);
    for (int64_t c = c0; c <= c1; ++c) {
      const T* q = pt + l.offset(b, c);
      for (int64_t i = 0; i < l.inner; ++i) gp[i] += f * xp[i] * q[i];
    }
  });
}

#define CNNZOO_INSTANTIATE(T)                                                                     \
  template void batch_norm_forward(const ChannelLayout&, const T*, const T*, const T*, T*, T*,    \
                                   bool, double, double, bool, T*, double*, double*);             \
  template void batch_norm_backward(const ChannelLayout&, const T*, const T*, const T*, const T*, \
                                    const double*, const double*, bool, bool, T*, T*, T*);        \
  template void lrn_forward(const ChannelLayout&, int64_t, double, double, double, const T*, T*,  \
                            T*);                                                                  \
  template void lrn_backward(const ChannelLayout&, int64_t, double, double, const T*, const T*,   \
                             const T*, const T*, T*);
CNNZOO_INSTANTIATE(float)
CNNZOO_INSTANTIATE(double)
#undef CNNZOO_INSTANTIATE

}  // namespace cnnzoo::kernels
