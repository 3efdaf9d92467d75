// The model table: every name the zoo knows, one explicit list (static self-registration
// would be dropped by static linking).
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <sstream>

#include "cnnzoo/models.hpp"
#include "models/papers.hpp"

// ---- includes: residual family, part A ----
#include <tuple>

#include "cnnzoo/models/preact_resnet.hpp"
#include "cnnzoo/models/resnet_cifar.hpp"
#include "cnnzoo/models/ror.hpp"
#include "cnnzoo/models/senet_cifar.hpp"
#include "cnnzoo/models/stochastic_depth.hpp"
#include "cnnzoo/models/weighted_resnet.hpp"
#include "cnnzoo/models/wide_resnet.hpp"
// ---- includes: residual family, part B ----
#include <tuple>

#include "cnnzoo/models/densenet_cifar.hpp"
#include "cnnzoo/models/fractalnet.hpp"
#include "cnnzoo/models/highway.hpp"
#include "cnnzoo/models/pyramidnet.hpp"
#include "cnnzoo/models/pyramidsepdrop.hpp"
#include "cnnzoo/models/resnext_cifar.hpp"
#include "cnnzoo/models/rir.hpp"
#include "cnnzoo/models/swapout.hpp"
// ---- includes: ImageNet designs (torchvision) ----
#include "cnnzoo/models/alexnet.hpp"
#include "cnnzoo/models/densenet_imagenet.hpp"
#include "cnnzoo/models/resnet_imagenet.hpp"
#include "cnnzoo/models/squeezenet.hpp"
#include "cnnzoo/models/vgg.hpp"
// ---- includes: classic, Inception family and CIFAR versions ----
#include "cnnzoo/models/lenet.hpp"
// non-torchvision ImageNet designs and their CIFAR versions (zoo C)
#include "cnnzoo/models/prelu_net.hpp"
#include "cnnzoo/models/se_resnet.hpp"
#include "cnnzoo/models/xception.hpp"
#include "cnnzoo/models/zfnet.hpp"
// CIFAR versions of the classic designs (alexnet, vgg, googlenet, inception_v3, squeezenet
// headers are included above)
#include "cnnzoo/models/nas_cifar.hpp"
#include "cnnzoo/models/nin.hpp"

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

// Options of a paper file not yet declared with Options<Config>: keys only.
std::vector<OptionInfo> untyped(const std::vector<std::string>& keys) {
  std::vector<OptionInfo> out;
  for (const auto& k : keys) out.push_back({k, "text", "", ""});
  return out;
}

