// Element-wise arithmetic and reductions: add, sub, mul, per-channel mul, scaling, sums.
// Backward passes hand this node's gradient storage on to one input (the node is done with
// it) and allocate only where two inputs need different or separate gradients.
#include "cnnzoo/ops/arith.hpp"

#include <omp.h>

#include <algorithm>
#include <string>
#include <vector>

#include "export/trace.hpp"
#include "kernels/kernels.hpp"
#include "parallel_for.hpp"

namespace cnnzoo {

namespace {

// Elements per thread below which an element-wise loop stays serial.
constexpr int64_t kGrain = 1 << 15;

// Runs f(begin, end) over [0, n) in parallel chunks.
template <class F>
void elementwise(int64_t n, F&& f) {
  parallel_chunks(n, std::forward<F>(f), kGrain);
}

// Sum over [0, n) of chunk(begin, end), in fixed chunks combined in a fixed order, so the
// result does not depend on thread timing.
template <class F>
double parallel_sum(int64_t n, F&& chunk) {
  const int64_t chunks = std::clamp<int64_t>(n / kGrain, 1, num_threads());
  if (chunks == 1 || omp_in_parallel()) return chunk(int64_t(0), n);
  std::vector<double> partial(static_cast<size_t>(chunks));
#pragma omp parallel for num_threads(static_cast <int>(chunks)) schedule(static)
  for (int64_t c = 0; c < chunks; ++c) partial[c] = chunk(n * c / chunks, n * (c + 1) / chunks);
  double s = 0;
  for (double p : partial) s += p;
  return s;
}

template <class T>
void check_same_shape(const char* op, const VarT<T>& a, const VarT<T>& b) {
  check(a.defined() && b.defined(), std::string(op) + ": undefined input");
  check(a.shape() == b.shape(), std::string(op) + ": shapes " + a.value().shape_str() + " and " +
                                    b.value().shape_str() + " differ");
}

// g *= alpha in place.
template <class T>
void scale_in_place(TensorT<T>& g, T alpha) {
  T* p = g.data();
  elementwise(g.numel(), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) p[i] *= alpha;
  });
}

// A copy made with all threads (residual additions copy whole activations in backward).
template <class T>
TensorT<T> parallel_clone(const TensorT<T>& t) {
  TensorT<T> c = TensorT<T>::empty(t.shape());
  const T* src = t.data();
  T* dst = c.data();
  elementwise(t.numel(), [&](int64_t b, int64_t e) { std::copy(src + b, src + e, dst + b); });
  return c;
}

}  // namespace

namespace {

// y = a + b (y may be a's value) and the node passing the gradient to both.
template <class T>
VarT<T> add_result(const VarT<T>& a, const VarT<T>& b, TensorT<T> y) {
  const T *pa = a.value().data(), *pb = b.value().data();
  T* py = y.data();
  elementwise(y.numel(), [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) py[i] = pa[i] + pb[i];
  });
  return make_result<T>(std::move(y), {a, b}, "add", [](Node<T>& n) {
    const bool g0 = n.input_needs_grad(0), g1 = n.input_needs_grad(1);
    if (g1) n.inputs[1]->accumulate(g0 ? parallel_clone(n.grad) : std::move(n.grad));
    if (g0) n.inputs[0]->accumulate(std::move(n.grad));
  });
}

}  // namespace

template <class T>
VarT<T> add(const VarT<T>& a, const VarT<T>& b) {
  check_same_shape("add", a, b);
  return add_result(a, b, TensorT<T>::empty(a.shape()));
}

template <class T>
VarT<T> add(VarT<T>&& a, const VarT<T>& b) {
  check_same_shape("add", a, b);
  if (!value_reusable(a)) return add(static_cast<const VarT<T>&>(a), b);
  TensorT<T> y = a.value();
  return add_result(a, b, std::move(y));
}

template <class T>
VarT<T> sub(const VarT<T>& a, const VarT<T>& b) {
  check_same_shape("sub", a, b);
  TensorT<T> y = TensorT<T>::empty(a.shape());
  const T *pa = a.value().data(), *pb = b.value().data();
  T* py = y.data();
  elementwise(y.numel(), [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) py[i] = pa[i] - pb[i];
  });
  return make_result<T>(std::move(y), {a, b}, "sub", [](Node<T>& n) {
    const bool g0 = n.input_needs_grad(0), g1 = n.input_needs_grad(1);
    if (g1) {
      TensorT<T> neg = g0 ? TensorT<T>::empty(n.grad.shape()) : n.grad;
      const T* pg = n.grad.data();
      T* pn = neg.data();
      elementwise(neg.numel(), [&](int64_t s, int64_t e) {
        for (int64_t i = s; i < e; ++i) pn[i] = -pg[i];
      });
      if (!g0) n.grad = TensorT<T>();
      n.inputs[1]->accumulate(std::move(neg));
    }
    if (g0) n.inputs[0]->accumulate(std::move(n.grad));
  });
}

