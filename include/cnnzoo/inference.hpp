// Inference from C++: open a weights or checkpoint file, preprocess images the way the model
// was trained or published, and classify them.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cnnzoo/io/image.hpp"
#include "cnnzoo/models.hpp"
#include "cnnzoo/tensor.hpp"

namespace cnnzoo {

// Everything a weights file says about its model: how to build it, what its outputs are
// called and how to turn an image into its input. Stored as strings in the safetensors
// `__metadata__` of every file cnnzoo writes (model, best and checkpoint files); see
// docs/file-formats.md.
struct ModelMetadata {
  models::ModelSpec spec;            // name, options, num_classes, in_channels, input_size
  std::vector<std::string> classes;  // class names, one per output (may be empty)
  std::vector<float> mean, std;      // per input channel, in pixel/255 units
  // How an image becomes an input ("" when the file does not say):
  //   "resize"       convert channels, resize to input_size x input_size when it differs,
  //                  normalise (the CIFAR / Fashion-MNIST training pipeline);
  //   "resize-crop"  resize the shorter side to resize_size (antialiased), centre-crop
  //                  input_size, normalise (torchvision's ImageNet evaluation transform).
  std::string preprocessing;
  int64_t resize_size = 0;  // "resize-crop" only

  // The safetensors metadata entries (format key excluded) and back. from_file_metadata
  // reads what the file has and leaves the rest empty or -1; Error on a malformed entry.
  std::map<std::string, std::string> to_file_metadata() const;
  static ModelMetadata from_file_metadata(const std::map<std::string, std::string>& meta,
                                          const std::string& file);
};

// Loads a state dict from a weights or checkpoint file into a model: names and shapes must
// match exactly; optim.* entries are ignored; integer tensors are accepted only for
// num_batches_tracked (and files without those counters load). Returns the file's metadata.
std::map<std::string, std::string> load_weights(nn::Module& model, const std::string& path);

// Writes a model's state dict with its metadata (atomically); format is the file's `format`
// entry ("cnnzoo-weights" by default).
void save_weights(const nn::Module& model, const ModelMetadata& meta, const std::string& path,
                  const std::string& format = "cnnzoo-weights");

// What the caller knows beyond the file. Each given fact must agree with the file's own:
// a contradiction is an Error naming both.
struct LoadOptions {
  std::string model;                           // registry name; required if the file has none
  std::map<std::string, std::string> options;  // paper options (`--set key=value`)
  int64_t num_classes = -1;
};

struct Prediction {
  int64_t index = 0;
  std::string label;  // the class name, or the index as text when the file has no names
  float probability = 0;
};

// A model ready for inference: built from a file's metadata, its weights loaded, in eval
// mode. const methods are safe to call from several threads at once.
class Classifier {
 public:
  // Opens a weights (model.safetensors, best.safetensors) or checkpoint file. Files without
  // metadata (e.g. converted from torchvision) need options.model; they get the model's
  // published preprocessing where there is one (ImageNet models: torchvision's transform
  // and statistics). Without either, logits() still runs on inputs normalised by the
  // caller, and preprocess/normalize throw an Error saying what is missing.
  static Classifier load(const std::string& path, const LoadOptions& options = {});

  const ModelMetadata& metadata() const { return meta_; }
  const std::string& name() const { return meta_.spec.name; }
  int64_t num_classes() const { return meta_.spec.num_classes; }
  nn::Module& module() const { return *model_; }

  // An image (any size, 1-4 channels) -> one input [C, H, W], as the file says.
  Tensor preprocess(const io::Image& image) const;
  // Images -> a batch [N, C, H, W].
  Tensor preprocess(const std::vector<io::Image>& images) const;
  // Pixels in [0, 1] as a batch [N, C, H, W] -> normalised with the file's mean and std.
  Tensor normalize(const Tensor& pixels) const;
  // Throws an Error naming the file when it states no normalisation and the model has no
  // published one (what preprocess and normalize need; callers that normalise otherwise,
  // such as evaluation through a DataLoader, call it first).
  void require_normalisation() const;

  // A preprocessed batch [N, C, H, W] -> logits [N, classes] / softmax probabilities.
  Tensor logits(const Tensor& batch) const;
  Tensor probabilities(const Tensor& batch) const;

  // The k most probable classes, most probable first (k is capped at the class count).
  std::vector<Prediction> topk(const io::Image& image, int64_t k = 5) const;
  std::vector<std::vector<Prediction>> topk(const std::vector<io::Image>& images,
                                            int64_t k = 5) const;
  // topk from probabilities [N, classes] already computed.
  std::vector<std::vector<Prediction>> topk(const Tensor& probabilities, int64_t k) const;
  Prediction predict(const io::Image& image) const { return topk(image, 1).front(); }
  std::vector<Prediction> predict(const std::vector<io::Image>& images) const;

 private:
  std::string path_;  // for messages
  ModelMetadata meta_;
  nn::ModulePtr model_;
};

}  // namespace cnnzoo
