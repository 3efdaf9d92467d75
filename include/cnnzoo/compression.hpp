// Deep Compression's first two stages for the zoo's models: magnitude pruning with masks kept
// through fine-tuning, and weight sharing (a k-bit codebook per layer) for storage.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "cnnzoo/inference.hpp"
#include "cnnzoo/io/safetensors.hpp"
#include "cnnzoo/nn/module.hpp"

namespace cnnzoo::compress {

// Masks by parameter name: 1 where the weight stays, 0 where it was pruned.
using Masks = std::vector<std::pair<std::string, Tensor>>;

// The parameters pruning and weight sharing act on: the weights of convolutions and linear
// layers (parameters of two or more dimensions named *.weight). Biases and batch norm stay.
std::vector<std::string> prunable(const nn::Module& model);

struct PruneOptions {
  double sparsity = 0.9;  // the share of the prunable weights set to zero
  // Layer-wise (each weight tensor loses `sparsity` of its entries, Han et al.'s per-layer
  // thresholds) or global (one magnitude threshold over every prunable weight).
  bool global = false;
  // Layer-wise sparsities that replace `sparsity` for the named weights ("fc.weight"; a layer
  // name such as "fc" means its weight).
  std::map<std::string, double> per_layer;
};

struct LayerSparsity {
  std::string name;
  int64_t size = 0, zeros = 0;
};

// Zeroes the smallest-magnitude weights (ties at the threshold: the lower index goes first)
// and returns the masks of every prunable weight. Weights already zero count as pruned.
Masks prune(nn::Module& model, const PruneOptions& options);

// Zeroes the weights the masks remove (after every optimiser step of a fine-tuning).
void apply_masks(nn::Module& model, const Masks& masks);

// What each prunable weight holds now: sizes and zeros.
std::vector<LayerSparsity> sparsity(const nn::Module& model);

// A pruned model's file: its weights and metadata as save_weights writes them, plus one
// "mask.<name>" tensor (U8, 0 or 1) per prunable weight. It loads as a normal weights file.
void save_pruned(const nn::Module& model, const ModelMetadata& meta, const Masks& masks,
                 const std::string& path);
// The masks of a file (entries "mask.<name>"), checked against the model: names, shapes and
// values 0 or 1. Empty when the file has none.
Masks read_masks(const io::SafetensorsFile& file, const nn::Module& model, const std::string& path);

struct CompressOptions {
  int conv_bits = 8;    // codebook size 2^bits for convolution weights (Han et al.: 8)
  int linear_bits = 5;  // and for linear layers (5)
  int iterations = 30;  // k-means (Lloyd) iterations per layer, from a linear initialisation
};

struct CompressReport {
  int64_t dense_bytes = 0;       // the same model as a float32 weights file
  int64_t compressed_bytes = 0;  // the written file
  int64_t weights = 0, zeros = 0;
  double max_error = 0;  // the largest |w - shared w| over the nonzero weights
};

// Writes the model with every prunable weight replaced by codes into a per-layer codebook of
// 2^bits - 1 shared values found by k-means over its nonzero weights, code 0 being an exact
// zero (pruned weights stay pruned); the codes are packed `bits` to a weight and deflated
// (zlib). Everything else is stored as float32. The file is a safetensors file of format
// "cnnzoo-compressed" (docs/file-formats.md); every loader of weights files reads it back
// as a normal model with the shared values.
CompressReport save_compressed(const nn::Module& model, const ModelMetadata& meta,
                               const std::string& path, const CompressOptions& options = {});

// The largest decoded size a compressed entry may declare (elements): 2^31.
constexpr int64_t kMaxDecodedElements = int64_t(1) << 31;

// A compressed file's tensors decoded into the dense entries of a normal weights file (a file
// of any other format is returned as it is). Errors name the file and the entry.
io::SafetensorsFile decompress(const io::SafetensorsFile& file, const std::string& path);

}  // namespace cnnzoo::compress
