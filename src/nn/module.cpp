// Module registration, dotted names, state dicts and train/eval propagation.
#include "cnnzoo/nn/module.hpp"

#include <set>
#include <typeinfo>

#include "cnnzoo/nn/layers.hpp"
#include "cnnzoo/nn/profile.hpp"

namespace cnnzoo::nn {

void Module::check_new_name(const std::string& name) const {
  check(!name.empty() && name.find('.') == std::string::npos,
        "Module: invalid name '" + name + "' (empty or contains '.')");
  for (const auto& p : params_) check(p.first != name, "Module: duplicate name '" + name + "'");
  for (const auto& b : buffers_) check(b.first != name, "Module: duplicate name '" + name + "'");
  for (const auto& c : children_) check(c.first != name, "Module: duplicate name '" + name + "'");
}

Var Module::register_parameter(const std::string& name, Tensor value, bool requires_grad) {
  check_new_name(name);
  Var v(std::move(value), requires_grad);
  params_.emplace_back(name, v);
  return v;
}

Tensor Module::register_buffer(const std::string& name, Tensor value) {
  check_new_name(name);
  buffers_.emplace_back(name, value);
  return value;
}

void Module::constrain_parameter(const std::string& name, double lo, double hi) {
  check(lo <= hi, "Module: constraint on '" + name + "' has lo > hi");
  for (const auto& p : params_)
    if (p.first == name) {
      bounds_.push_back({name, lo, hi});
      return;
    }
  throw Error("Module: constrain_parameter: no parameter '" + name + "'");
}

void Module::apply_constraints() {
  for (auto& [path, m] : named_modules())
    for (const Bounds& b : m->bounds_)
      for (auto& p : m->params_)
        if (p.first == b.parameter)
          for (real& v : p.second.value())
            v = static_cast<real>(std::min(b.hi, std::max(b.lo, static_cast<double>(v))));
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> m) {
  check(static_cast<bool>(m), "Module: null child '" + name + "'");
  check_new_name(name);
  m->train(training_);
  children_.emplace_back(name, std::move(m));
}

void Module::train(bool on) {
  training_ = on;
  prepared_ = false;
  on_train(on);
  on_weights_may_change();
  for (auto& c : children_) c.second->train(on);
}

void Module::set_prepared(bool on) {
  prepared_ = on;
  on_weights_may_change();
  for (auto& c : children_) c.second->set_prepared(on);
}

void Module::prepare_for_inference() {
  eval();
  set_prepared(true);
}

void Module::collect_modules(const std::string& prefix,
                             std::vector<std::pair<std::string, Module*>>& out) const {
  out.emplace_back(prefix, const_cast<Module*>(this));
  for (const auto& c : children_)
    c.second->collect_modules(prefix.empty() ? c.first : prefix + "." + c.first, out);
}

std::vector<std::pair<std::string, Module*>> Module::named_modules() const {
  std::vector<std::pair<std::string, Module*>> out;
  collect_modules("", out);
  return out;
}

namespace {
std::string join(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}
}  // namespace

std::vector<std::pair<std::string, Var>> Module::named_parameters() const {
  std::vector<std::pair<std::string, Var>> out;
  std::set<const Node<real>*> seen;  // a parameter shared by two modules is listed once
  for (const auto& [prefix, m] : named_modules())
    for (const auto& p : m->params_)
      if (seen.insert(p.second.node().get()).second)
        out.emplace_back(join(prefix, p.first), p.second);
  return out;
}

std::vector<Var> Module::parameters() const {
  std::vector<Var> out;
  for (auto& p : named_parameters()) out.push_back(p.second);
  return out;
}

std::vector<std::pair<std::string, Tensor>> Module::named_buffers() const {
  std::vector<std::pair<std::string, Tensor>> out;
  for (const auto& [prefix, m] : named_modules())
    for (const auto& b : m->buffers_) out.emplace_back(join(prefix, b.first), b.second);
  return out;
}

NamedTensors Module::state_dict() const {
  // PyTorch order: each module's parameters then its buffers, modules depth first.
  NamedTensors out;
  for (const auto& [prefix, m] : named_modules()) {
    for (const auto& p : m->params_) out.emplace_back(join(prefix, p.first), p.second.value());
    for (const auto& b : m->buffers_) out.emplace_back(join(prefix, b.first), b.second);
  }
  return out;
}

void Module::load_state_dict(const NamedTensors& state, bool strict) {
  std::map<std::string, const Tensor*> given;
  for (const auto& kv : state) given[kv.first] = &kv.second;
  std::vector<std::string> missing;
  size_t used = 0;
  for (auto& [name, t] : state_dict()) {
    auto it = given.find(name);
    if (it == given.end()) {
      missing.push_back(name);
      continue;
    }
    ++used;
    check(it->second->shape() == t.shape(), "load_state_dict: shape mismatch for '" + name +
                                                "': model " + t.shape_str() + ", file " +
                                                it->second->shape_str());
  }
  if (strict) {
    check(missing.empty(), "load_state_dict: missing key '" +
                               (missing.empty() ? std::string() : missing.front()) + "' (" +
                               std::to_string(missing.size()) + " missing)");
    if (used != given.size()) {
      std::set<std::string> own;
      for (auto& kv : state_dict()) own.insert(kv.first);
      for (const auto& kv : state)
        check(own.count(kv.first), "load_state_dict: unexpected key '" + kv.first + "'");
    }
  }
  // Validate everything before writing anything, so a failed load leaves the model intact.
  set_prepared(false);
  for (auto& [name, t] : state_dict()) {
    auto it = given.find(name);
    if (it != given.end()) t.copy_from(*it->second);
  }
}

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (const auto& p : named_parameters())
    if (p.second.requires_grad()) n += p.second.value().numel();
  return n;
}

