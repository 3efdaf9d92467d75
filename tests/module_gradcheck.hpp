// Test helper for the double-precision build (test_*_double.cpp): checks a whole module's
// backward pass (input and every parameter) against central differences.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "cnnzoo/nn/module.hpp"
#include "cnnzoo/random.hpp"

namespace cnnzoo::testing {

static_assert(std::is_same_v<real, double>, "module_gradcheck needs the double-precision build");

struct ModuleCheck {
  double eps = 1e-6, atol = 1e-6, rtol = 1e-5;
  int64_t max_elements = 48;  // per tensor: all of a small tensor, an even spread of a big one
  uint64_t seed = 99;         // the global generator is reseeded before every forward, so
                              // dropout-like modules draw the same masks each time
};

// d(sum(m(x) * r))/d(x and every parameter) by backward against (f(v + eps) - f(v - eps)) / 2eps,
// r a fixed random weight per output element. The failure names the tensor ("input" or the
// parameter's dotted name), the element, both values.
inline ::testing::AssertionResult module_gradcheck(nn::Module& m, const Tensor& input,
                                                   const ModuleCheck& c = {}) {
  Var x(input.clone(), true);
  manual_seed(c.seed);
  Var out = m.forward(x);
  Generator g(1234);
  Tensor r = Tensor::empty(out.shape());
  for (auto& v : r) v = g.uniform(-1.0, 1.0);
  m.zero_grad();
  backward(out, r);
  auto objective = [&]() {
    NoGradGuard no_grad;
    manual_seed(c.seed);
    Var o = m.forward(Var(x.value(), false));
    double s = 0;
    for (int64_t k = 0; k < o.value().numel(); ++k) s += o.value()[k] * r[k];
    return s;
  };
  std::vector<std::pair<std::string, Var>> tensors = {{"input", x}};
  for (auto& p : m.named_parameters()) tensors.push_back(p);
  for (auto& [name, v] : tensors) {
    const Tensor& analytic = v.grad();
    if (!analytic.defined()) return ::testing::AssertionFailure() << name << ": no gradient";
    Tensor& value = v.value();
    const int64_t n = value.numel(), count = std::min(n, c.max_elements);
    for (int64_t j = 0; j < count; ++j) {
      const int64_t k = n == count ? j : j * n / count;
      const double orig = value[k];
      value[k] = orig + c.eps;
      const double fp = objective();
      value[k] = orig - c.eps;
      const double fm = objective();
      value[k] = orig;
      const double numeric = (fp - fm) / (2 * c.eps), a = analytic[k];
      if (std::abs(a - numeric) > c.atol + c.rtol * std::abs(numeric))
        return ::testing::AssertionFailure()
               << name << " element " << k << ": analytic " << a << " vs numeric " << numeric
               << " (relative error " << std::abs(a - numeric) / std::max(1e-12, std::abs(numeric))
               << ")";
    }
  }
  return ::testing::AssertionSuccess();
}

}  // namespace cnnzoo::testing
