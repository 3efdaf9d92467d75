// What a paper file declares about its models: the paper, the `--set` options bound to the
// fields of its builder's configuration, and one registry row per named model.
#pragma once
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "cnnzoo/error.hpp"
#include "cnnzoo/models.hpp"

namespace cnnzoo::models {

struct Paper {
  std::string title;    // "Deep Residual Learning for Image Recognition"
  std::string authors;  // "He et al."
  int year = 0;
  std::string arxiv;   // "1512.03385", "" for papers before arXiv
  std::string family;  // the models/ file: "resnet_cifar"
};

// The dataset a model is designed for: its default class count and input geometry.
struct Input {
  std::string dataset;  // "cifar" or "imagenet"
  int64_t num_classes, in_channels, input_size;
};
inline Input cifar_input() {
  return {"cifar", 10, 3, 32};
}
inline Input imagenet_input(int64_t input_size = 224) {
  return {"imagenet", 1000, 3, input_size};
}

// The `--set` options of a paper's models, each declared once: its key, its kind and range,
// and the Config field it fills. fill() both validates a spec's values and writes them.
template <class Config>
class Options {
 public:
  Options& integer(const std::string& key, int64_t Config::*field, int64_t lo, int64_t hi,
                   const std::string& help) {
    const std::string range = "[" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
    info_.push_back({key, "int", range, help});
    setters_.push_back([=](const ModelSpec& spec, Config& c) {
      if (!spec.options.count(key)) return;
      int64_t v = spec.get_int(key, 0);
      check(v >= lo && v <= hi, out_of_range(spec, key, range));
      c.*field = v;
    });
    return *this;
  }
  Options& real(const std::string& key, double Config::*field, double lo, double hi,
                const std::string& help) {
    const std::string range = "[" + number(lo) + ", " + number(hi) + "]";
    info_.push_back({key, "real", range, help});
    setters_.push_back([=](const ModelSpec& spec, Config& c) {
      if (!spec.options.count(key)) return;
      double v = spec.get_double(key, 0.0);
      check(v >= lo && v <= hi, out_of_range(spec, key, range));
      c.*field = v;
    });
    return *this;
  }
  Options& flag(const std::string& key, bool Config::*field, const std::string& help) {
    info_.push_back({key, "bool", "", help});
    setters_.push_back([=](const ModelSpec& spec, Config& c) {
      if (spec.options.count(key)) c.*field = spec.get_bool(key, false);
    });
    return *this;
  }
  Options& choice(const std::string& key, std::string Config::*field,
                  std::vector<std::string> choices, const std::string& help) {
    std::string range;
    for (const auto& ch : choices) range += (range.empty() ? "" : "|") + ch;
    info_.push_back({key, "choice", range, help});
    setters_.push_back([=](const ModelSpec& spec, Config& c) {
      if (!spec.options.count(key)) return;
      const std::string& v = spec.options.at(key);
      for (const auto& ch : choices)
        if (v == ch) {
          c.*field = v;
          return;
        }
      throw Error(out_of_range(spec, key, range));
    });
    return *this;
  }

  // `config` with the spec's option values written into their fields; Error naming the key
  // for a malformed or out-of-range value.
  Config fill(const ModelSpec& spec, Config config) const {
    for (const auto& set : setters_) set(spec, config);
    return config;
  }
  const std::vector<OptionInfo>& info() const { return info_; }

 private:
  static std::string number(double v) {
    std::string s = std::to_string(v);
    s.erase(s.find_last_not_of('0') + 1);
    if (!s.empty() && s.back() == '.') s.pop_back();
    return s;
  }
  static std::string out_of_range(const ModelSpec& spec, const std::string& key,
                                  const std::string& range) {
    return spec.name + ": option " + key + "=" + spec.options.at(key) + " is outside " + range;
  }

  std::vector<OptionInfo> info_;
  std::vector<std::function<void(const ModelSpec&, Config&)>> setters_;
};

// The builder of a network whose constructor takes its whole Config: the spec supplies the
// number of classes and the input channels.
template <class Network, class Config>
nn::ModulePtr build_network(const ModelSpec& spec, Config config) {
  config.num_classes = spec.num_classes;
  config.in_channels = spec.in_channels;
  return std::make_shared<Network>(config);
}

// A registry row: `name` builds build(spec, config), where config is `defaults` with the
// spec's options filled in. paper_error: the paper's CIFAR-10 test error in percent ("" if
// the paper reports none for this model).
template <class Config, class Build>
ModelInfo model_row(const Paper& paper, std::string name, const Input& input,
                    std::string paper_error, const Options<Config>& options, Config defaults,
                    Build build) {
  ModelInfo m;
  m.name = std::move(name);
  m.paper = paper.title;
  m.authors = paper.authors;
  m.year = paper.year;
  m.arxiv = paper.arxiv;
  m.family = paper.family;
  m.dataset = input.dataset;
  m.num_classes = input.num_classes;
  m.in_channels = input.in_channels;
  m.input_size = input.input_size;
  m.paper_cifar10_error = std::move(paper_error);
  m.options = options.info();
  m.check_options = [options, defaults](const ModelSpec& spec) { options.fill(spec, defaults); };
  m.build = [options, defaults, build](const ModelSpec& spec) -> nn::ModulePtr {
    return build(spec, options.fill(spec, defaults));
  };
  return m;
}

}  // namespace cnnzoo::models
