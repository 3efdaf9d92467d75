// Inverted dropout: training zeroes each element with probability p and scales the kept
// ones by 1 / (1 - p), so evaluation is the identity.
#include "cnnzoo/ops/dropout.hpp"

#include <cmath>
#include <cstdint>
#include <memory>
#include <string>

#include "export/trace.hpp"
#include "parallel_for.hpp"

namespace cnnzoo {

template <class T>
VarT<T> dropout(const VarT<T>& x, double p, bool training, Generator& gen) {
  check(x.defined(), "dropout: undefined input");
  check(p >= 0.0 && p < 1.0, "dropout: p must be in [0, 1), got " + std::to_string(p));
  if (!training || p == 0.0) return x;

  const int64_t count = x.value().numel();
  // One byte per element, from the tensor storage cache like every other activation.
  const size_t bytes = static_cast<size_t>(count);
  std::shared_ptr<uint8_t> mask(static_cast<uint8_t*>(storage_alloc(bytes)),
                                [](uint8_t* q) { storage_free(q); });
  // Two decisions per 64-bit draw: an element is kept when its 32-bit half is at least
  // p * 2^32, i.e. with probability 1 - p (to within 2^-32). Drawn serially so the mask
  // depends only on the generator's state.
  const uint64_t threshold = static_cast<uint64_t>(std::llround(p * 4294967296.0));
  uint8_t* m = mask.get();
  int64_t i = 0;
  for (; i + 1 < count; i += 2) {
    const uint64_t r = gen.next_u64();
    m[i] = (r & 0xffffffffu) >= threshold;
    m[i + 1] = (r >> 32) >= threshold;
  }
  if (i < count) m[i] = (gen.next_u64() & 0xffffffffu) >= threshold;

  const T keep_scale = static_cast<T>(1.0 / (1.0 - p));
  TensorT<T> y = TensorT<T>::empty(x.shape());
  {
    const T* px = x.value().data();
    T* py = y.data();
    parallel_chunks(count, [&](int64_t b, int64_t e) {
      for (int64_t j = b; j < e; ++j) py[j] = px[j] * (static_cast<T>(m[j]) * keep_scale);
    });
  }
  trace::next<T>([&] { return trace::Attributes{{{"training", {training ? 1 : 0}}}}; });
  return make_result<T>(std::move(y), {x}, "dropout", [mask, keep_scale, count](Node<T>& n) {
    const uint8_t* mk = mask.get();
    T* g = n.grad.data();
    parallel_chunks(count, [&](int64_t b, int64_t e) {
      for (int64_t j = b; j < e; ++j) g[j] *= static_cast<T>(mk[j]) * keep_scale;
    });
    n.inputs[0]->accumulate(std::move(n.grad));
  });
}

template VarT<float> dropout(const VarT<float>&, double, bool, Generator&);
template VarT<double> dropout(const VarT<double>&, double, bool, Generator&);

}  // namespace cnnzoo
