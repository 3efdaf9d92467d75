// What the tests of models/ share: building a registry model, deterministic inputs, one
// training step whose every parameter must receive a finite, non-zero gradient, and finding
// a layer by its dotted name.
#pragma once
#include <gtest/gtest.h>

#include <cctype>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "cnnzoo/models.hpp"
#include "cnnzoo/nn/module.hpp"
#include "cnnzoo/ops/arith.hpp"
#include "cnnzoo/ops/loss.hpp"
#include "cnnzoo/parallel.hpp"

namespace cnnzoo::testing {

inline nn::ModulePtr build(const std::string& name, int64_t classes = -1,
                           std::map<std::string, std::string> options = {}) {
  models::ModelSpec spec;
  spec.name = name;
  spec.num_classes = classes;
  spec.options = std::move(options);
  return models::build_model(spec);
}

// The registry's model names, all or those of one dataset ("cifar", "imagenet").
inline std::vector<std::string> registry_names(const std::string& dataset = "") {
  std::vector<std::string> names;
  for (const auto& m : models::registry())
    if (dataset.empty() || m.dataset == dataset) names.push_back(m.name);
  return names;
}

// A model name as a GoogleTest parameter name ("se-preact-resnet164" -> "se_preact_resnet164").
inline std::string test_name(const std::string& model) {
  std::string n = model;
  for (char& ch : n)
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return n;
}

// Deterministic inputs in [-1, 1), different per seed.
inline Tensor input_tensor(const Shape& shape, uint32_t seed = 1) {
  Tensor x = Tensor::empty(shape);
  uint32_t s = seed * 2654435761u + 1;
  for (int64_t i = 0; i < x.numel(); ++i) {
    s = s * 1664525u + 1013904223u;
    x[i] = static_cast<float>((s >> 8) / 8388608.0 - 1.0);
  }
  return x;
}

inline bool all_finite(const Tensor& t) {
  for (float v : t)
    if (!std::isfinite(v)) return false;
  return true;
}

// The module at a dotted path ("layer1.0.conv1"); fails the test when there is none.
inline nn::Module& module_at(nn::Module& root, const std::string& path) {
  for (auto& [name, m] : root.named_modules())
    if (name == path) return *m;
  ADD_FAILURE() << "no module '" << path << "'";
  return root;
}

// One training step on `input` (a batch of at least two); auxiliary logits, if any, join the
// loss with weight 0.3. Every parameter must get a defined, finite, not entirely zero gradient.
inline void training_step(nn::Module& model, const std::string& what, const Tensor& input,
                          int64_t classes, size_t want_aux = 0) {
  model.train();
  model.zero_grad();
  Var logits = model.forward(Var(input, false));
  const int64_t n = input.size(0);
  ASSERT_EQ(logits.shape(), (Shape{n, classes})) << what;
  std::vector<int64_t> labels;
  for (int64_t i = 0; i < n; ++i) labels.push_back((3 + 4 * i) % classes);
  Var loss = cross_entropy(logits, labels);
  auto aux = model.take_auxiliary_logits();
  ASSERT_EQ(aux.size(), want_aux) << what;
  for (const Var& a : aux) {
    EXPECT_EQ(a.shape(), (Shape{n, classes})) << what;
    loss = add(loss, scale(cross_entropy(a, labels), 0.3));
  }
  ASSERT_TRUE(std::isfinite(loss.value().item())) << what;
  backward(loss);
  for (auto& [pname, p] : model.named_parameters()) {
    ASSERT_TRUE(p.grad().defined()) << what << ": no gradient for " << pname;
    bool nonzero = false;
    for (float g : p.grad()) nonzero = nonzero || g != 0.0f;
    EXPECT_TRUE(all_finite(p.grad())) << what << ": non-finite gradient in " << pname;
    EXPECT_TRUE(nonzero) << what << ": all-zero gradient in " << pname;
  }
}

// Runs a test on one thread (restored afterwards): tests that make thousands of passes over
// tiny tensors only pay synchronisation for a second thread.
struct OneThread {
  int saved = num_threads();
  OneThread() { set_num_threads(1); }
  ~OneThread() { set_num_threads(saved); }
};

}  // namespace cnnzoo::testing
