// LeNet-5: LeCun, Bottou, Bengio & Haffner 1998, "Gradient-Based Learning Applied to
// Document Recognition".
#pragma once
#include <string>

#include "cnnzoo/models.hpp"

namespace cnnzoo::models {

// C1 6@5x5 -> S2 -> C3 16@5x5 (fully connected) -> S4 -> C5 120 -> F6 84 -> output.
// Options: activation = tanh | relu | scaled_tanh (the paper's 1.7159 tanh(2a/3));
// pool = avg | max; subsampling = pool (S2/S4 are the pool above) | paper (per-map trainable
// coefficient and bias on the window sum, then 1.7159 tanh(2a/3)).
struct LeNet5Config {
  std::string activation = "tanh";  // tanh, relu, or scaled_tanh (the paper's 1.7159 tanh(2a/3))
  std::string pool = "avg";         // avg or max
  std::string subsampling =
      "pool";  // pool, or paper (S2/S4: trainable coefficient and bias, squashed)
};
nn::ModulePtr build_lenet5(const ModelSpec& spec, const LeNet5Config& config);

}  // namespace cnnzoo::models
