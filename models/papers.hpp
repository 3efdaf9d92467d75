// Every paper file's registry rows; registry.cpp lists them in table order.
#pragma once
#include <vector>

#include "cnnzoo/models.hpp"

namespace cnnzoo::models {

// ---- residual family, part A ----
std::vector<ModelInfo> wide_resnet_models();

// ---- residual family, part B ----

// ---- classic and torchvision designs ----

// ---- Inception family ----
std::vector<ModelInfo> googlenet_models();
std::vector<ModelInfo> bn_inception_models();
std::vector<ModelInfo> inception_v3_models();
std::vector<ModelInfo> inception_v4_models();

}  // namespace cnnzoo::models
