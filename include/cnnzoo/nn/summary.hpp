// Model summaries: trainable parameters, multiply-adds and a per-layer table, measured by
// running one forward pass of a single zero image through the model.
#pragma once
#include <string>
#include <vector>

#include "cnnzoo/nn/module.hpp"

namespace cnnzoo::nn {

struct LayerSummary {
  std::string name;  // dotted module name ("layer1.0.conv1")
  std::string type;  // "Conv2d"
  std::string config;
  Shape output;  // for one image
  int64_t params = 0;
  int64_t macs = 0;  // for one image
};

struct ModelSummary {
  int64_t params = 0;  // trainable parameter elements, buffers excluded
  int64_t macs = 0;    // conv + linear multiply-adds for one image
  Shape input, output;
  std::vector<LayerSummary> layers;  // leaf layers in execution order
};

// input = {C, H, W}. The model runs in eval mode without a graph; its mode is restored.
ModelSummary summarize(Module& model, const Shape& input);

// "11.69M", "1.82G": compact human-readable counts.
std::string human_count(int64_t n);

}  // namespace cnnzoo::nn
