// Softmax cross-entropy with label smoothing (PyTorch's definition), mean over the batch,
// and row-wise softmax. The loss is computed from a stable log-sum-exp.
#include "cnnzoo/ops/loss.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "parallel_for.hpp"

namespace cnnzoo {

namespace {

// Writes softmax(z) of one row of k logits to p and returns log(sum(exp(z))), shifted by
// the row maximum so exp never overflows.
template <class T>
T softmax_row(const T* z, T* p, int64_t k) {
  const T m = *std::max_element(z, z + k);
  double total = 0;
  for (int64_t j = 0; j < k; ++j) {
    p[j] = std::exp(z[j] - m);
    total += p[j];
  }
  const T inv = static_cast<T>(1.0 / total);
  for (int64_t j = 0; j < k; ++j) p[j] *= inv;
  return m + static_cast<T>(std::log(total));
}

// Rows per thread below which the row loop stays serial.
int64_t row_grain(int64_t k) {
  return std::max<int64_t>(1, 8192 / std::max<int64_t>(k, 1));
}

}  // namespace

template <class T>
VarT<T> cross_entropy(const VarT<T>& logits, const std::vector<int64_t>& labels,
                      double label_smoothing) {
  check(logits.defined(), "cross_entropy: undefined logits");
  check(logits.dim() == 2,
        "cross_entropy: logits must be [N, K], got " + logits.value().shape_str());
  const int64_t batch = logits.size(0), classes = logits.size(1);
  check(batch > 0 && classes > 0, "cross_entropy: empty logits " + logits.value().shape_str());
  check(static_cast<int64_t>(labels.size()) == batch,
        "cross_entropy: " + std::to_string(labels.size()) + " labels for logits " +
            logits.value().shape_str());
  for (size_t i = 0; i < labels.size(); ++i)
    check(labels[i] >= 0 && labels[i] < classes,
          "cross_entropy: label " + std::to_string(labels[i]) + " at index " + std::to_string(i) +
              " out of range [0, " + std::to_string(classes) + ") for logits " +
              logits.value().shape_str());
  check(label_smoothing >= 0.0 && label_smoothing <= 1.0,
        "cross_entropy: label_smoothing must be in [0, 1], got " + std::to_string(label_smoothing));

  // Target t = (1 - eps) one_hot + eps / K, so per row
  // loss = -sum_k t_k log p_k = lse - (1 - eps) z_y - (eps / K) sum_k z_k.
  const double eps = label_smoothing;
  const double on = 1.0 - eps, off = eps / static_cast<double>(classes);
  TensorT<T> probs = TensorT<T>::empty({batch, classes});
  std::vector<double> row_loss(static_cast<size_t>(batch));
  {
    const T* z = logits.value().data();
    T* p = probs.data();
    parallel_for(
        batch,
        [&](int64_t i) {
          const T* zi = z + i * classes;
          const double lse = softmax_row(zi, p + i * classes, classes);
          double loss = lse - on * zi[labels[i]];
          if (off != 0) {
            double zsum = 0;
            for (int64_t j = 0; j < classes; ++j) zsum += zi[j];
            loss -= off * zsum;
          }
          row_loss[i] = loss;
        },
        row_grain(classes));
  }
  double total = 0;
  for (double l : row_loss) total += l;

  // dL/dz = (p - t) / N; the saved probabilities become the gradient in place.
  return make_result<T>(TensorT<T>::scalar(static_cast<T>(total / batch)), {logits},
                        "cross_entropy",
                        [probs, labels, batch, classes, on, off](Node<T>& n) mutable {
                          const T g = n.grad[0] / static_cast<T>(batch);
                          const T toff = static_cast<T>(off), ton = static_cast<T>(on);
                          T* p = probs.data();
                          parallel_for(
                              batch,
                              [&](int64_t i) {
                                T* pi = p + i * classes;
                                for (int64_t j = 0; j < classes; ++j) pi[j] = (pi[j] - toff) * g;
                                pi[labels[i]] -= ton * g;
                              },
                              row_grain(classes));
                          n.inputs[0]->accumulate(std::move(probs));
                        });
}

template <class T>
TensorT<T> softmax(const TensorT<T>& logits) {
  check(logits.defined() && logits.dim() == 2,
        "softmax: logits must be [N, K], got " +
            (logits.defined() ? logits.shape_str() : std::string("undefined")));
  const int64_t batch = logits.size(0), classes = logits.size(1);
  TensorT<T> p = TensorT<T>::empty(logits.shape());
  if (classes == 0) return p;
  const T* z = logits.data();
  T* out = p.data();
  parallel_for(
      batch, [&](int64_t i) { softmax_row(z + i * classes, out + i * classes, classes); },
      row_grain(classes));
  return p;
}

template <class T>
TensorT<T> log_mean_softmax(const std::vector<TensorT<T>>& logits) {
  check(!logits.empty(), "log_mean_softmax: no logits");
  TensorT<T> mean = softmax(logits[0]);
  for (size_t s = 1; s < logits.size(); ++s) {
    check(logits[s].defined() && logits[s].shape() == logits[0].shape(),
          "log_mean_softmax: logits " + std::to_string(s) + " are " +
              (logits[s].defined() ? logits[s].shape_str() : std::string("undefined")) +
              ", the first " + logits[0].shape_str());
    const TensorT<T> p = softmax(logits[s]);
    for (int64_t j = 0; j < p.numel(); ++j) mean[j] += p[j];
  }
  const T inv = T(1) / static_cast<T>(logits.size());
  for (auto& v : mean) v = std::log(std::max<T>(v * inv, T(1e-30)));
  return mean;
}

template VarT<float> cross_entropy(const VarT<float>&, const std::vector<int64_t>&, double);
template VarT<double> cross_entropy(const VarT<double>&, const std::vector<int64_t>&, double);
template TensorT<float> softmax(const TensorT<float>&);
template TensorT<double> softmax(const TensorT<double>&);
template TensorT<float> log_mean_softmax(const std::vector<TensorT<float>>&);
template TensorT<double> log_mean_softmax(const std::vector<TensorT<double>>&);

}  // namespace cnnzoo
