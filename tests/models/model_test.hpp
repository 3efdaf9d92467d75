// What the tests of models/ share: building a registry model, deterministic inputs, one
// training step whose every parameter must receive a finite, non-zero gradient, finding a
// layer by its dotted name, and the paper tables: each tests/models/test_<paper>.cpp lists
// its models' rows (exact counts and how to run them), which test_zoo.cpp's ModelTable
// checks, and which must cover the registry exactly once.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cnnzoo/models.hpp"
#include "cnnzoo/models/stochastic_depth.hpp"
#include "cnnzoo/nn/init.hpp"
#include "cnnzoo/nn/module.hpp"
#include "cnnzoo/ops/arith.hpp"
#include "cnnzoo/ops/loss.hpp"
#include "cnnzoo/parallel.hpp"
#include "export/trace.hpp"

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

inline models::ModelSpec spec_of(const std::string& name,
                                 std::map<std::string, std::string> options = {},
                                 int64_t classes = -1) {
  models::ModelSpec s;
  s.name = name;
  s.num_classes = classes;
  s.options = std::move(options);
  return s;
}

// Standard-normal inputs that record their gradient.
inline Var random_input(Shape shape, uint64_t seed = 7) {
  Generator g(seed);
  Tensor t = Tensor::empty(std::move(shape));
  nn::init::normal(t, 0.0, 1.0, g);
  return Var(t, true);
}

inline Tensor randn(const Shape& shape, Generator& g) {
  Tensor t = Tensor::empty(shape);
  for (auto& v : t) v = static_cast<float>(g.normal());
  return t;
}

inline std::vector<int64_t> labels_for(int64_t n, int64_t classes) {
  std::vector<int64_t> y;
  for (int64_t i = 0; i < n; ++i) y.push_back((3 * i + 1) % classes);
  return y;
}

// Binomial tolerance: `sigmas` standard deviations of a frequency over n trials.
inline double tol(double p, int64_t n, double sigmas = 4.5) {
  return sigmas * std::sqrt(std::max(p * (1 - p), 0.01) / static_cast<double>(n));
}

inline bool any_nonzero(const Tensor& t, int64_t begin, int64_t end) {
  for (int64_t i = begin; i < end; ++i)
    if (t[i] != 0.0f) return true;
  return false;
}

inline bool same(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) return false;
  for (int64_t i = 0; i < a.numel(); ++i)
    if (a[i] != b[i]) return false;
  return true;
}

// One training step on `input` (a batch of at least two); auxiliary logits, if any, join the
// loss with weight 0.3. Every parameter must get a defined, finite, not entirely zero gradient
// (unless `nonzero` is false: parameters that start on a zero path, such as the branches
// behind weighted residuals' lambda = 0).
inline void training_step(nn::Module& model, const std::string& what, const Tensor& input,
                          int64_t classes, size_t want_aux = 0, bool nonzero_gradients = true) {
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
    if (nonzero_gradients) EXPECT_TRUE(nonzero) << what << ": all-zero gradient in " << pname;
  }
}

// Runs a test on one thread (restored afterwards): tests that make thousands of passes over
// tiny tensors only pay synchronisation for a second thread.
struct OneThread {
  int saved = num_threads();
  OneThread() { set_num_threads(1); }
  ~OneThread() { set_num_threads(saved); }
};

inline void expect_equal(const Tensor& a, const Tensor& b, double tolerance,
                         const std::string& what) {
  ASSERT_EQ(a.shape(), b.shape()) << what;
  for (int64_t i = 0; i < a.numel(); ++i) ASSERT_NEAR(a[i], b[i], tolerance) << what << " at " << i;
}

// m's output for x, without a graph.
inline Tensor run(nn::Module& m, const Tensor& x) {
  NoGradGuard no_grad;
  return m.forward(Var(x)).value();
}

// ---- op traces: what a forward pass computed, in order ------------------------------------

struct Traced {
  trace::Recorder rec;
  Var input, output;
};

