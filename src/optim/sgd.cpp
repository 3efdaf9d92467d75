// SGD step and state.
#include "cnnzoo/optim/sgd.hpp"

#include <map>

#include "parallel_for.hpp"

namespace cnnzoo::optim {

SGD::SGD(std::vector<std::pair<std::string, Var>> named_params, const SGDOptions& options)
    : options_(options) {
  check(options.lr >= 0 && options.momentum >= 0 && options.weight_decay >= 0,
        "SGD: lr, momentum and weight_decay must be non-negative");
  check(!options.nesterov || (options.momentum > 0 && options.dampening == 0),
        "SGD: Nesterov momentum requires momentum > 0 and zero dampening");
  for (auto& [name, p] : named_params) {
    if (!p.requires_grad()) continue;
    bool decay = options.decay_bn_and_bias || p.value().dim() >= 2;
    slots_.push_back({name, p, Tensor(), decay});
  }
}

void SGD::step() {
  const float lr = static_cast<float>(options_.lr);
  const float m = static_cast<float>(options_.momentum);
  const float damp = 1.0f - static_cast<float>(options_.dampening);
  for (Slot& s : slots_) {
    const Tensor& g = s.param.grad();
    if (!g.defined()) continue;
    Tensor& w = s.param.value();
    const float wd = s.decay ? static_cast<float>(options_.weight_decay) : 0.0f;
    const bool first = !s.momentum_buffer.defined();
    if (m != 0.0f && first) s.momentum_buffer = Tensor::empty(w.shape());
    float* pw = w.data();
    const float* pg = g.data();
    float* pb = s.momentum_buffer.defined() ? s.momentum_buffer.data() : nullptr;
    const bool nesterov = options_.nesterov;
    parallel_chunks(
        w.numel(),
        [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) {
            float d = pg[i] + wd * pw[i];
            if (pb) {
              pb[i] = first ? d : m * pb[i] + damp * d;
              d = nesterov ? d + m * pb[i] : pb[i];
            }
            pw[i] -= lr * d;
          }
        },
        1 << 16);
  }
}

void SGD::zero_grad() {
  for (Slot& s : slots_) s.param.zero_grad();
}

std::vector<std::pair<std::string, Tensor>> SGD::state_dict() const {
  std::vector<std::pair<std::string, Tensor>> out;
  for (const Slot& s : slots_)
    if (s.momentum_buffer.defined())
      out.emplace_back(s.name + ".momentum_buffer", s.momentum_buffer);
  return out;
}

void SGD::load_state_dict(const std::vector<std::pair<std::string, Tensor>>& state) {
  std::map<std::string, Slot*> by_name;
  for (Slot& s : slots_) by_name[s.name + ".momentum_buffer"] = &s;
  for (const auto& [name, t] : state) {
    auto it = by_name.find(name);
    check(it != by_name.end(), "SGD: unexpected optimizer state '" + name + "'");
    check(t.shape() == it->second->param.shape(), "SGD: state '" + name + "' has shape " +
                                                      t.shape_str() + ", parameter has " +
                                                      shape_str(it->second->param.shape()));
  }
  for (const auto& [name, t] : state) by_name[name]->momentum_buffer = t.clone();
}

}  // namespace cnnzoo::optim
