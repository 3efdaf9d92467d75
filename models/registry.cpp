// The model table: every paper's rows in one explicit list (static self-registration would be
// dropped by static linking), lookup with suggestions, and the spec's option parsing.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <sstream>

#include "cnnzoo/models.hpp"
#include "models/papers.hpp"

namespace cnnzoo::models {

std::string ModelSpec::get(const std::string& key, const std::string& def) const {
  auto it = options.find(key);
  return it == options.end() ? def : it->second;
}

double ModelSpec::get_double(const std::string& key, double def) const {
  auto it = options.find(key);
  if (it == options.end()) return def;
  char* end = nullptr;
  double v = std::strtod(it->second.c_str(), &end);
  check(!it->second.empty() && *end == '\0',
        name + ": option " + key + "=" + it->second + " is not a number");
  return v;
}

int64_t ModelSpec::scale_width(int64_t channels) const {
  double w = get_double("width_scale", 1.0);
  check(w > 0.0 && w <= 16.0, name + ": option width_scale must be in (0, 16]");
  return models::scale_width(channels, w);
}

int64_t scale_width(int64_t channels, double width_scale) {
  return std::max<int64_t>(1, std::llround(static_cast<double>(channels) * width_scale));
}

int64_t ModelSpec::get_int(const std::string& key, int64_t def) const {
  auto it = options.find(key);
  if (it == options.end()) return def;
  char* end = nullptr;
  long long v = std::strtoll(it->second.c_str(), &end, 10);
  check(!it->second.empty() && *end == '\0',
        name + ": option " + key + "=" + it->second + " is not an integer");
  return v;
}

bool ModelSpec::get_bool(const std::string& key, bool def) const {
  auto it = options.find(key);
  if (it == options.end()) return def;
  const std::string& v = it->second;
  if (v == "1" || v == "true" || v == "on" || v == "yes") return true;
  if (v == "0" || v == "false" || v == "off" || v == "no") return false;
  throw Error(name + ": option " + key + "=" + v + " is not a boolean");
}

namespace {

// Every paper's rows, in table order: the CIFAR residual family, the other CIFAR designs,
// then the classic and ImageNet designs (each with its CIFAR version where it has one).
std::vector<ModelInfo> make_table() {
  using Rows = std::vector<ModelInfo> (*)();
  const Rows papers[] = {
      resnet_cifar_models,
      preact_resnet_models,
      wide_resnet_models,
      stochastic_depth_models,
      weighted_resnet_models,
      ror_models,
      senet_cifar_models,
      densenet_cifar_models,
      pyramidnet_models,
      pyramidsepdrop_models,
      resnext_cifar_models,
      fractalnet_models,
      highway_models,
      swapout_models,
      rir_models,
      alexnet_models,
      vgg_models,
      googlenet_models,
      inception_v3_models,
      resnet_imagenet_models,
      squeezenet_models,
      densenet_imagenet_models,
      lenet_models,
      zfnet_models,
      bn_inception_models,
      inception_v4_models,
      xception_models,
      prelu_net_models,
      se_resnet_models,
      nin_models,
      vgg_cifar_models,
      squeezenet_cifar_models,
      nas_cifar_models,
  };
  std::vector<ModelInfo> table;
  for (Rows rows : papers)
    for (auto& m : rows()) table.push_back(std::move(m));
  return table;
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

}  // namespace

const std::vector<ModelInfo>& registry() {
  static const std::vector<ModelInfo> table = make_table();
  return table;
}

const ModelInfo& find_model(const std::string& name) {
  for (const auto& m : registry())
    if (m.name == name) return m;
  std::vector<std::pair<size_t, std::string>> near;
  for (const auto& m : registry()) near.emplace_back(edit_distance(name, m.name), m.name);
  std::sort(near.begin(), near.end());
  std::ostringstream msg;
  msg << "unknown model '" << name << "'";
  if (!near.empty()) {
    msg << " (did you mean";
    for (size_t i = 0; i < std::min<size_t>(3, near.size()); ++i)
      msg << (i ? ", " : " ") << near[i].second;
    msg << "? `cnnzoo list` shows all)";
  }
  throw Error(msg.str());
}

ModelSpec resolve_spec(ModelSpec spec) {
  const ModelInfo& info = find_model(spec.name);
  if (spec.num_classes < 0) spec.num_classes = info.num_classes;
  if (spec.in_channels < 0) spec.in_channels = info.in_channels;
  if (spec.input_size < 0) spec.input_size = info.input_size;
  check(spec.num_classes >= 1, spec.name + ": num_classes must be positive");
  check(spec.in_channels >= 1, spec.name + ": in_channels must be positive");
  for (const auto& kv : spec.options) {
    bool known = false;
    std::string keys;
    for (const auto& o : info.options) {
      known = known || o.key == kv.first;
      keys += (keys.empty() ? "" : ", ") + o.key;
    }
    if (!known)
      throw Error(spec.name + ": unknown option '" + kv.first +
                  "' (accepted: " + (keys.empty() ? std::string("none") : keys) + ")");
  }
  if (info.check_options) info.check_options(spec);
  return spec;
}

nn::ModulePtr build_model(ModelSpec spec) {
  spec = resolve_spec(std::move(spec));
  return find_model(spec.name).build(spec);
}

nn::ModulePtr build_model(const std::string& name, int64_t num_classes) {
  ModelSpec s;
  s.name = name;
  s.num_classes = num_classes;
  return build_model(s);
}

}  // namespace cnnzoo::models