template <class T>
VarT<T> mul(const VarT<T>& a, const VarT<T>& b) {
  check_same_shape("mul", a, b);
  TensorT<T> y = TensorT<T>::empty(a.shape());
  const T *pa = a.value().data(), *pb = b.value().data();
  T* py = y.data();
  elementwise(y.numel(), [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) py[i] = pa[i] * pb[i];
  });
  // da = g * b and db = g * a: each factor is kept only if the other needs a gradient.
  TensorT<T> av = b.requires_grad() ? a.value() : TensorT<T>();
  TensorT<T> bv = a.requires_grad() ? b.value() : TensorT<T>();
  return make_result<T>(std::move(y), {a, b}, "mul", [av, bv](Node<T>& n) {
    const bool g0 = n.input_needs_grad(0), g1 = n.input_needs_grad(1);
    const int64_t count = n.grad.numel();
    T* pg = n.grad.data();
    if (g1) {
      // Written into the node's own gradient when input 0 will not read it afterwards.
      TensorT<T> gb = g0 ? TensorT<T>::empty(n.grad.shape()) : n.grad;
      const T* pa = av.data();
      T* pgb = gb.data();
      elementwise(count, [&](int64_t s, int64_t e) {
        for (int64_t i = s; i < e; ++i) pgb[i] = pg[i] * pa[i];
      });
      if (!g0) n.grad = TensorT<T>();
      n.inputs[1]->accumulate(std::move(gb));
    }
    if (g0) {
      const T* pb = bv.data();
      elementwise(count, [&](int64_t s, int64_t e) {
        for (int64_t i = s; i < e; ++i) pg[i] *= pb[i];
      });
      n.inputs[0]->accumulate(std::move(n.grad));
    }
  });
}

template <class T>
VarT<T> mul_channel(const VarT<T>& x, const VarT<T>& s) {
  check(x.defined() && s.defined(), "mul_channel: undefined input");
  const Shape& xs = x.shape();
  const Shape& ss = s.shape();
  check(xs.size() >= 2, "mul_channel: input must be [N, C, ...], got " + shape_str(xs));
  const int64_t batch = xs[0], channels = xs[1];
  // s is one factor per (sample, channel): [N, C] with optional trailing 1s, e.g. [N, C, 1, 1];
  // or one factor per channel shared by all samples: [C].
  bool per_sample = ss.size() >= 2 && ss.size() <= xs.size() && ss[0] == batch &&
                    ss[1] == channels &&
                    std::all_of(ss.begin() + 2, ss.end(), [](int64_t d) { return d == 1; });
  bool shared = ss.size() == 1 && ss[0] == channels;
  check(per_sample || shared, "mul_channel: factors " + shape_str(ss) + " do not fit input " +
                                  shape_str(xs) + " (expected [N, C], [N, C, 1, 1] or [C])");
  const int64_t planes = batch * channels;
  const int64_t inner = planes ? x.value().numel() / planes : 0;
  const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(inner, 1));

  TensorT<T> y = TensorT<T>::empty(xs);
  {
    const T* px = x.value().data();
    const T* ps = s.value().data();
    T* py = y.data();
    parallel_for(
        planes,
        [&](int64_t p) {
          const T f = ps[per_sample ? p : p % channels];
          const T* xp = px + p * inner;
          T* yp = py + p * inner;
          for (int64_t i = 0; i < inner; ++i) yp[i] = xp[i] * f;
        },
        grain);
  }

  TensorT<T> xv = s.requires_grad() ? x.value() : TensorT<T>();
  TensorT<T> sv = x.requires_grad() ? s.value() : TensorT<T>();
  return make_result<T>(
      std::move(y), {x, s}, "mul_channel",
      [xv, sv, ss, per_sample, batch, channels, planes, inner, grain](Node<T>& n) {
        T* pg = n.grad.data();
        if (n.input_needs_grad(1)) {
          // ds per plane is <g, x> over that plane; shared factors then sum over the batch.
          TensorT<T> per_plane = TensorT<T>::empty({planes});
          T* pp = per_plane.data();
          const T* px = xv.data();
          parallel_for(
              planes,
              [&](int64_t p) {
                pp[p] = kernels::vec_dot<T>(pg + p * inner, px + p * inner, inner);
              },
              grain);
          if (per_sample) {
            n.inputs[1]->accumulate(per_plane.reshape(ss));
          } else {
            TensorT<T> ds = TensorT<T>::zeros({channels});
            for (int64_t b = 0; b < batch; ++b)
              for (int64_t c = 0; c < channels; ++c) ds[c] += pp[b * channels + c];
            n.inputs[1]->accumulate(std::move(ds));
          }
        }
        if (n.input_needs_grad(0)) {
          const T* ps = sv.data();
          parallel_for(
              planes,
              [&](int64_t p) {
                const T f = ps[per_sample ? p : p % channels];
                T* gp = pg + p * inner;
                for (int64_t i = 0; i < inner; ++i) gp[i] *= f;
              },
              grain);
          n.inputs[0]->accumulate(std::move(n.grad));
        }
      });
}