// One forward pass of `m` on x, every op recorded (eval mode unless `training`).
inline std::unique_ptr<Traced> trace_forward(nn::Module& m, const Tensor& x,
                                             bool training = false) {
  auto t = std::make_unique<Traced>();
  m.train(training);
  t->input = Var(x, false);
  NoGradGuard no_grad;
  trace::Scope scope(t->rec);
  t->output = m.forward(t->input);
  return t;
}

// The recorded op that produced `node`, or null (an input or a parameter).
inline const trace::Event* producer(const Traced& t, const std::shared_ptr<Node<real>>& node) {
  for (const auto& e : t.rec.events)
    if (e.output == node) return &e;
  return nullptr;
}

// ---- the paper tables -------------------------------------------------------------------

// One registered model: its exact parameter count (derived by hand in its models/ file) and
// how the table test runs it. Chainable: row("resnet20", 269722).paper(0.27e6, 0.02).
struct ModelCase {
  std::string name;
  int64_t params = 0;         // exact, at the registry's default class count
  double paper_count = 0;     // the paper's figure (parameters); 0: none
  double tolerance = 0;       // relative gap allowed from it (the model file explains any > 1%)
  int64_t classifier_in = 0;  // inputs of each class's row in the classifier; 0: not checked
  int64_t macs_count = 0;     // multiply-adds of one image at the default size; 0: not checked
  int64_t grid_side = 0;      // side of the last feature map at the default size; 0: not checked
  int64_t step_batch = 2, step_side = 0;       // the training step's batch and image side
  size_t aux = 0;                              // auxiliary classifiers in training
  std::map<std::string, std::string> options;  // for the step: regularisers that take
                                               // parameters off the graph, switched off
  bool nonzero_gradients = true;

  ModelCase& paper(double count, double relative) {
    paper_count = count;
    tolerance = relative;
    return *this;
  }
  // With K classes the model has params + (K - default) * (classifier_in + 1) parameters.
  ModelCase& classifier(int64_t in) {
    classifier_in = in;
    return *this;
  }
  ModelCase& macs(int64_t m) {
    macs_count = m;
    return *this;
  }
  ModelCase& grid(int64_t side) {
    grid_side = side;
    return *this;
  }
  ModelCase& step(int64_t batch, int64_t side) {
    step_batch = batch;
    step_side = side;
    return *this;
  }
  ModelCase& auxiliary(size_t n) {
    aux = n;
    return *this;
  }
  ModelCase& with(std::string key, std::string value) {
    options[std::move(key)] = std::move(value);
    return *this;
  }
  ModelCase& zero_gradients_allowed() {
    nonzero_gradients = false;
    return *this;
  }
};

inline void PrintTo(const ModelCase& c, std::ostream* os) {
  *os << c.name;
}

inline ModelCase row(std::string name, int64_t params) {
  ModelCase c;
  c.name = std::move(name);
  c.params = params;
  return c;
}

// name -> the models/ file whose test file listed it (test_zoo.cpp checks the registry
// against it).
inline std::map<std::string, std::vector<std::string>>& table_rows() {
  static std::map<std::string, std::vector<std::string>> rows;
  return rows;
}

// The rows of one models/ file (`family`, e.g. "resnet_cifar"), recorded for the check.
inline std::vector<ModelCase> paper_table(const std::string& family, std::vector<ModelCase> rows) {
  for (const auto& r : rows) table_rows()[r.name].push_back(family);
  return rows;
}

class ModelTable : public ::testing::TestWithParam<ModelCase> {};

inline std::string case_name(const ::testing::TestParamInfo<ModelCase>& info) {
  return test_name(info.param.name);
}

}  // namespace cnnzoo::testing

// Instantiates the table test over one models/ file's rows, named after the file.
#define CNNZOO_PAPER_TABLE(family, ...)                                                            \
  INSTANTIATE_TEST_SUITE_P(                                                                        \
      family, ModelTable, ::testing::ValuesIn(cnnzoo::testing::paper_table(#family, __VA_ARGS__)), \
      cnnzoo::testing::case_name)
