// ONNX export: a model's inference graph, traced from one eval-mode forward pass, written as
// an ONNX model file that other runtimes (OpenCV DNN, ONNX Runtime) load.
#pragma once
#include <map>
#include <string>

#include "cnnzoo/nn/module.hpp"

namespace cnnzoo::onnx {

struct ExportOptions {
  int64_t batch = 1;  // the input's batch dimension; 0: dynamic (named "N")
  int opset = 13;     // 13 or 17
  // metadata_props of the file (cnnzoo writes class names, mean, std, the model's name).
  std::map<std::string, std::string> metadata;
};

// The ONNX model bytes of `model` for inputs [batch, C, H, W] (input_chw = {C, H, W}). The
// model is traced once in eval mode (stochastic regularisers at their inference form,
// dropout and auxiliary heads absent), with each conv followed by a BN exported with the BN
// folded into its weights, as cnnzoo itself runs it at inference. An op ONNX export does not
// cover is an Error naming it and its place in the forward pass.
std::string export_bytes(nn::Module& model, const Shape& input_chw,
                         const ExportOptions& options = {});

// export_bytes written to `path` through a temporary file renamed into place: on any error
// no file is left at `path`.
void export_file(nn::Module& model, const Shape& input_chw, const std::string& path,
                 const ExportOptions& options = {});

}  // namespace cnnzoo::onnx
