// Stochastic masks: inverted dropout, and swapout's two independent masks.
#pragma once
#include "cnnzoo/autograd.hpp"
#include "cnnzoo/random.hpp"

namespace cnnzoo {

// Inverted dropout: in training, zero each element with probability p and scale the rest
// by 1 / (1 - p); identity in evaluation.
template <class T>
VarT<T> dropout(const VarT<T>& x, double p, bool training, Generator& gen);

// Swapout (Singh et al. 2016): in training y = M1 * x + M2 * f with M1, M2 independent 0/1
// masks, each element kept with probability theta1 (M1, drawn first) and theta2 (M2); in
// evaluation the expectation theta1 * x + theta2 * f (deterministic inference).
template <class T>
VarT<T> swapout(const VarT<T>& x, const VarT<T>& f, double theta1, double theta2, bool training,
                Generator& gen);

}  // namespace cnnzoo
