// The model zoo's public face: build any registered model by name, list them all.
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "cnnzoo/nn/module.hpp"

namespace cnnzoo::models {

// What to build: a registry name, the classifier size, the input geometry, and the paper's
// options as key=value strings (`--set key=value` on the command line).
struct ModelSpec {
  std::string name;
  int64_t num_classes = -1;  // -1: the model's default (10 for CIFAR, 1000 for ImageNet)
  int64_t in_channels = -1;  // -1: the model's default
  int64_t input_size = -1;   // -1: the model's default (square inputs)
  std::map<std::string, std::string> options;

  // Typed accessors: the default when the key is absent; Error on a malformed value.
  std::string get(const std::string& key, const std::string& def) const;
  double get_double(const std::string& key, double def) const;
  int64_t get_int(const std::string& key, int64_t def) const;
  bool get_bool(const std::string& key, bool def) const;
  // A layer width times the `width_scale` option (default 1), rounded, at least 1: the
  // narrower versions of the heavy CIFAR networks that fit a one-epoch training check.
  int64_t scale_width(int64_t channels) const;
};

using Builder = std::function<nn::ModulePtr(const ModelSpec&)>;

// channels * width_scale, rounded, at least 1: the narrower versions of the heavy CIFAR
// networks (their `width_scale` option) that fit a one-epoch training check.
int64_t scale_width(int64_t channels, double width_scale);

// One `--set key=value` option of a model, as its paper file declares it.
struct OptionInfo {
  std::string key;
  std::string kind;   // "int", "real", "bool", "choice" (or "text" for a free string)
  std::string range;  // "[1, 1000]", "A|B|C"; "" when any value of the kind is accepted
  std::string help;
};

struct ModelInfo {
  std::string name;
  std::string paper;    // "Deep Residual Learning for Image Recognition"
  std::string authors;  // "He et al."
  int year = 0;
  std::string arxiv;         // "1512.03385"
  std::string family;        // "resnet" (the models/ file it comes from)
  std::string dataset;       // "cifar" or "imagenet"
  int64_t num_classes = 10;  // defaults
  int64_t in_channels = 3;
  int64_t input_size = 32;
  std::string paper_cifar10_error;  // e.g. "8.75" (percent), "" when the paper has none
  std::vector<OptionInfo> options;  // accepted --set options
  Builder build;
  // Validates the option values of a spec for this model (Error naming the key and range).
  std::function<void(const ModelSpec&)> check_options;
};

// Every registered model, in table order (models/registry.cpp).
const std::vector<ModelInfo>& registry();
// Throws Error("unknown model 'x'") with the closest names as a hint.
const ModelInfo& find_model(const std::string& name);
// Fills defaults from the registry, rejects unknown option keys, builds the model.
nn::ModulePtr build_model(ModelSpec spec);
nn::ModulePtr build_model(const std::string& name, int64_t num_classes = -1);
// The spec with defaults filled in (what build_model actually builds).
ModelSpec resolve_spec(ModelSpec spec);

}  // namespace cnnzoo::models
