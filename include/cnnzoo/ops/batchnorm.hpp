// Batch normalisation over the channel axis of [N, C] or [N, C, H, W], with PyTorch's
// semantics: training uses batch statistics and updates the running estimates in place
// (unbiased variance, running = (1 - momentum) * running + momentum * batch); evaluation
// uses the running estimates.
#pragma once
#include "cnnzoo/autograd.hpp"

namespace cnnzoo {

namespace dist {
class Communicator;
}

// weight/bias (gamma/beta, shape [C]) may be undefined (affine = false). running_mean and
// running_var (shape [C]) may be undefined in training (not tracked); eval requires them.
template <class T>
VarT<T> batch_norm(const VarT<T>& x, const VarT<T>& weight, const VarT<T>& bias,
                   TensorT<T> running_mean, TensorT<T> running_var, bool training,
                   double momentum = 0.1, double eps = 1e-5);

// relu(batch_norm(...)) in one pass forward and one backward, without the ReLU's tensor.
template <class T>
VarT<T> batch_norm_relu(const VarT<T>& x, const VarT<T>& weight, const VarT<T>& bias,
                        TensorT<T> running_mean, TensorT<T> running_var, bool training,
                        double momentum = 0.1, double eps = 1e-5);

// batch_norm in training mode (fused with a ReLU when `relu`) over the batch of every process
// of `group` (SyncBatchNorm): the per-channel sums are all-reduced in the forward pass, and the
// sums the input gradient needs in the backward pass; the weight and bias gradients are this
// process's share (a data-parallel step sums them over the group). Every process must call it
// at the same point; their running statistics move by the same amounts.
template <class T>
VarT<T> sync_batch_norm(const VarT<T>& x, const VarT<T>& weight, const VarT<T>& bias,
                        TensorT<T> running_mean, TensorT<T> running_var, dist::Communicator& group,
                        double momentum = 0.1, double eps = 1e-5, bool relu = false);

// Local response normalisation across channels (AlexNet), PyTorch semantics:
// y_c = x_c / (k + alpha / size * sum_{c' in window(c)} x_c'^2)^beta, window of `size`
// channels centred on c (size/2 before, (size-1)/2 after), zero outside.
template <class T>
VarT<T> local_response_norm(const VarT<T>& x, int64_t size, double alpha = 1e-4, double beta = 0.75,
                            double k = 1.0);

}  // namespace cnnzoo
