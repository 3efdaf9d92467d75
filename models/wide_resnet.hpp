// Wide Residual Networks (Zagoruyko and Komodakis, 2016, arXiv 1605.07146): pre-activation
// basic units, stages 16k/32k/64k wide, depth 6n+4.
#pragma once
#include "models/preact_resnet.hpp"

namespace cnnzoo::models {

// wrn-<depth>-<k>: options `depth` (6n+4), `widen_factor` (k) and `drop_rate` (dropout
// between the two convolutions of every unit; 0 by default, 0.3 in the paper's dropout runs).
nn::ModulePtr build_wide_resnet(const ModelSpec& spec, int64_t depth, int64_t widen_factor);

}  // namespace cnnzoo::models
