// Batch normalisation and local response normalisation: forward kernels and their backward
// lambdas side by side.
#include "cnnzoo/ops/batchnorm.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <type_traits>
#include <utility>

#include "parallel_for.hpp"

namespace cnnzoo {

namespace {

// x seen as [batch, channels, inner]: inner is 1 for [N, C], H * W for [N, C, H, W].
struct ChannelLayout {
  int64_t batch, channels, inner;
  int64_t per_channel() const { return batch * inner; }
  int64_t offset(int64_t b, int64_t c) const { return (b * channels + c) * inner; }
};

ChannelLayout channel_layout(const Shape& s) {
  ChannelLayout l{s[0], s[1], 1};
  for (size_t d = 2; d < s.size(); ++d) l.inner *= s[d];
  return l;
}

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

void check_channel_vector(const Shape& s, int64_t channels, const char* what, const Shape& x) {
  check(s.size() == 1 && s[0] == channels, std::string("batch_norm: ") + what + " " + shape_str(s) +
                                               " does not match input " + shape_str(x) +
                                               " (expected [" + std::to_string(channels) + "])");
}

}  // namespace

// batch_norm, followed by a ReLU when `relu`: the fused form writes max(z, 0) in the same
// pass, and its backward masks dy by z > 0, z recomputed from the saved x, so neither the
// ReLU's pass nor its output is needed.
template <class T>
VarT<T> batch_norm_impl(const VarT<T>& x, const VarT<T>& weight, const VarT<T>& bias,
                        TensorT<T> running_mean, TensorT<T> running_var, bool training,
                        double momentum, double eps, bool relu) {
  check(x.defined(), "batch_norm: undefined input");
  const TensorT<T>& xv = x.value();
  check(xv.dim() == 2 || xv.dim() == 4,
        "batch_norm: expected input [N, C] or [N, C, H, W], got " + xv.shape_str());
  const ChannelLayout l = channel_layout(xv.shape());
  if (weight.defined()) check_channel_vector(weight.shape(), l.channels, "weight", xv.shape());
  if (bias.defined()) check_channel_vector(bias.shape(), l.channels, "bias", xv.shape());
  check(running_mean.defined() == running_var.defined(),
        "batch_norm: running_mean and running_var must both be given or both be omitted");
  if (running_mean.defined()) {
    check_channel_vector(running_mean.shape(), l.channels, "running_mean", xv.shape());
    check_channel_vector(running_var.shape(), l.channels, "running_var", xv.shape());
  }
  check(training || running_mean.defined(),
        "batch_norm: evaluation mode needs running_mean and running_var");
  check(!training || l.per_channel() > 1,
        "batch_norm: training needs more than one value per channel, got input " + xv.shape_str());
  check(eps >= 0 && momentum >= 0 && momentum <= 1,
        "batch_norm: need eps >= 0 and 0 <= momentum <= 1, got eps " + std::to_string(eps) +
            ", momentum " + std::to_string(momentum));

  const int64_t count = l.per_channel();
  TensorT<T> y = TensorT<T>::empty(xv.shape());
  // Statistics the output was normalised with, in double so the backward of a float
  // network does not lose the digits that mean and 1/std carry.
  TensorD mean = TensorD::empty({l.channels});
  TensorD invstd = TensorD::empty({l.channels});
  const T* px = xv.data();
  const T* pgamma = weight.defined() ? weight.value().data() : nullptr;
  const T* pbeta = bias.defined() ? bias.value().data() : nullptr;
  T* prm = running_mean.defined() ? running_mean.data() : nullptr;
  T* prv = running_var.defined() ? running_var.data() : nullptr;
  T* py = y.data();

  // One task per channel: its statistics pass leaves the channel in cache for the
  // normalisation pass right after.
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

  TensorT<T> gamma_v = weight.defined() ? weight.value() : TensorT<T>();
  TensorT<T> beta_v = relu && bias.defined() ? bias.value() : TensorT<T>();
  return make_result<T>(
      std::move(y), {x, weight, bias}, relu ? "batch_norm_relu" : "batch_norm",
      [xv, gamma_v, beta_v, mean, invstd, l, training, relu](Node<T>& n) {
        const bool need_x = n.input_needs_grad(0);
        const bool need_w = n.input_needs_grad(1), need_b = n.input_needs_grad(2);
        const int64_t count = l.per_channel();
        const T* px = xv.data();
        const T* pdy = n.grad.data();
        const T* pgamma = gamma_v.defined() ? gamma_v.data() : nullptr;
        // dx may overwrite dy: each channel task reads its dy for the sums before writing.
        TensorT<T> gx = need_x ? grad_buffer(n) : TensorT<T>();
        TensorT<T> gw = need_w ? TensorT<T>::empty({l.channels}) : TensorT<T>();
        TensorT<T> gb = need_b ? TensorT<T>::empty({l.channels}) : TensorT<T>();
        T* pgx = gx.data();
        const T* pbeta = beta_v.defined() ? beta_v.data() : nullptr;
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
        if (need_x) n.inputs[0]->accumulate(std::move(gx));
        if (need_w) n.inputs[1]->accumulate(std::move(gw));
        if (need_b) n.inputs[2]->accumulate(std::move(gb));
      });
}

template <class T>
VarT<T> batch_norm(const VarT<T>& x, const VarT<T>& weight, const VarT<T>& bias,
                   TensorT<T> running_mean, TensorT<T> running_var, bool training, double momentum,
                   double eps) {
  return batch_norm_impl(x, weight, bias, std::move(running_mean), std::move(running_var), training,
                         momentum, eps, false);
}

template <class T>
VarT<T> batch_norm_relu(const VarT<T>& x, const VarT<T>& weight, const VarT<T>& bias,
                        TensorT<T> running_mean, TensorT<T> running_var, bool training,
                        double momentum, double eps) {
  return batch_norm_impl(x, weight, bias, std::move(running_mean), std::move(running_var), training,
                         momentum, eps, true);
}

namespace {

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
VarT<T> local_response_norm(const VarT<T>& x, int64_t size, double alpha, double beta, double k) {
  check(x.defined(), "local_response_norm: undefined input");
  const TensorT<T>& xv = x.value();
  check(xv.dim() >= 3,
        "local_response_norm: expected input [N, C, ...] of rank >= 3, got " + xv.shape_str());
  check(size >= 1, "local_response_norm: size must be >= 1, got " + std::to_string(size));
  const ChannelLayout l = channel_layout(xv.shape());
  const LrnWindow win{size / 2, (size - 1) / 2};
  const T coef = static_cast<T>(alpha / static_cast<double>(size));
  const T kk = static_cast<T>(k);

  // scale = k + alpha/size * sum of x^2 over the window; kept for the backward.
  TensorT<T> scale = TensorT<T>::empty(xv.shape());
  TensorT<T> y = TensorT<T>::empty(xv.shape());
  const T* px = xv.data();
  T* ps = scale.data();
  T* py = y.data();
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

  return make_result<T>(
      std::move(y), {x}, "local_response_norm",
      [xv, scale, l, win, coef, beta](Node<T>& n) {
        if (!n.input_needs_grad(0)) return;
        // dx_j = dy_j * s_j^-beta - 2 beta alpha/size * x_j * sum_c t_c over the channels c
        // whose window holds j, i.e. c in [j - after, j + before]; t_c = dy_c * y_c / s_c.
        const T* px = xv.data();
        const T* ps = scale.data();
        const T* py = n.value.data();
        const T* pdy = n.grad.data();
        TensorT<T> t = TensorT<T>::empty(xv.shape());
        T* pt = t.data();
        const int64_t planes = l.batch * l.channels;
        parallel_items(planes, l.inner * (win.before + win.after + 2), [&](int64_t plane) {
          const int64_t o = plane * l.inner;
          for (int64_t i = 0; i < l.inner; ++i) pt[o + i] = pdy[o + i] * py[o + i] / ps[o + i];
        });
        TensorT<T> gx = TensorT<T>::empty(xv.shape());
        T* pg = gx.data();
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
        n.inputs[0]->accumulate(std::move(gx));
      },
      /*keep_value=*/true);  // the backward reads the output
}

#define CNNZOO_INSTANTIATE(T)                                                                     \
  template VarT<T> batch_norm<T>(const VarT<T>&, const VarT<T>&, const VarT<T>&, TensorT<T>,      \
                                 TensorT<T>, bool, double, double);                               \
  template VarT<T> batch_norm_relu<T>(const VarT<T>&, const VarT<T>&, const VarT<T>&, TensorT<T>, \
                                      TensorT<T>, bool, double, double);                          \
  template VarT<T> local_response_norm<T>(const VarT<T>&, int64_t, double, double, double);
CNNZOO_INSTANTIATE(float)
CNNZOO_INSTANTIATE(double)
#undef CNNZOO_INSTANTIATE

}  // namespace cnnzoo
