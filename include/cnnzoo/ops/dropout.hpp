// Inverted dropout: in training, zero each element with probability p and scale the rest
// by 1 / (1 - p); identity in evaluation.
#pragma once
#include "cnnzoo/autograd.hpp"
#include "cnnzoo/random.hpp"

namespace cnnzoo {

template <class T>
VarT<T> dropout(const VarT<T>& x, double p, bool training, Generator& gen);

}  // namespace cnnzoo
