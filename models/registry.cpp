// The model table: every name the zoo knows, one explicit list (static self-registration
// would be dropped by static linking).
#include <algorithm>
#include <cstdlib>
#include <sstream>

#include "cnnzoo/models.hpp"

// ---- includes: residual family, part A ----
// ---- includes: residual family, part B ----
// ---- includes: ImageNet designs (torchvision) ----
#include "models/alexnet.hpp"
#include "models/densenet_imagenet.hpp"
#include "models/googlenet.hpp"
#include "models/inception_v3.hpp"
#include "models/resnet_imagenet.hpp"
#include "models/squeezenet.hpp"
#include "models/vgg.hpp"
// ---- includes: classic, Inception family and CIFAR versions ----
#include "models/lenet.hpp"
// CIFAR versions of the classic designs (alexnet, vgg, googlenet, inception_v3, squeezenet
// headers are included above)
#include "models/nas_cifar.hpp"
#include "models/nin.hpp"

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

std::vector<ModelInfo> make_table() {
  std::vector<ModelInfo> t;
  // ---- rows: residual family, part A ----
  // ---- rows: residual family, part B ----
  // ---- rows: ImageNet designs (torchvision) ----
  {
    // Names, module structure and state-dict keys are torchvision's (each models/ file says
    // where torchvision departs from its paper). 1000 classes, 3 channels.
    auto tv = [&t](const char* name, const char* paper, const char* authors, int year,
                   const char* arxiv, const char* family, int64_t size,
                   std::vector<std::string> keys, Builder b) {
      t.push_back({name, paper, authors, year, arxiv, family, "imagenet", 1000, 3, size, "",
                   std::move(keys), std::move(b)});
    };
    tv("alexnet", "One weird trick for parallelizing convolutional neural networks", "Krizhevsky",
       2014, "1404.5997", "alexnet", 224, {"drop_rate"}, imagenet::alexnet);
    for (const char* n :
         {"vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn"})
      tv(n, "Very Deep Convolutional Networks for Large-Scale Image Recognition",
         "Simonyan and Zisserman", 2014, "1409.1556", "vgg", 224, {"drop_rate"}, imagenet::vgg);
    tv("googlenet", "Going Deeper with Convolutions", "Szegedy et al.", 2014, "1409.4842",
       "googlenet", 224, {"aux_logits", "drop_rate", "aux_drop_rate"}, imagenet::googlenet);
    tv("inception_v3", "Rethinking the Inception Architecture for Computer Vision",
       "Szegedy et al.", 2015, "1512.00567", "inception_v3", 299, {"aux_logits", "drop_rate"},
       imagenet::inception_v3);
    for (const char* n : {"resnet18", "resnet34", "resnet50", "resnet101", "resnet152"})
      tv(n, "Deep Residual Learning for Image Recognition", "He et al.", 2015, "1512.03385",
         "resnet_imagenet", 224, {"zero_init_residual"}, imagenet::resnet);
    tv("wide_resnet50_2", "Wide Residual Networks", "Zagoruyko and Komodakis", 2016, "1605.07146",
       "resnet_imagenet", 224, {"zero_init_residual"}, imagenet::resnet);
    for (const char* n : {"resnext50_32x4d", "resnext101_32x8d"})
      tv(n, "Aggregated Residual Transformations for Deep Neural Networks", "Xie et al.", 2016,
         "1611.05431", "resnet_imagenet", 224, {"zero_init_residual"}, imagenet::resnet);
    for (const char* n : {"squeezenet1_0", "squeezenet1_1"})
      tv(n, "SqueezeNet: AlexNet-level accuracy with 50x fewer parameters and <0.5MB model size",
         "Iandola et al.", 2016, "1602.07360", "squeezenet", 224, {"drop_rate"},
         imagenet::squeezenet);
    for (const char* n : {"densenet121", "densenet161", "densenet169", "densenet201"})
      tv(n, "Densely Connected Convolutional Networks", "Huang et al.", 2016, "1608.06993",
         "densenet_imagenet", 224, {"drop_rate"}, imagenet::densenet);
  }
  // ---- rows: classic, Inception family and CIFAR versions ----
  t.push_back({"lenet5", "Gradient-Based Learning Applied to Document Recognition",
               "LeCun et al.", 1998, "", "lenet", "cifar", 10, 1, 32, "",
               {"activation", "pool"}, lenet5});
  {
    // CIFAR versions of the classic designs: 32x32x3, 10 classes by default; each models/
    // file says what it adapted from the paper's ImageNet design and why.
    auto cifar = [&t](const char* name, const char* paper, const char* authors, int year,
                      const char* arxiv, const char* family, const char* error,
                      std::vector<std::string> keys, Builder b) {
      t.push_back({name, paper, authors, year, arxiv, family, "cifar", 10, 3, 32, error,
                   std::move(keys), std::move(b)});
    };
    cifar("alexnet-cifar", "ImageNet Classification with Deep Convolutional Neural Networks",
          "Krizhevsky et al.", 2012, "", "alexnet", "", {"drop_rate", "groups", "batch_norm"},
          alexnet_cifar);
    for (const char* n : {"nin", "nin-bn"})
      cifar(n, "Network In Network", "Lin et al.", 2013, "1312.4400", "nin",
            std::string(n) == "nin" ? "8.81" : "", {"drop_rate"}, nin);
    for (const char* n : {"vgg11-cifar", "vgg16-cifar", "vgg19-cifar"})
      cifar(n, "Very Deep Convolutional Networks for Large-Scale Image Recognition",
            "Simonyan and Zisserman", 2014, "1409.1556", "vgg", "", {}, vgg_cifar);
    cifar("googlenet-cifar", "Going Deeper with Convolutions", "Szegedy et al.", 2014, "1409.4842",
          "googlenet", "", {"aux_logits", "drop_rate", "aux_drop_rate"}, googlenet_cifar);
    cifar("inception-v3-cifar", "Rethinking the Inception Architecture for Computer Vision",
          "Szegedy et al.", 2015, "1512.00567", "inception_v3", "", {"drop_rate"},
          inception_v3_cifar);
    cifar("squeezenet-cifar",
          "SqueezeNet: AlexNet-level accuracy with 50x fewer parameters and <0.5MB model size",
          "Iandola et al.", 2016, "1602.07360", "squeezenet", "", {"drop_rate"}, squeezenet_cifar);
    cifar("nas-cifar", "Neural Architecture Search with Reinforcement Learning", "Zoph and Le",
          2016, "1611.01578", "nas_cifar", "5.50", {}, nas_cifar);
  }
  return t;
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
    if (std::find(info.option_keys.begin(), info.option_keys.end(), kv.first) ==
        info.option_keys.end()) {
      std::string keys;
      for (const auto& k : info.option_keys) keys += (keys.empty() ? "" : ", ") + k;
      throw Error(spec.name + ": unknown option '" + kv.first +
                  "' (accepted: " + (keys.empty() ? std::string("none") : keys) + ")");
    }
  }
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
