// BN-Inception ("Inception v2"): Ioffe & Szegedy, "Batch Normalization: Accelerating Deep
// Network Training by Reducing Internal Covariate Shift" (2015, arXiv:1502.03167).
#pragma once
#include "cnnzoo/models.hpp"

namespace cnnzoo::models {

// `bn-inception` (224x224, the paper's Figure 5 network) and `bn-inception-cifar` (32x32,
// stem without downsampling). Option drop_rate (0: the paper removed dropout).
nn::ModulePtr bn_inception(const ModelSpec& spec);

}  // namespace cnnzoo::models
