// Stochastic masks. Inverted dropout: training zeroes each element with probability p and
// scales the kept ones by 1 / (1 - p), so evaluation is the identity. Swapout: two masks.
#include "cnnzoo/ops/dropout.hpp"

#include <cmath>
#include <cstdint>
#include <memory>
#include <string>

#include "cnnzoo/ops/arith.hpp"
#include "export/trace.hpp"
#include "parallel_for.hpp"

namespace cnnzoo {

namespace {

using Mask = std::shared_ptr<uint8_t>;

// One byte per element, from the tensor storage cache like every other activation. Two
// decisions per 64-bit draw, one per 32-bit half h: keep(h). Drawn serially so the mask
// depends only on the generator's state.
template <class Keep>
Mask draw_mask(int64_t count, Generator& gen, Keep keep) {
  Mask mask(static_cast<uint8_t*>(storage_alloc(static_cast<size_t>(count))),
            [](uint8_t* q) { storage_free(q); });
  uint8_t* m = mask.get();
  int64_t i = 0;
  for (; i + 1 < count; i += 2) {
    const uint64_t r = gen.next_u64();
    m[i] = keep(r & 0xffffffffu);
    m[i + 1] = keep(r >> 32);
  }
  if (i < count) m[i] = keep(gen.next_u64() & 0xffffffffu);
  return mask;
}

// p * 2^32: a 32-bit half below it has probability p (to within 2^-32).
uint64_t threshold(double p) {
  return static_cast<uint64_t>(std::llround(p * 4294967296.0));
}

}  // namespace

template <class T>
VarT<T> dropout(const VarT<T>& x, double p, bool training, Generator& gen) {
  check(x.defined(), "dropout: undefined input");
  check(p >= 0.0 && p < 1.0, "dropout: p must be in [0, 1), got " + std::to_string(p));
  if (!training || p == 0.0) return x;

  const int64_t count = x.value().numel();
  // Kept when the half is at least p * 2^32: with probability 1 - p.
  const Mask mask = draw_mask(count, gen, [t = threshold(p)](uint64_t h) { return h >= t; });
  const uint8_t* m = mask.get();

  const T keep_scale = static_cast<T>(1.0 / (1.0 - p));
  TensorT<T> y = TensorT<T>::empty(x.shape());
  {
    const T* px = x.value().data();
    T* py = y.data();
    parallel_chunks(count, [&](int64_t b, int64_t e) {
      for (int64_t j = b; j < e; ++j) py[j] = px[j] * (static_cast<T>(m[j]) * keep_scale);
    });
  }
  trace::next<T>([&] { return trace::Attributes{{{"training", {training ? 1 : 0}}}, {{"p", p}}}; });
  return make_result<T>(std::move(y), {x}, "dropout", [mask, keep_scale, count](Node<T>& n) {
    const uint8_t* mk = mask.get();
    T* g = n.grad.data();
    parallel_chunks(count, [&](int64_t b, int64_t e) {
      for (int64_t j = b; j < e; ++j) g[j] *= static_cast<T>(mk[j]) * keep_scale;
    });
    n.inputs[0]->accumulate(std::move(n.grad));
  });
}

template <class T>
VarT<T> swapout(const VarT<T>& x, const VarT<T>& f, double theta1, double theta2, bool training,
                Generator& gen) {
  check(x.defined() && f.defined(), "swapout: undefined input");
  check(x.shape() == f.shape(), "swapout: X " + x.value().shape_str() + " and F(X) " +
                                    f.value().shape_str() + " differ in shape");
  check(theta1 >= 0.0 && theta1 <= 1.0 && theta2 >= 0.0 && theta2 <= 1.0,
        "swapout: keep probabilities must lie in [0, 1]");
  if (!training) {
    if (theta1 == theta2) return scale(add(x, f), theta1);
    return add(scale(x, theta1), scale(f, theta2));
  }
  const int64_t count = x.value().numel();
  // Kept when the half is below theta * 2^32: with probability theta.
  const Mask mask1 = draw_mask(count, gen, [t = threshold(theta1)](uint64_t h) { return h < t; });
  const Mask mask2 = draw_mask(count, gen, [t = threshold(theta2)](uint64_t h) { return h < t; });
  TensorT<T> y = TensorT<T>::empty(x.shape());
  {
    const T *px = x.value().data(), *pf = f.value().data();
    const uint8_t *m1 = mask1.get(), *m2 = mask2.get();
    T* py = y.data();
    parallel_chunks(count, [&](int64_t b, int64_t e) {
      for (int64_t j = b; j < e; ++j)
        py[j] = px[j] * static_cast<T>(m1[j]) + pf[j] * static_cast<T>(m2[j]);
    });
  }
  trace::next<T>([&] {
    return trace::Attributes{{{"training", {1}}}, {{"theta1", theta1}, {"theta2", theta2}}};
  });
  return make_result<T>(std::move(y), {x, f}, "swapout", [mask1, mask2, count](Node<T>& n) {
    // dy/dx = M1, dy/df = M2.
    const Mask masks[2] = {mask1, mask2};
    for (int k = 0; k < 2; ++k) {
      if (!n.input_needs_grad(k)) continue;
      TensorT<T> g = TensorT<T>::empty(n.grad.shape());
      const T* pg = n.grad.data();
      const uint8_t* m = masks[k].get();
      T* out = g.data();
      parallel_chunks(count, [&](int64_t b, int64_t e) {
        for (int64_t j = b; j < e; ++j) out[j] = pg[j] * static_cast<T>(m[j]);
      });
      n.inputs[k]->accumulate(std::move(g));
    }
  });
}

template VarT<float> dropout(const VarT<float>&, double, bool, Generator&);
template VarT<double> dropout(const VarT<double>&, double, bool, Generator&);
template VarT<float> swapout(const VarT<float>&, const VarT<float>&, double, double, bool,
                             Generator&);
template VarT<double> swapout(const VarT<double>&, const VarT<double>&, double, double, bool,
                              Generator&);

}  // namespace cnnzoo
