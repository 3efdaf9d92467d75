// Batch-norm and local-response-norm loops over [batch, channels, inner] tensors: the
// per-channel statistics, the normalisation (optionally fused with a ReLU) and their gradients.
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

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

namespace {

// Batch statistics of one channel from its shifted sums over `count` values.
struct ChannelStats {
  double mean, var, invstd;
  ChannelStats(double shift, double s1, double s2, double count, double eps) {
    const double d = s1 / count;
    mean = shift + d;
    var = std::max(s2 / count - d * d, 0.0);
    invstd = 1.0 / std::sqrt(var + eps);
  }
};

// running = (1 - momentum) * running + momentum * batch, with the unbiased variance.
template <class T>
void update_running(T* prm, T* prv, int64_t c, const ChannelStats& s, double count,
                    double momentum) {
  if (!prm) return;
  prm[c] = static_cast<T>((1 - momentum) * prm[c] + momentum * s.mean);
  prv[c] = static_cast<T>((1 - momentum) * prv[c] + momentum * s.var * count / (count - 1));
}

template <class T>
void normalize_channel(const ChannelLayout& l, int64_t c, const T* px, const T* pgamma,
                       const T* pbeta, double m, double inv, bool relu, T* py) {
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
}

// The backward of one channel in pieces: the sums of dz and dz * (x - mean) over the channel
// (dz = dy, masked by the fused ReLU), and the input gradient from the sums over `count`
// values (in training they may be the sums over every process's batch).
template <class T, bool kRelu>
struct ChannelBackward {
  const ChannelLayout& l;
  int64_t c;
  const T *px, *pdy;
  T a, beta;
  SplitMean<T> mt;

  ChannelBackward(const ChannelLayout& l_, int64_t c_, const T* x, const T* dy, const T* pgamma,
                  const T* pbeta, double m, double inv)
      : l(l_),
        c(c_),
        px(x),
        pdy(dy),
        a(static_cast<T>((pgamma ? pgamma[c_] : 1.0) * inv)),
        beta(static_cast<T>(pbeta ? pbeta[c_] : 0.0)),
        mt(m) {}

  T dz(T xmu, T dy) const {
    if constexpr (kRelu) return xmu * a + beta > T(0) ? dy : T(0);
    return dy;
  }

