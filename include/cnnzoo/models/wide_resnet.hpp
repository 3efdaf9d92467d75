// Wide Residual Networks (Zagoruyko and Komodakis, 2016, arXiv 1605.07146): pre-activation
// basic units, stages 16k/32k/64k wide, depth 6n+4.
#pragma once
#include "cnnzoo/models/preact_resnet.hpp"

namespace cnnzoo::models {

struct WideResNetConfig {
  int64_t depth = 28;         // 6n + 4
  int64_t widen_factor = 10;  // k
  double drop_rate = 0.0;     // dropout between the two convs of a unit (0.3 in the paper's runs)
};

// wrn-<depth>-<k> for spec's classes and input channels.
nn::ModulePtr build_wide_resnet(const ModelSpec& spec, const WideResNetConfig& config);

}  // namespace cnnzoo::models
