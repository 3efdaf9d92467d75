// Test helper: compares autograd gradients with central finite differences in double.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <sstream>
#include <vector>

#include "cnnzoo/autograd.hpp"
#include "cnnzoo/random.hpp"

namespace cnnzoo::testing {

inline TensorD random_tensor(const Shape& shape, Generator& g, double lo = -1.0, double hi = 1.0) {
  TensorD t = TensorD::empty(shape);
  for (auto& v : t) v = g.uniform(lo, hi);
  return t;
}

using GradFn = std::function<VarD(const std::vector<VarD>&)>;

// Checks d(sum(f(x) * r))/dx for every input x against central differences, where r is a
// fixed random tensor (so every output element matters with a different weight).
// `wrt[i] == false` excludes input i (e.g. integer-like or non-differentiable inputs).
inline ::testing::AssertionResult gradcheck(const GradFn& f, const std::vector<TensorD>& inputs,
                                            double eps = 1e-6, double atol = 1e-6,
                                            double rtol = 1e-5, std::vector<bool> wrt = {}) {
  if (wrt.empty()) wrt.assign(inputs.size(), true);
  std::vector<VarD> vars;
  for (size_t i = 0; i < inputs.size(); ++i) vars.emplace_back(inputs[i].clone(), wrt[i]);
  VarD out = f(vars);
  Generator g(1234);
  TensorD r = random_tensor(out.shape(), g);
  if (!out.requires_grad()) return ::testing::AssertionFailure() << "output does not require grad";
  backward(out, r);
  auto objective = [&](const std::vector<TensorD>& xs) {
    std::vector<VarD> vs;
    for (const auto& x : xs) vs.emplace_back(x, false);
    VarD o = f(vs);
    double s = 0;
    for (int64_t k = 0; k < o.value().numel(); ++k) s += o.value()[k] * r[k];
    return s;
  };
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!wrt[i]) continue;
    const TensorD& analytic = vars[i].grad();
    if (!analytic.defined())
      return ::testing::AssertionFailure() << "input " << i << " received no gradient";
    std::vector<TensorD> xs;
    for (const auto& x : inputs) xs.push_back(x.clone());
    for (int64_t k = 0; k < inputs[i].numel(); ++k) {
      double orig = xs[i][k];
      xs[i][k] = orig + eps;
      double fp = objective(xs);
      xs[i][k] = orig - eps;
      double fm = objective(xs);
      xs[i][k] = orig;
      double numeric = (fp - fm) / (2 * eps);
      double a = analytic[k];
      if (std::abs(a - numeric) > atol + rtol * std::abs(numeric)) {
        return ::testing::AssertionFailure()
               << "input " << i << " element " << k << ": analytic " << a << " vs numeric "
               << numeric << " (shape " << inputs[i].shape_str() << ")";
      }
    }
  }
  return ::testing::AssertionSuccess();
}

}  // namespace cnnzoo::testing