  void sums(double& sum_dy, double& sum_dy_xmu) const {
    sum_dy = 0;
    sum_dy_xmu = 0;
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

  // Training: dx = a * (dz - mean(dz) - (x - mean) * inv^2 * mean(dz * (x - mean))).
  void input_grad_training(double sum_dy, double sum_dy_xmu, double count, double inv,
                           T* pgx) const {
    const T mean_dy = static_cast<T>(sum_dy / count);
    const T k = static_cast<T>(inv * inv * sum_dy_xmu / count);
    for (int64_t b = 0; b < l.batch; ++b) {
      const T* xp = px + l.offset(b, c);
      const T* dyp = pdy + l.offset(b, c);
      T* gp = pgx + l.offset(b, c);
      for (int64_t i = 0; i < l.inner; ++i) {
        const T xmu = (xp[i] - mt.hi) - mt.lo;
        gp[i] = (dz(xmu, dyp[i]) - mean_dy - xmu * k) * a;
      }
    }
  }

  void input_grad_eval(T* pgx) const {
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

// f(channel backward) with the ReLU mask chosen at compile time.
template <class T, class F>
void with_channel_backward(bool relu, const ChannelLayout& l, int64_t c, const T* x, const T* dy,
                           const T* gamma, const T* beta, double m, double inv, F&& f) {
  if (relu)
    f(ChannelBackward<T, true>(l, c, x, dy, gamma, beta, m, inv));
  else
    f(ChannelBackward<T, false>(l, c, x, dy, gamma, beta, m, inv));
}

}  // namespace

template <class T>
void batch_norm_forward(const ChannelLayout& l, const T* px, const T* pgamma, const T* pbeta,
                        T* prm, T* prv, bool training, double momentum, double eps, bool relu,
                        T* py, double* mean, double* invstd) {
  const double count = static_cast<double>(l.per_channel());
  parallel_items(l.channels, l.per_channel(), [&](int64_t c) {
    if (training) {
      const T shift = px[l.offset(0, c)];
      double s1, s2;
      shifted_moments(px, l, c, shift, s1, s2);
      const ChannelStats st(shift, s1, s2, count, eps);
      update_running(prm, prv, c, st, count, momentum);
      mean[c] = st.mean;
      invstd[c] = st.invstd;
    } else {
      mean[c] = prm[c];
      invstd[c] = 1.0 / std::sqrt(static_cast<double>(prv[c]) + eps);
    }
    normalize_channel(l, c, px, pgamma, pbeta, mean[c], invstd[c], relu, py);
  });
}

template <class T>
void batch_norm_backward(const ChannelLayout& l, const T* px, const T* pdy, const T* pgamma,
                         const T* pbeta, const double* mean, const double* invstd, bool training,
                         bool relu, T* pgx, T* gw, T* gb) {
  const bool need_sums = gw || gb || (pgx && training);
  const double count = static_cast<double>(l.per_channel());
  parallel_items(l.channels, l.per_channel(), [&](int64_t c) {
    with_channel_backward(relu, l, c, px, pdy, pgamma, pbeta, mean[c], invstd[c], [&](auto ch) {
      // In training the input gradient needs the sums too (it flows through the batch mean and
      // variance); in evaluation only the parameter gradients do.
      double sum_dy = 0, sum_dy_xmu = 0;
      if (need_sums) ch.sums(sum_dy, sum_dy_xmu);
      if (gw) gw[c] = static_cast<T>(sum_dy_xmu * invstd[c]);
      if (gb) gb[c] = static_cast<T>(sum_dy);
      if (!pgx) return;
      if (training)
        ch.input_grad_training(sum_dy, sum_dy_xmu, count, invstd[c], pgx);
      else
        ch.input_grad_eval(pgx);
    });
  });
}

template <class T>
void batch_norm_forward_across(const ChannelLayout& l, const T* px, const T* pgamma, const T* pbeta,
                               T* prm, T* prv, double momentum, double eps, bool relu,
                               const SumAcross& sum_across, T* py, double* mean, double* invstd) {
  const int64_t C = l.channels;
  const double local_count = static_cast<double>(l.per_channel());
  // Per channel, this process's n * mean and M2 + n * mean^2 (M2: the sum of squared
  // deviations from its own mean, from sums shifted by one of its values as in one process):
  // their sums over the processes are n * mean and M2 + n * mean^2 of the whole batch, exact
  // in double where float sums of x^2 would cancel when |mean| >> std. Then the count.
  std::vector<double> sums(2 * C + 1, 0.0);
  if (l.per_channel() > 0)
    parallel_items(C, l.per_channel(), [&](int64_t c) {
      const T shift = px[l.offset(0, c)];
      double s1, s2;
      shifted_moments(px, l, c, shift, s1, s2);
      const double mean = static_cast<double>(shift) + s1 / local_count;
      const double m2 = std::max(s2 - s1 * s1 / local_count, 0.0);
      sums[c] = local_count * mean;
      sums[C + c] = m2 + local_count * mean * mean;
    });
  sums[2 * C] = local_count;
  sum_across(sums.data(), 2 * C + 1);
  const double count = sums[2 * C];
  check(count > 1, "batch_norm: training needs more than one value per channel over all processes");
  parallel_items(C, l.per_channel(), [&](int64_t c) {
    const ChannelStats st(0.0, sums[c], sums[C + c], count, eps);
    update_running(prm, prv, c, st, count, momentum);
    mean[c] = st.mean;
    invstd[c] = st.invstd;
    normalize_channel(l, c, px, pgamma, pbeta, mean[c], invstd[c], relu, py);
  });
}

template <class T>
void batch_norm_backward_across(const ChannelLayout& l, const T* px, const T* pdy, const T* pgamma,
                                const T* pbeta, const double* mean, const double* invstd, bool relu,
                                const SumAcross& sum_across, T* pgx, T* gw, T* gb) {
  const int64_t C = l.channels;
  // This process's sums give the parameter gradients (the data-parallel gradient sum adds
  // them up); the sums over every process give the input gradient.
  std::vector<double> sums(2 * C + 1);
  parallel_items(C, l.per_channel(), [&](int64_t c) {
    with_channel_backward(relu, l, c, px, pdy, pgamma, pbeta, mean[c], invstd[c],
                          [&](auto ch) { ch.sums(sums[c], sums[C + c]); });
    if (gw) gw[c] = static_cast<T>(sums[C + c] * invstd[c]);
    if (gb) gb[c] = static_cast<T>(sums[c]);
  });
  sums[2 * C] = static_cast<double>(l.per_channel());
  sum_across(sums.data(), 2 * C + 1);
  if (!pgx) return;
  parallel_items(C, l.per_channel(), [&](int64_t c) {
    with_channel_backward(relu, l, c, px, pdy, pgamma, pbeta, mean[c], invstd[c], [&](auto ch) {
      ch.input_grad_training(sums[c], sums[C + c], sums[2 * C], invstd[c], pgx);
    });
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

#define CNNZOO_INSTANTIATE(T)                                                                      \
  template void batch_norm_forward(const ChannelLayout&, const T*, const T*, const T*, T*, T*,     \
                                   bool, double, double, bool, T*, double*, double*);              \
  template void batch_norm_backward(const ChannelLayout&, const T*, const T*, const T*, const T*,  \
                                    const double*, const double*, bool, bool, T*, T*, T*);         \
  template void batch_norm_forward_across(const ChannelLayout&, const T*, const T*, const T*, T*,  \
                                          T*, double, double, bool, const SumAcross&, T*, double*, \
                                          double*);                                                \
  template void batch_norm_backward_across(const ChannelLayout&, const T*, const T*, const T*,     \
                                           const T*, const double*, const double*, bool,           \
                                           const SumAcross&, T*, T*, T*);                          \
  template void lrn_forward(const ChannelLayout&, int64_t, double, double, double, const T*, T*,   \
                            T*);                                                                   \
  template void lrn_backward(const ChannelLayout&, int64_t, double, double, const T*, const T*,    \
                             const T*, const T*, T*);
CNNZOO_INSTANTIATE(float)
CNNZOO_INSTANTIATE(double)
#undef CNNZOO_INSTANTIATE

}  // namespace cnnzoo::kernels
