// Gradient checking for users' own ops, layers and models: the backward pass against central
// differences in double precision, with a report that names where the two disagree.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "cnnzoo/autograd.hpp"
#include "cnnzoo/nn/module.hpp"
#include "cnnzoo/random.hpp"

namespace cnnzoo::testing {

// How a check probes and when it passes. Every checked quantity q (one element's derivative,
// or the derivative along a random direction) passes when
//   |analytic - numeric| <= atol + rtol * |numeric|,
// numeric = (f(x + eps d) - f(x - eps d)) / (2 eps), f = sum(output * r) for a fixed random r.
struct GradcheckOptions {
  double eps_ = 1e-6, atol_ = 1e-6, rtol_ = 1e-5;
  int64_t max_elements_ = 256;  // per tensor: every element of a small one, an even spread of a
                                // big one (0: none, directions only)
  int64_t directions_ = 1;      // random directions per tensor, each moving every element at once
  uint64_t seed_ = 99;          // r and the directions; the global generator is reseeded with
                                // it before every forward, freezing dropout-like randomness
                                // (and put back as it was when the check returns)
  bool skip_kinks_ = true;      // see GradcheckReport::kinks
  std::vector<bool> wrt_;       // function checks: which inputs to check (empty: all)

  GradcheckOptions& eps(double v) { return eps_ = v, *this; }
  GradcheckOptions& atol(double v) { return atol_ = v, *this; }
  GradcheckOptions& rtol(double v) { return rtol_ = v, *this; }
  GradcheckOptions& max_elements(int64_t v) { return max_elements_ = v, *this; }
  GradcheckOptions& directions(int64_t v) { return directions_ = v, *this; }
  GradcheckOptions& seed(uint64_t v) { return seed_ = v, *this; }
  GradcheckOptions& skip_kinks(bool v) { return skip_kinks_ = v, *this; }
  GradcheckOptions& wrt(std::vector<bool> v) { return wrt_ = std::move(v), *this; }
};

// One checked quantity: `element` is the flat index into `tensor` (index its position in
// the tensor's shape), or -1 for a random direction over the whole tensor.
struct GradcheckEntry {
  std::string tensor;  // "input 0", "input", or a parameter's dotted name ("layer1.0.conv1.weight")
  int64_t element = -1;
  std::vector<int64_t> index;
  double analytic = 0, numeric = 0;
  double relative_error = 0;  // |analytic - numeric| / max(|numeric|, 1e-12)
  double badness = 0;         // |analytic - numeric| / (atol + rtol |numeric|): > 1 fails
};

struct GradcheckReport {
  bool passed = true;
  GradcheckEntry worst;  // the entry with the largest badness (the first failure's tensor)
  int64_t checked = 0;   // quantities compared
  int64_t tensors = 0;   // tensors checked
  // Quantities left out because f is not differentiable there: a ReLU kink or a max-pool tie
  // within eps of the point shows as one-sided differences (f(x+h)-f(x))/h and
  // (f(x)-f(x-h))/h that disagree by more than the tolerance. A direction that meets one is
  // drawn again (up to three times); an element is skipped. Always reported; never a pass by
  // itself when nothing else was checked.
  int64_t kinks = 0;

  explicit operator bool() const { return passed; }
  // One line: "gradcheck passed: N quantities over T tensors, worst ..." or "gradcheck
  // FAILED at <tensor> element <i> [index]: analytic a vs numeric n (relative error e)".
  std::string message() const;
};

// A function of double tensors (an op, a chain of ops, a user's op with its own backward).
using GradFunction = std::function<VarD(const std::vector<VarD>&)>;

// d sum(f(inputs) * r) / d input_i against central differences, for every input (or those
// options.wrt selects). Error (one line) when there are no inputs, the output is empty or
// does not depend on the checked inputs, or f throws.
GradcheckReport gradcheck(const GradFunction& f, const std::vector<TensorD>& inputs,
                          const GradcheckOptions& options = {});

// A module's backward with respect to its input and every trainable parameter, in the
// module's current mode (training or eval); its buffers (BatchNorm running statistics) are
// restored afterwards. Needs double-precision modules: link
// cnnzoo::cnnzoo_double, where real = double; with float modules this is an Error saying so.
// The forward is run with the global generator reseeded each time, so stochastic modules
// (dropout, stochastic depth, swapout, drop-path) see the same masks in every evaluation.
// An input the module cannot take is an Error naming the shape and the module's complaint.
GradcheckReport gradcheck(nn::Module& module, const TensorD& input,
                          const GradcheckOptions& options = {});

// Uniform random tensor in [lo, hi) from a seeded generator (reproducible inputs). Keep inputs
// away from a model's non-differentiable points by choosing them at random: ties of max
// pooling and exact zeros of ReLU then have probability zero, and skip_kinks handles a point
// that lands within eps of one.
TensorD random_tensor(const Shape& shape, uint64_t seed, double lo = -1.0, double hi = 1.0);
TensorD random_tensor(const Shape& shape, Generator& g, double lo = -1.0, double hi = 1.0);

}  // namespace cnnzoo::testing
