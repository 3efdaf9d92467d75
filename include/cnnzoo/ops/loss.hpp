// Softmax cross-entropy with label smoothing, mean over the batch, PyTorch semantics:
// target = (1 - eps) * one_hot + eps / K.
#pragma once
#include <vector>

#include "cnnzoo/autograd.hpp"

namespace cnnzoo {

// logits [N, K]; labels has N entries in [0, K).
template <class T>
VarT<T> cross_entropy(const VarT<T>& logits, const std::vector<int64_t>& labels,
                      double label_smoothing = 0.0);

// Row-wise softmax of [N, K] (no graph).
template <class T>
TensorT<T> softmax(const TensorT<T>& logits);

}  // namespace cnnzoo