void Module::zero_grad() {
  for (auto& p : named_parameters()) p.second.zero_grad();
}

void Module::apply(const std::function<void(Module&)>& fn) {
  for (auto& [name, m] : named_modules()) fn(*m);
}

Sequential::Sequential(std::vector<ModulePtr> modules) {
  for (auto& m : modules) push_back(std::move(m));
}

void Sequential::push_back(ModulePtr m) {
  push_back(std::to_string(size()), std::move(m));
}

void Sequential::push_back(const std::string& name, ModulePtr m) {
  register_module(name, std::move(m));
}

Var Sequential::forward(const Var& x) {
  const auto& children = named_children();
  // Exact types only (a subclass may override forward) of the child at i, if there is one.
  auto is = [&](size_t i, const std::type_info& t) {
    return i < children.size() && typeid(*children[i].second) == t;
  };
  Var h = x;
  for (size_t i = 0; i < children.size(); ++i) {
    Module& m = *children[i].second;
    // Conv2d, BatchNorm (and ReLU) run as one fused step: conv_bn(_relu), bn.forward_relu.
    if (is(i, typeid(Conv2d)) && is(i + 1, typeid(BatchNorm))) {
      auto& conv = static_cast<Conv2d&>(m);
      auto& bn = static_cast<BatchNorm&>(*children[i + 1].second);
      h = is(i + 2, typeid(ReLU)) ? conv_bn_relu(conv, bn, h) : conv_bn(conv, bn, h);
      i += 1;
    } else if (is(i, typeid(BatchNorm)) && is(i + 1, typeid(ReLU))) {
      h = static_cast<BatchNorm&>(m).forward_relu(h);
    } else {
      h = m.forward(h);
      continue;
    }
    if (is(i + 1, typeid(ReLU))) {  // the ReLU ran fused: keep its profile record
      record_layer(*children[i + 1].second, h.shape(), h.shape(), 0);
      i += 1;
    }
  }
  return h;
}

}  // namespace cnnzoo::nn
