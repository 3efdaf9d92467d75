// Shape ops: concat, slice, zero channel padding, spatial zero padding, flatten, reshape.
#pragma once
#include <vector>

#include "cnnzoo/autograd.hpp"
#include "cnnzoo/ops/geometry.hpp"

namespace cnnzoo {

// Concatenate along dim (default: channels). All other dimensions must match.
template <class T>
VarT<T> concat(const std::vector<VarT<T>>& xs, int64_t dim = 1);
// Elements [start, end) along dim.
template <class T>
VarT<T> slice(const VarT<T>& x, int64_t dim, int64_t start, int64_t end);
// Adds `before` and `after` zero channels (dim 1): ResNet option A, PyramidNet shortcuts.
template <class T>
VarT<T> pad_channels(const VarT<T>& x, int64_t before, int64_t after);
// Zero padding of H and W of [N, C, H, W].
template <class T>
VarT<T> pad2d(const VarT<T>& x, const Padding2d& padding);
// Collapses dims start_dim.. into one: [N, C, H, W] -> [N, C*H*W] for start_dim = 1.
template <class T>
VarT<T> flatten(const VarT<T>& x, int64_t start_dim = 1);
template <class T>
VarT<T> reshape(const VarT<T>& x, const Shape& shape);

}  // namespace cnnzoo
