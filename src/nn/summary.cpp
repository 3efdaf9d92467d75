// Summary of a model from one profiled forward pass.
#include "cnnzoo/nn/summary.hpp"

#include <cstdio>
#include <map>

#include "cnnzoo/nn/profile.hpp"

namespace cnnzoo::nn {

ModelSummary summarize(Module& model, const Shape& input) {
  check(input.size() == 3, "summary: input must be C x H x W, got " + shape_str(input));
  ModelSummary s;
  s.params = model.num_parameters();
  s.input = input;
  std::map<const Module*, std::string> names;
  for (auto& [name, m] : model.named_modules()) names[m] = name;
  bool was_training = model.is_training();
  model.eval();
  NoGradGuard ng;
  ProfileScope scope;
  Var y;
  try {
    y = model.forward(Var(Tensor::zeros({1, input[0], input[1], input[2]})));
  } catch (...) {
    model.train(was_training);
    throw;
  }
  model.train(was_training);
  s.output = Shape(y.shape().begin() + 1, y.shape().end());
  for (const LayerRecord& r : scope.records()) {
    LayerSummary l;
    auto it = names.find(r.module);
    l.name = it == names.end() ? "?" : it->second;
    l.type = r.module->type_name();
    l.config = r.module->extra_repr();
    l.output = Shape(r.output.begin() + 1, r.output.end());
    for (const auto& p : r.module->named_parameters())
      if (p.second.requires_grad()) l.params += p.second.value().numel();
    l.macs = r.macs;
    s.macs += r.macs;
    s.layers.push_back(l);
  }
  return s;
}

std::string human_count(int64_t n) {
  char b[32];
  double v = static_cast<double>(n);
  if (v >= 1e9)
    std::snprintf(b, sizeof b, "%.2fG", v / 1e9);
  else if (v >= 1e6)
    std::snprintf(b, sizeof b, "%.2fM", v / 1e6);
  else if (v >= 1e3)
    std::snprintf(b, sizeof b, "%.1fK", v / 1e3);
  else
    std::snprintf(b, sizeof b, "%lld", static_cast<long long>(n));
  return b;
}

}  // namespace cnnzoo::nn
