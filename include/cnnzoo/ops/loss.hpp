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

// The log of the mean of the softmax of several [N, K] logits of the same shape (no graph):
// the log-probabilities of an averaged prediction (stochastic inference, an ensemble).
// Probabilities below 1e-30 are taken as 1e-30, so that the result stays finite.
template <class T>
TensorT<T> log_mean_softmax(const std::vector<TensorT<T>>& logits);

}  // namespace cnnzoo
