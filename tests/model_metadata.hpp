// The metadata of a CIFAR-style model file for tests that write one without training.
#pragma once
#include <string>

#include "cnnzoo/inference.hpp"

namespace cnnzoo {

// 10 classes, 3x32x32 inputs, mean 0.5 and std 0.25 per channel, "resize" preprocessing.
inline ModelMetadata cifar_metadata(const std::string& model) {
  ModelMetadata md;
  md.spec.name = model;
  md.spec.num_classes = 10;
  md.spec.in_channels = 3;
  md.spec.input_size = 32;
  md.mean = {0.5f, 0.5f, 0.5f};
  md.std = {0.25f, 0.25f, 0.25f};
  md.preprocessing = "resize";
  return md;
}

}  // namespace cnnzoo
