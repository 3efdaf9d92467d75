// Classifier: a model rebuilt from its file's metadata, the preprocessing it was trained or
// published with, and top-k predictions.
#include <algorithm>
#include <cmath>

#include "cnnzoo/inference.hpp"
#include "cnnzoo/io/safetensors.hpp"
#include "cnnzoo/nn/init.hpp"
#include "cnnzoo/ops/loss.hpp"
#include "inference/model_file.hpp"

namespace cnnzoo {

namespace {

std::string options_str(const std::map<std::string, std::string>& options) {
  std::string s;
  for (const auto& [k, v] : options) s += (s.empty() ? "" : ",") + k + "=" + v;
  return s;
}

// Folds what the caller says into what the file says; a fact on both sides must agree.
void merge_caller_facts(ModelMetadata& md, bool options_stated, const LoadOptions& opt,
                        const std::string& path) {
  if (!opt.model.empty()) {
    check(md.spec.name.empty() || md.spec.name == opt.model,
          path + " holds a '" + md.spec.name + "' model, not '" + opt.model + "'");
    md.spec.name = opt.model;
  }
  check(!md.spec.name.empty(),
        path + " does not name its model (no 'model' metadata): say which model it holds");
  // A file that lists its options lists every one that is not at its default.
  for (const auto& [k, v] : opt.options) {
    auto it = md.spec.options.find(k);
    if (it != md.spec.options.end() && it->second != v)
      throw Error(path + " was saved with option " + k + "=" + it->second + ", not " + k + "=" + v);
    if (it == md.spec.options.end() && options_stated)
      throw Error(path + " was saved with option " + k + " at its default, not " + k + "=" + v);
    md.spec.options[k] = v;
  }
  if (opt.num_classes > 0) {
    check(md.spec.num_classes <= 0 || md.spec.num_classes == opt.num_classes,
          path + " holds a model with " + std::to_string(md.spec.num_classes) + " classes, not " +
              std::to_string(opt.num_classes));
    md.spec.num_classes = opt.num_classes;
  }
  if (md.spec.num_classes <= 0 && !md.classes.empty())
    md.spec.num_classes = static_cast<int64_t>(md.classes.size());
}

// The normalisation and preprocessing of a file that does not state them: the model's
// published ones where it has them (torchvision's ImageNet transform). Otherwise they stay
// unknown, and only what needs them (preprocess, normalize) refuses to run.
void fill_published_preprocessing(ModelMetadata& md, const models::ModelInfo& info) {
  if (md.mean.empty() && md.std.empty() && info.dataset == "imagenet") {
    md.mean = {0.485f, 0.456f, 0.406f};
    md.std = {0.229f, 0.224f, 0.225f};
    if (md.preprocessing.empty()) md.preprocessing = "resize-crop";
  }
  if (md.preprocessing.empty()) md.preprocessing = "resize";
  // torchvision resizes the shorter side to 256 for a 224 crop (342 for Inception's 299).
  if (md.preprocessing == "resize-crop" && md.resize_size <= 0)
    md.resize_size = static_cast<int64_t>(std::lround(md.spec.input_size * 256.0 / 224.0));
}

void check_consistent(const ModelMetadata& md, const std::string& path) {
  const auto& s = md.spec;
  check(md.preprocessing == "resize" || md.preprocessing == "resize-crop",
        path + ": unknown preprocessing '" + md.preprocessing + "' (resize, resize-crop)");
  const bool unknown = md.mean.empty() && md.std.empty();
  check(unknown ||
            (md.mean.size() == size_t(s.in_channels) && md.std.size() == size_t(s.in_channels)),
        path + ": normalisation has " + std::to_string(md.mean.size()) + " mean and " +
            std::to_string(md.std.size()) + " std values for a model of " +
            std::to_string(s.in_channels) + " input channels");
  for (float v : md.std)
    check(std::isfinite(v) && v > 0, path + ": std " + std::to_string(v) + " is not positive");
  for (float v : md.mean) check(std::isfinite(v), path + ": mean is not finite");
  check(md.classes.empty() || md.classes.size() == size_t(s.num_classes),
        path + ": " + std::to_string(md.classes.size()) + " class names for a model of " +
            std::to_string(s.num_classes) + " classes");
  check(md.preprocessing != "resize-crop" || md.resize_size >= s.input_size,
        path + ": resize_size " + std::to_string(md.resize_size) + " is smaller than the " +
            std::to_string(s.input_size) + " crop");
}

}  // namespace

Classifier Classifier::load(const std::string& path, const LoadOptions& options) {
  io::SafetensorsFile f = io::load_safetensors(path);
  Classifier c;
  c.path_ = path;
  c.meta_ = ModelMetadata::from_file_metadata(f.metadata, path);
  merge_caller_facts(c.meta_, f.metadata.count("model_options") > 0, options, path);
  const models::ModelInfo& info = models::find_model(c.meta_.spec.name);
  try {
    c.meta_.spec = models::resolve_spec(c.meta_.spec);
  } catch (const Error& e) {
    throw Error(path + ": " + e.what() + " (options " + options_str(c.meta_.spec.options) + ")");
  }
  fill_published_preprocessing(c.meta_, info);
  check_consistent(c.meta_, path);
  {
    nn::init::SkipInitGuard every_parameter_is_in_the_file;
    c.model_ = models::build_model(c.meta_.spec);
  }
  load_state(*c.model_, f, path);
  c.model_->prepare_for_inference();  // the weights are fixed from here: folds are kept
  return c;
}

void Classifier::require_normalisation() const {
  check(!meta_.mean.empty(),
        path_ + " has no normalisation (mean/std metadata), and '" + name() +
            "' has no published one: use a file written by cnnzoo, add the metadata, or give "
            "inputs already normalised");
}

Tensor Classifier::preprocess(const io::Image& image) const {
  require_normalisation();
  const int64_t C = meta_.spec.in_channels, S = meta_.spec.input_size;
  io::Image img = image.channels == C ? image : io::convert_channels(image, static_cast<int>(C));
  if (meta_.preprocessing == "resize-crop") {
    // Shorter side to resize_size, the longer in proportion (truncated, as torchvision).
    const int64_t r = meta_.resize_size;
    int64_t h = r, w = r;
    if (img.height < img.width)
      w = r * img.width / img.height;
    else
      h = r * img.height / img.width;
    check(w >= S && h >= S, "preprocess: image " + std::to_string(img.width) + "x" +
                                std::to_string(img.height) + " is too narrow to crop " +
                                std::to_string(S) + "x" + std::to_string(S));
    img = io::resize(img, static_cast<int>(h), static_cast<int>(w));
  } else if (img.height != S || img.width != S) {
    img = io::resize(img, static_cast<int>(S), static_cast<int>(S));
  }
  // Centre crop (a no-op for "resize"); the offset rounds half to even, as Python's round.
  const int64_t top = static_cast<int64_t>(std::nearbyint((img.height - S) / 2.0));
  const int64_t left = static_cast<int64_t>(std::nearbyint((img.width - S) / 2.0));
  Tensor x = Tensor::empty({C, S, S});
  for (int64_t c = 0; c < C; ++c) {
    const float m = meta_.mean[c], inv = 1.0f / meta_.std[c];
    float* dst = x.data() + c * S * S;
    for (int64_t y = 0; y < S; ++y)
      for (int64_t xx = 0; xx < S; ++xx) {
        const uint8_t p = img.pixels[((top + y) * img.width + left + xx) * C + c];
        dst[y * S + xx] = (p / 255.0f - m) * inv;
      }
  }
  return x;
}

Tensor Classifier::preprocess(const std::vector<io::Image>& images) const {
  check(!images.empty(), "preprocess: no images");
  const int64_t C = meta_.spec.in_channels, S = meta_.spec.input_size;
  Tensor batch = Tensor::empty({static_cast<int64_t>(images.size()), C, S, S});
  for (size_t n = 0; n < images.size(); ++n) {
    Tensor one = preprocess(images[n]);
    std::copy(one.data(), one.data() + one.numel(), batch.data() + n * one.numel());
  }
  return batch;
}

Tensor Classifier::normalize(const Tensor& pixels) const {
  const int64_t C = meta_.spec.in_channels;
  check(pixels.dim() == 4 && pixels.size(1) == C,
        "normalize: input " + pixels.shape_str() + " is not [N, " + std::to_string(C) +
            ", H, W] for a model of " + std::to_string(C) + " input channels");
  require_normalisation();
  Tensor out = pixels.clone();
  const int64_t plane = pixels.size(2) * pixels.size(3);
  for (int64_t n = 0; n < pixels.size(0); ++n)
    for (int64_t c = 0; c < C; ++c) {
      float* p = out.data() + (n * C + c) * plane;
      const float m = meta_.mean[c], inv = 1.0f / meta_.std[c];
      for (int64_t i = 0; i < plane; ++i) p[i] = (p[i] - m) * inv;
    }
  return out;
}

Tensor Classifier::logits(const Tensor& batch) const {
  const int64_t C = meta_.spec.in_channels;
  check(batch.dim() == 4 && batch.size(1) == C && batch.size(0) > 0,
        name() + ": input " + batch.shape_str() + " is not [N, " + std::to_string(C) +
            ", H, W] with N >= 1");
  NoGradGuard no_grad;
  return model_->forward(Var(batch)).value();
}

Tensor Classifier::probabilities(const Tensor& batch) const {
  return softmax(logits(batch));
}

std::vector<std::vector<Prediction>> Classifier::topk(const Tensor& probs, int64_t k) const {
  check(probs.dim() == 2, "topk: probabilities " + probs.shape_str() + " are not [N, classes]");
  check(k >= 1, "topk: k must be at least 1, got " + std::to_string(k));
  const int64_t classes = probs.size(1), top = std::min(k, classes);
  std::vector<std::vector<Prediction>> out(probs.size(0));
  std::vector<int64_t> idx(classes);
  for (int64_t n = 0; n < probs.size(0); ++n) {
    const float* p = probs.data() + n * classes;
    for (int64_t i = 0; i < classes; ++i) idx[i] = i;
    // Ties keep the lower index first, as argmax does.
    std::partial_sort(idx.begin(), idx.begin() + top, idx.end(),
                      [p](int64_t a, int64_t b) { return p[a] > p[b] || (p[a] == p[b] && a < b); });
    for (int64_t t = 0; t < top; ++t) {
      const int64_t i = idx[t];
      out[n].push_back(
          {i, i < int64_t(meta_.classes.size()) ? meta_.classes[i] : std::to_string(i), p[i]});
    }
  }
  return out;
}

std::vector<Prediction> Classifier::topk(const io::Image& image, int64_t k) const {
  return topk(std::vector<io::Image>{image}, k).front();
}

std::vector<std::vector<Prediction>> Classifier::topk(const std::vector<io::Image>& images,
                                                      int64_t k) const {
  return topk(probabilities(preprocess(images)), k);
}

std::vector<Prediction> Classifier::predict(const std::vector<io::Image>& images) const {
  std::vector<Prediction> out;
  for (auto& row : topk(images, 1)) out.push_back(row.front());
  return out;
}

}  // namespace cnnzoo