std::vector<ModelInfo> make_table() {
  std::vector<ModelInfo> t;
  // ---- rows: residual family, part A ----
  {
    // Every model of this group is a CIFAR net: 3x32x32 input, 10 classes by default.
    auto cifar = [&t](std::string name, const char* paper, const char* authors, int year,
                      const char* arxiv, const char* family, const char* error,
                      std::vector<std::string> keys, Builder build) {
      t.push_back({std::move(name), paper, authors, year, arxiv, family, "cifar", 10, 3, 32, error,
                   untyped(keys), std::move(build)});
    };
    const char* he15 = "Deep Residual Learning for Image Recognition";
    for (auto [depth, err] : std::vector<std::pair<int64_t, const char*>>{
             {20, "8.75"}, {32, "7.51"}, {44, "7.17"}, {56, "6.97"}, {110, "6.43"}, {1202, "7.93"}})
      cifar("resnet" + std::to_string(depth), he15, "He et al.", 2015, "1512.03385", "resnet_cifar",
            err, {"shortcut"},
            [d = depth](const ModelSpec& s) { return build_resnet_cifar(s, d); });
    const char* he16 = "Identity Mappings in Deep Residual Networks";
    cifar("preact-resnet110", he16, "He et al.", 2016, "1603.05027", "preact_resnet", "6.37", {},
          [](const ModelSpec& s) { return build_preact_resnet_basic(s, 110); });
    cifar("preact-resnet164", he16, "He et al.", 2016, "1603.05027", "preact_resnet", "5.46", {},
          [](const ModelSpec& s) { return build_preact_resnet_bottleneck(s, 164); });
    cifar("preact-resnet1001", he16, "He et al.", 2016, "1603.05027", "preact_resnet", "4.62", {},
          [](const ModelSpec& s) { return build_preact_resnet_bottleneck(s, 1001); });
    for (auto& m : wide_resnet_models()) t.push_back(std::move(m));
    cifar("resnet110-sd", "Deep Networks with Stochastic Depth", "Huang et al.", 2016, "1603.09382",
          "stochastic_depth", "5.25", {"p_L"}, build_resnet110_sd);
    cifar("weighted-resnet", "Weighted Residuals for Very Deep Networks", "Shen & Zeng", 2016,
          "1605.08831", "weighted_resnet", "4.7", {"depth", "p_L"}, build_weighted_resnet);
    cifar("ror3-wrn58-4", "Residual Networks of Residual Networks: Multilevel Residual Networks",
          "Zhang et al.", 2016, "1608.02908", "ror", "3.77", {"depth", "widen_factor", "p_L"},
          [](const ModelSpec& s) { return build_ror3_wrn(s, 58, 4); });
    const char* hu17 = "Squeeze-and-Excitation Networks";
    cifar("se-preact-resnet164", hu17, "Hu et al.", 2017, "1709.01507", "senet_cifar", "4.39",
          {"se_reduction"}, build_se_preact_resnet164);
    cifar("se-resnet110", hu17, "Hu et al.", 2017, "1709.01507", "senet_cifar", "5.21",
          {"se_reduction"}, build_se_resnet110);
  }
  // ---- rows: residual family, part B ----
  {
    // Every model of this group is a CIFAR network: 10 classes, 3 x 32 x 32 inputs.
    auto row = [&t](const std::string& name, const std::string& paper, const std::string& authors,
                    int year, const std::string& arxiv, const std::string& family,
                    const std::string& error, std::vector<std::string> keys, Builder build) {
      t.push_back({name, paper, authors, year, arxiv, family, "cifar", 10, 3, 32, error,
                   untyped(keys), std::move(build)});
    };
    const std::string densenet = "Densely Connected Convolutional Networks";
    const std::vector<std::string> densenet_keys = {"depth", "growth_rate", "bottleneck",
                                                    "compression", "drop_rate"};
    for (const auto& [name, error, config] :
         std::vector<std::tuple<std::string, std::string, densenet_cifar::Config>>{
             {"densenet-40-12", "5.24", {40, 12, false, 1.0}},
             {"densenet-100-12", "4.10", {100, 12, false, 1.0}},
             {"densenet-100-24", "3.74", {100, 24, false, 1.0}},
             {"densenet-bc-100-12", "4.51", {100, 12, true, 0.5}},
             {"densenet-bc-250-24", "3.62", {250, 24, true, 0.5}},
             {"densenet-bc-190-40", "3.46", {190, 40, true, 0.5}}}) {
      densenet_cifar::Config c = config;
      row(name, densenet, "Huang et al.", 2016, "1608.06993", "densenet_cifar", error,
          densenet_keys, [c](const ModelSpec& s) { return densenet_cifar::build(s, c); });
    }
    for (const auto& [name, error, config] :
         std::vector<std::tuple<std::string, std::string, pyramidnet::Config>>{
             {"pyramidnet-110-a48", "4.58", {110, 48, false}},
             {"pyramidnet-110-a84", "4.26", {110, 84, false}},
             {"pyramidnet-110-a270", "3.77", {110, 270, false}},
             {"pyramidnet-272-a200-bottleneck", "3.31", {272, 200, true}}}) {
      pyramidnet::Config c = config;
      row(name, "Deep Pyramidal Residual Networks", "Han et al.", 2016, "1610.02915", "pyramidnet",
          error, {"alpha", "depth", "bottleneck"},
          [c](const ModelSpec& s) { return pyramidnet::build(s, c); });
    }
    row("pyramidsepdrop-182-a150",
        "Deep Pyramidal Residual Networks with Separated Stochastic Depth", "Yamada et al.", 2016,
        "1612.01230", "pyramidsepdrop", "3.31", {"alpha", "depth", "bottleneck", "p_L"},
        [](const ModelSpec& s) {
          return pyramidsepdrop::build(s, {182, 150, false, 0.5});
        });
    // The paper shows ResNeXt-29 2x64d only in a figure (no tabulated error).
    for (const auto& [name, error, cardinality] :
         std::vector<std::tuple<std::string, std::string, int64_t>>{
             {"resnext29-2x64d", "", 2},
             {"resnext29-8x64d", "3.65", 8},
             {"resnext29-16x64d", "3.58", 16}}) {
      resnext_cifar::Config c;
      c.cardinality = cardinality;
      row(name, "Aggregated Residual Transformations for Deep Neural Networks", "Xie et al.", 2016,
          "1611.05431", "resnext_cifar", error, {"cardinality", "bottleneck_width", "depth"},
          [c](const ModelSpec& s) { return resnext_cifar::build(s, c); });
    }
    row("fractalnet-20", "FractalNet: Ultra-Deep Neural Networks without Residuals",
        "Larsson et al.", 2016, "1605.07648", "fractalnet", "4.60",
        {"columns", "width_scale", "dropout", "drop_path", "local_drop_rate", "global_ratio"},
        [](const ModelSpec& s) { return fractalnet::build(s, {}); });
    row("highway-19", "Training Very Deep Networks", "Srivastava et al.", 2015, "1507.06228",
        "highway", "7.54", {"gate_bias"}, [](const ModelSpec& s) { return highway::build(s, {}); });
    row("swapout-32-w4", "Swapout: Learning an ensemble of deep architectures", "Singh et al.",
        2016, "1605.06465", "swapout", "4.76",
        {"depth", "widen_factor", "theta_L", "stochastic_inference"},
        [](const ModelSpec& s) { return swapout::build(s, {}); });
    row("rir-18-wide", "Resnet in Resnet: Generalizing Residual Architectures", "Targ et al.", 2016,
        "1603.08029", "rir", "5.01", {"width"},
        [](const ModelSpec& s) { return rir::build(s, {}); });
  }
  // ---- rows: ImageNet designs (torchvision) ----
  {
    // Names, module structure and state-dict keys are torchvision's (each models/ file says
    // where torchvision departs from its paper). 1000 classes, 3 channels.
    auto tv = [&t](const char* name, const char* paper, const char* authors, int year,
                   const char* arxiv, const char* family, int64_t size,
                   std::vector<std::string> keys, Builder b) {
      t.push_back({name, paper, authors, year, arxiv, family, "imagenet", 1000, 3, size, "",
                   untyped(keys), std::move(b)});
    };
    tv("alexnet", "One weird trick for parallelizing convolutional neural networks", "Krizhevsky",
       2014, "1404.5997", "alexnet", 224, {"drop_rate"}, imagenet::alexnet);
    for (const char* n :
         {"vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn"})
      tv(n, "Very Deep Convolutional Networks for Large-Scale Image Recognition",
         "Simonyan and Zisserman", 2014, "1409.1556", "vgg", 224, {"drop_rate"}, imagenet::vgg);
    for (auto& m : googlenet_models()) t.push_back(std::move(m));
    for (auto& m : inception_v3_models()) t.push_back(std::move(m));
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
  t.push_back({"lenet5", "Gradient-Based Learning Applied to Document Recognition", "LeCun et al.",
               1998, "", "lenet", "cifar", 10, 1, 32, "",
               untyped({"activation", "pool", "subsampling"}), lenet5});
  {
    // Non-torchvision ImageNet designs (each models/ file states its paper and its choices)
    // and the CIFAR versions of BN-Inception, Xception and PReLU-net.
    auto row = [&t](const char* name, const char* paper, const char* authors, int year,
                    const char* arxiv, const char* family, bool cifar, int64_t size,
                    std::vector<std::string> keys, Builder b) {
      t.push_back({name, paper, authors, year, arxiv, family, cifar ? "cifar" : "imagenet",
                   cifar ? 10 : 1000, 3, size, "", untyped(keys), std::move(b)});
    };
    const char* zf = "Visualizing and Understanding Convolutional Networks";
    const char* bn =
        "Batch Normalization: Accelerating Deep Network Training by Reducing "
        "Internal Covariate Shift";
    const char* v4 =
        "Inception-v4, Inception-ResNet and the Impact of Residual Connections on "
        "Learning";
    const char* xc = "Xception: Deep Learning with Depthwise Separable Convolutions";
    const char* pr =
        "Delving Deep into Rectifiers: Surpassing Human-Level Performance on "
        "ImageNet Classification";
    const char* se = "Squeeze-and-Excitation Networks";
    row("zfnet", zf, "Zeiler and Fergus", 2013, "1311.2901", "zfnet", false, 224, {"drop_rate"},
        zfnet);
    for (auto& m : bn_inception_models()) t.push_back(std::move(m));
    for (auto& m : inception_v4_models()) t.push_back(std::move(m));
    row("xception", xc, "Chollet", 2016, "1610.02357", "xception", false, 299, {"drop_rate"},
        xception);
    row("xception-cifar", xc, "Chollet", 2016, "1610.02357", "xception", true, 32,
        {"drop_rate", "width_scale"}, xception);
    row("prelu-net-a", pr, "He et al.", 2015, "1502.01852", "prelu_net", false, 224,
        {"drop_rate", "batch_norm"}, prelu_net);
    row("prelu-net-cifar", pr, "He et al.", 2015, "1502.01852", "prelu_net", true, 32,
        {"drop_rate", "batch_norm", "width_scale"}, prelu_net);
    row("se-resnet50", se, "Hu et al.", 2017, "1709.01507", "se_resnet", false, 224,
        {"se_reduction"}, se_resnet);
    // CIFAR versions of the classic designs: 32x32x3, 10 classes by default; each models/
    // file says what it adapted from the paper's ImageNet design and why.
    auto cifar = [&t](const char* name, const char* paper, const char* authors, int year,
                      const char* arxiv, const char* family, const char* error,
                      std::vector<std::string> keys, Builder b) {
      t.push_back({name, paper, authors, year, arxiv, family, "cifar", 10, 3, 32, error,
                   untyped(keys), std::move(b)});
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
    cifar("squeezenet-cifar",
          "SqueezeNet: AlexNet-level accuracy with 50x fewer parameters and <0.5MB model size",
          "Iandola et al.", 2016, "1602.07360", "squeezenet", "", {"drop_rate"}, squeezenet_cifar);
    cifar("nas-cifar", "Neural Architecture Search with Reinforcement Learning", "Zoph and Le",
          2016, "1611.01578", "nas_cifar", "5.50", {"width_scale"}, nas_cifar);
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
