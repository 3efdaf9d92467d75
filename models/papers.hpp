// Every paper file's registry rows; registry.cpp lists them in table order.
#pragma once
#include <vector>

#include "cnnzoo/models.hpp"

namespace cnnzoo::models {

std::vector<ModelInfo> wide_resnet_models();

}  // namespace cnnzoo::models