template <class T>
VarT<T> scale(const VarT<T>& x, double alpha) {
  check(x.defined(), "scale: undefined input");
  const T a = static_cast<T>(alpha);
  TensorT<T> y = TensorT<T>::empty(x.shape());
  const T* px = x.value().data();
  T* py = y.data();
  elementwise(y.numel(), [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) py[i] = a * px[i];
  });
  trace::next<T>([&] { return trace::Attributes{{}, {{"alpha", alpha}}, {}}; });
  return make_result<T>(std::move(y), {x}, "scale", [a](Node<T>& n) {
    scale_in_place(n.grad, a);
    n.inputs[0]->accumulate(std::move(n.grad));
  });
}

template <class T>
VarT<T> scale(const VarT<T>& x, const VarT<T>& alpha) {
  check(x.defined() && alpha.defined(), "scale: undefined input");
  check(alpha.value().numel() == 1,
        "scale: alpha must have one element, got shape " + alpha.value().shape_str());
  const T a = alpha.value()[0];
  TensorT<T> y = TensorT<T>::empty(x.shape());
  const T* px = x.value().data();
  T* py = y.data();
  elementwise(y.numel(), [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) py[i] = a * px[i];
  });
  TensorT<T> xv = alpha.requires_grad() ? x.value() : TensorT<T>();
  Shape alpha_shape = alpha.shape();
  return make_result<T>(std::move(y), {x, alpha}, "scale", [a, xv, alpha_shape](Node<T>& n) {
    if (n.input_needs_grad(1)) {
      const T* pg = n.grad.data();
      const T* px = xv.data();
      const double d = parallel_sum(n.grad.numel(), [&](int64_t s, int64_t e) {
        return static_cast<double>(kernels::vec_dot<T>(pg + s, px + s, e - s));
      });
      n.inputs[1]->accumulate(TensorT<T>::full(alpha_shape, static_cast<T>(d)));
    }
    if (n.input_needs_grad(0)) {
      scale_in_place(n.grad, a);
      n.inputs[0]->accumulate(std::move(n.grad));
    }
  });
}

template <class T>
VarT<T> add_scalar(const VarT<T>& x, double c) {
  check(x.defined(), "add_scalar: undefined input");
  const T v = static_cast<T>(c);
  TensorT<T> y = TensorT<T>::empty(x.shape());
  const T* px = x.value().data();
  T* py = y.data();
  elementwise(y.numel(), [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) py[i] = px[i] + v;
  });
  trace::next<T>([&] { return trace::Attributes{{}, {{"c", c}}, {}}; });
  return make_result<T>(std::move(y), {x}, "add_scalar",
                        [](Node<T>& n) { n.inputs[0]->accumulate(std::move(n.grad)); });
}

namespace {
template <class T>
double sum_all(const TensorT<T>& t) {
  const T* p = t.data();
  return parallel_sum(t.numel(), [&](int64_t s, int64_t e) {
    return static_cast<double>(kernels::vec_sum(p + s, e - s));
  });
}
}  // namespace

template <class T>
VarT<T> sum(const VarT<T>& x) {
  check(x.defined(), "sum: undefined input");
  Shape shape = x.shape();
  return make_result<T>(
      TensorT<T>::scalar(static_cast<T>(sum_all(x.value()))), {x}, "sum",
      [shape](Node<T>& n) { n.inputs[0]->accumulate(TensorT<T>::full(shape, n.grad[0])); });
}

template <class T>
VarT<T> mean(const VarT<T>& x) {
  check(x.defined(), "mean: undefined input");
  const int64_t count = x.value().numel();
  check(count > 0, "mean: empty tensor " + x.value().shape_str());
  Shape shape = x.shape();
  return make_result<T>(
      TensorT<T>::scalar(static_cast<T>(sum_all(x.value()) / count)), {x}, "mean",
      [shape, count](Node<T>& n) {
        n.inputs[0]->accumulate(TensorT<T>::full(shape, n.grad[0] / static_cast<T>(count)));
      });
}

#define CNNZOO_INSTANTIATE_ARITH(T)                             \
  template VarT<T> add(const VarT<T>&, const VarT<T>&);         \
  template VarT<T> add(VarT<T>&&, const VarT<T>&);              \
  template VarT<T> sub(const VarT<T>&, const VarT<T>&);         \
  template VarT<T> mul(const VarT<T>&, const VarT<T>&);         \
  template VarT<T> mul_channel(const VarT<T>&, const VarT<T>&); \
  template VarT<T> scale(const VarT<T>&, double);               \
  template VarT<T> scale(const VarT<T>&, const VarT<T>&);       \
  template VarT<T> add_scalar(const VarT<T>&, double);          \
  template VarT<T> sum(const VarT<T>&);                         \
  template VarT<T> mean(const VarT<T>&);
CNNZOO_INSTANTIATE_ARITH(float)
CNNZOO_INSTANTIATE_ARITH(double)
#undef CNNZOO_INSTANTIATE_ARITH

}  // namespace cnnzoo
