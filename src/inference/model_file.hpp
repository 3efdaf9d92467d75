// Internal: loading a state dict from a safetensors file already read (the Classifier and
// the trainer read the file once for its metadata and its tensors).
#pragma once
#include <string>

#include "cnnzoo/io/safetensors.hpp"
#include "cnnzoo/nn/module.hpp"

namespace cnnzoo {

void load_state(nn::Module& model, const io::SafetensorsFile& file, const std::string& path);

}  // namespace cnnzoo
