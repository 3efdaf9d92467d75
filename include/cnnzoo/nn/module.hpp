// nn::Module: parameters, buffers and children registered by name, with PyTorch's dotted
// naming (`layer1.0.conv1.weight`, `bn1.running_mean`) for state dicts.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cnnzoo/autograd.hpp"

namespace cnnzoo::nn {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

class Module {
 public:
  virtual ~Module() = default;
  Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  virtual Var forward(const Var& x) = 0;
  Var operator()(const Var& x) { return forward(x); }
  // Short type name shown by `summary --layers` (e.g. "Conv2d").
  virtual std::string type_name() const { return "Module"; }
  // One-line description of the configuration (e.g. "16, 32, kernel_size=3, stride=2").
  virtual std::string extra_repr() const { return ""; }

  // Models with auxiliary classifiers (GoogLeNet, Inception v3): after a training-mode
  // forward, returns the auxiliary logits of that forward, in the model's order, and forgets
  // them. How much each one weighs in a loss is the training recipe's business, not the
  // model's. Nothing is stored in eval mode, so inference stays safe from several threads.
  virtual std::vector<Var> take_auxiliary_logits() { return {}; }

  // A parameter that must stay inside [lo, hi] (weighted residuals' lambda in [-1, 1]) is
  // declared with constrain_parameter; apply_constraints() projects every declared parameter
  // of this tree back onto its interval. An optimizer loop calls it after each step.
  void apply_constraints();

  // Training mode switches batch statistics, dropout and stochastic structure; applies
  // recursively like PyTorch's train()/eval().
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  // Inference on fixed weights: eval(), and the promise that the weights stay as they are
  // until train() or load_state_dict(), which end it. Layers may then keep what they derive
  // from the weights (a conv's weights with the following batch norm folded in) instead of
  // deriving it on every call. Whoever writes weights by hand after this calls it again.
  void prepare_for_inference();
  bool prepared_for_inference() const { return prepared_; }

  std::vector<std::pair<std::string, Var>> named_parameters() const;
  std::vector<Var> parameters() const;
  std::vector<std::pair<std::string, Tensor>> named_buffers() const;
  // Parameters then buffers of each module, in registration order, with dotted names.
  NamedTensors state_dict() const;
  // Copies values into the registered tensors. With strict, missing or unexpected keys are
  // an Error; a shape mismatch is always an Error naming the key and both shapes.
  void load_state_dict(const NamedTensors& state, bool strict = true);

  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& named_children() const {
    return children_;
  }
  // This module (name "") and every descendant, depth first, with dotted names.
  std::vector<std::pair<std::string, Module*>> named_modules() const;
  int64_t num_parameters() const;  // trainable parameter elements (buffers excluded)
  void zero_grad();

  // Visits every module (this first) — e.g. to apply initialisation by type.
  void apply(const std::function<void(Module&)>& fn);

 protected:
  Var register_parameter(const std::string& name, Tensor value, bool requires_grad = true);
  Tensor register_buffer(const std::string& name, Tensor value);
  void constrain_parameter(const std::string& name, double lo, double hi);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    add_child(name, m);
    return m;
  }
  // Hook for modules that cache state depending on the mode.
  virtual void on_train(bool) {}
  // Hook for modules that keep what they derive from the weights: drop it (the weights may
  // have changed). Called by train(), load_state_dict() and prepare_for_inference().
  virtual void on_weights_may_change() {}

 private:
  void add_child(const std::string& name, std::shared_ptr<Module> m);
  void check_new_name(const std::string& name) const;
  void collect_modules(const std::string& prefix,
                       std::vector<std::pair<std::string, Module*>>& out) const;

  void set_prepared(bool on);

  bool training_ = true;
  bool prepared_ = false;
  std::vector<std::pair<std::string, Var>> params_;
  std::vector<std::pair<std::string, Tensor>> buffers_;
  struct Bounds {
    std::string parameter;
    double lo, hi;
  };
  std::vector<Bounds> bounds_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
};

using ModulePtr = std::shared_ptr<Module>;

// Runs children in order; children are named "0", "1", ... as in PyTorch unless named.
class Sequential : public Module {
 public:
  Sequential() = default;
  explicit Sequential(std::vector<ModulePtr> modules);
  void push_back(ModulePtr m);
  void push_back(const std::string& name, ModulePtr m);
  size_t size() const { return named_children().size(); }
  Module& operator[](size_t i) const { return *named_children()[i].second; }
  Var forward(const Var& x) override;
  std::string type_name() const override { return "Sequential"; }
};

}  // namespace cnnzoo::nn
