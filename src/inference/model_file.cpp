// Weights files and the metadata that rebuilds their model: ModelMetadata <-> safetensors
// `__metadata__`, load_weights and save_weights.
#include <cmath>
#include <nlohmann/json.hpp>
#include <set>

#include "cnnzoo/compression.hpp"
#include "cnnzoo/inference.hpp"
#include "cnnzoo/io/safetensors.hpp"
#include "inference/model_file.hpp"
#include "io/json_number.hpp"

namespace cnnzoo {

using json = nlohmann::json;

namespace {

// A metadata entry that must parse as JSON of type T; Error naming file and key otherwise.
template <class T>
T parse_entry(const std::map<std::string, std::string>& meta, const std::string& key,
              const std::string& file) {
  json j = json::parse(meta.at(key), nullptr, false);
  try {
    if (!j.is_discarded()) return io::json_get<T>(j);
  } catch (const json::exception&) {
  }
  throw Error(file + ": metadata '" + key + "' is malformed: " + meta.at(key).substr(0, 80));
}

int64_t parse_count(const std::map<std::string, std::string>& meta, const std::string& key,
                    const std::string& file) {
  auto v = parse_entry<int64_t>(meta, key, file);
  check(v > 0 && v <= (int64_t(1) << 24),
        file + ": metadata '" + key + "' = " + meta.at(key) + " is out of range (1 to 16777216)");
  return v;
}

bool is_bn_counter(const std::string& name) {
  const std::string suffix = "num_batches_tracked";
  return name.size() >= suffix.size() &&
         name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

std::map<std::string, std::string> ModelMetadata::to_file_metadata() const {
  std::map<std::string, std::string> m;
  if (!spec.name.empty()) m["model"] = spec.name;
  m["model_options"] = json(spec.options).dump();
  if (spec.num_classes > 0) m["num_classes"] = std::to_string(spec.num_classes);
  if (spec.in_channels > 0) m["in_channels"] = std::to_string(spec.in_channels);
  if (spec.input_size > 0) m["input_size"] = std::to_string(spec.input_size);
  if (!classes.empty()) m["classes"] = json(classes).dump();
  if (!mean.empty()) m["mean"] = json(mean).dump();
  if (!std.empty()) m["std"] = json(std).dump();
  if (!preprocessing.empty()) m["preprocessing"] = preprocessing;
  if (resize_size > 0) m["resize_size"] = std::to_string(resize_size);
  return m;
}

ModelMetadata ModelMetadata::from_file_metadata(const std::map<std::string, std::string>& meta,
                                                const std::string& file) {
  ModelMetadata md;
  auto has = [&](const char* key) { return meta.count(key) > 0; };
  if (has("model")) md.spec.name = meta.at("model");
  if (has("model_options"))
    md.spec.options = parse_entry<std::map<std::string, std::string>>(meta, "model_options", file);
  if (has("num_classes")) md.spec.num_classes = parse_count(meta, "num_classes", file);
  if (has("in_channels")) md.spec.in_channels = parse_count(meta, "in_channels", file);
  if (has("input_size")) md.spec.input_size = parse_count(meta, "input_size", file);
  if (has("classes")) md.classes = parse_entry<std::vector<std::string>>(meta, "classes", file);
  if (has("mean")) md.mean = parse_entry<std::vector<float>>(meta, "mean", file);
  if (has("std")) md.std = parse_entry<std::vector<float>>(meta, "std", file);
  if (has("preprocessing")) md.preprocessing = meta.at("preprocessing");
  if (has("resize_size")) md.resize_size = parse_count(meta, "resize_size", file);
  return md;
}

void load_state(nn::Module& model, const io::SafetensorsFile& file, const std::string& path) {
  const io::SafetensorsFile f = compress::decompress(file, path);
  nn::NamedTensors state;
  for (const auto& e : f.tensors) {
    // Optimizer state (checkpoints) and pruning masks are not the model's.
    if (e.name.rfind("optim.", 0) == 0 || e.name.rfind("mask.", 0) == 0) continue;
    check(is_bn_counter(e.name) || e.dtype == "F32" || e.dtype == "F64" || e.dtype == "F16" ||
              e.dtype == "BF16",
          path + ": tensor '" + e.name + "' has dtype " + e.dtype + ", expected a float type");
    state.emplace_back(e.name, e.value);
  }
  // Files exported from PyTorch without batch-norm counters (they only matter for
  // momentum=None) load as if they held the model's own counters.
  std::set<std::string> given;
  for (const auto& kv : state) given.insert(kv.first);
  for (const auto& [name, t] : model.state_dict()) {
    if (is_bn_counter(name) && !given.count(name)) state.emplace_back(name, t.clone());
  }
  try {
    model.load_state_dict(state);
  } catch (const Error& e) {
    throw Error(path + ": " + e.what());
  }
}

std::map<std::string, std::string> load_weights(nn::Module& model, const std::string& path) {
  io::SafetensorsFile f = io::load_safetensors(path);
  load_state(model, f, path);
  return f.metadata;
}

void save_weights(const nn::Module& model, const ModelMetadata& meta, const std::string& path,
                  const std::string& format) {
  std::map<std::string, std::string> m = meta.to_file_metadata();
  m["format"] = format;
  io::save_safetensors(path, model.state_dict(), m);
}

}  // namespace cnnzoo
