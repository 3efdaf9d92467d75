// Magnitude pruning, masks, and k-bit weight sharing in the "cnnzoo-compressed" file format.
#include "cnnzoo/compression.hpp"

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <numeric>
#include <set>

#include "io/json_number.hpp"

namespace cnnzoo::compress {

using json = nlohmann::json;

namespace {

constexpr const char* kMaskPrefix = "mask.";

std::vector<std::pair<std::string, Var>> prunable_parameters(const nn::Module& model) {
  std::vector<std::pair<std::string, Var>> out;
  for (auto& [name, p] : model.named_parameters()) {
    const bool weight = name.size() > 7 && name.compare(name.size() - 7, 7, ".weight") == 0;
    if (weight && p.value().dim() >= 2) out.emplace_back(name, p);
  }
  return out;
}

void check_sparsity(double s, const std::string& what) {
  check(std::isfinite(s) && s >= 0 && s <= 1,
        "prune: sparsity " + std::to_string(s) + " of " + what + " is outside [0, 1]");
}

// Zeroes the k entries of smallest magnitude (ties: lower index first).
void zero_smallest(Tensor& w, int64_t k) {
  if (k <= 0) return;
  std::vector<int64_t> idx(static_cast<size_t>(w.numel()));
  std::iota(idx.begin(), idx.end(), 0);
  auto less = [&](int64_t a, int64_t b) {
    const float fa = std::fabs(w[a]), fb = std::fabs(w[b]);
    return fa < fb || (fa == fb && a < b);
  };
  std::nth_element(idx.begin(), idx.begin() + (k - 1), idx.end(), less);
  for (int64_t i = 0; i < k; ++i) w[idx[i]] = 0;
}

Tensor mask_of(const Tensor& w) {
  Tensor m = Tensor::empty(w.shape());
  for (int64_t i = 0; i < w.numel(); ++i) m[i] = w[i] != 0 ? 1.0f : 0.0f;
  return m;
}

}  // namespace

std::vector<std::string> prunable(const nn::Module& model) {
  std::vector<std::string> names;
  for (const auto& kv : prunable_parameters(model)) names.push_back(kv.first);
  return names;
}

Masks prune(nn::Module& model, const PruneOptions& options) {
  check_sparsity(options.sparsity, "the model");
  auto params = prunable_parameters(model);
  check(!params.empty(), "prune: the model has no convolution or linear weights");
  std::map<std::string, double> per_layer;
  for (const auto& [key, s] : options.per_layer) {
    check_sparsity(s, key);
    std::string name;
    for (const auto& kv : params)
      if (kv.first == key || kv.first == key + ".weight") name = kv.first;
    check(!name.empty(), "prune: '" + key +
                             "' is not a convolution or linear layer of the model (e.g. " +
                             params.front().first + ")");
    per_layer[name] = s;
  }
  check(!options.global || per_layer.empty(),
        "prune: per-layer sparsities are for layer-wise pruning, not global");
  if (options.global) {
    // One threshold: the k-th smallest magnitude over every prunable weight.
    std::vector<float> mags;
    for (auto& kv : params)
      for (float v : kv.second.value()) mags.push_back(std::fabs(v));
    const int64_t k = std::llround(options.sparsity * static_cast<double>(mags.size()));
    if (k > 0) {
      std::nth_element(mags.begin(), mags.begin() + (k - 1), mags.end());
      const float threshold = mags[static_cast<size_t>(k - 1)];
      int64_t below = 0;
      for (auto& kv : params)
        for (float v : kv.second.value()) below += std::fabs(v) < threshold;
      int64_t at_threshold_left = k - below;  // ties at the threshold, in parameter order
      for (auto& kv : params)
        for (float& v : kv.second.value()) {
          const float a = std::fabs(v);
          if (a < threshold) {
            v = 0;
          } else if (a == threshold && at_threshold_left > 0) {
            v = 0;
            --at_threshold_left;
          }
        }
    }
  } else {
    for (auto& [name, p] : params) {
      auto it = per_layer.find(name);
      const double s = it == per_layer.end() ? options.sparsity : it->second;
      zero_smallest(p.value(), std::llround(s * static_cast<double>(p.value().numel())));
    }
  }
  model.prepare_for_inference();  // weights written by hand: drop anything derived from them
  if (model.is_training()) model.train();
  Masks masks;
  for (auto& [name, p] : params) masks.emplace_back(name, mask_of(p.value()));
  return masks;
}

void apply_masks(nn::Module& model, const Masks& masks) {
  auto params = prunable_parameters(model);
  for (const auto& entry : masks) {
    const std::string& name = entry.first;
    const Tensor& m = entry.second;
    auto it = std::find_if(params.begin(), params.end(),
                           [&](const auto& kv) { return kv.first == name; });
    check(it != params.end(), "apply_masks: the model has no weight '" + name + "'");
    Tensor& w = it->second.value();
    check(w.shape() == m.shape(), "apply_masks: mask of '" + name + "' is " + m.shape_str() +
                                      ", the weight " + w.shape_str());
    for (int64_t i = 0; i < w.numel(); ++i) w[i] *= m[i];
  }
}

std::vector<LayerSparsity> sparsity(const nn::Module& model) {
  std::vector<LayerSparsity> out;
  for (const auto& [name, p] : prunable_parameters(model)) {
    LayerSparsity l{name, p.value().numel(), 0};
    for (float v : p.value()) l.zeros += v == 0;
    out.push_back(l);
  }
  return out;
}

void save_pruned(const nn::Module& model, const ModelMetadata& meta, const Masks& masks,
                 const std::string& path) {
  std::vector<io::RawTensor> raw;
  for (const auto& [name, m] : masks) {
    io::RawTensor r{kMaskPrefix + name, "U8", m.shape(), std::string(m.numel(), '\0')};
    for (int64_t i = 0; i < m.numel(); ++i) r.bytes[i] = m[i] != 0 ? 1 : 0;
    raw.push_back(std::move(r));
  }
  std::map<std::string, std::string> md = meta.to_file_metadata();
  md["format"] = "cnnzoo-weights";
  io::save_safetensors_raw(path, model.state_dict(), raw, md);
}

Masks read_masks(const io::SafetensorsFile& file, const nn::Module& model,
                 const std::string& path) {
  auto params = prunable_parameters(model);
  Masks masks;
  for (const auto& e : file.tensors) {
    if (e.name.rfind(kMaskPrefix, 0) != 0) continue;
    const std::string name = e.name.substr(5);
    auto it = std::find_if(params.begin(), params.end(),
                           [&](const auto& kv) { return kv.first == name; });
    check(it != params.end(),
          path + ": mask '" + e.name + "' names no convolution or linear weight of the model");
    check(e.value.shape() == it->second.value().shape(), path + ": mask '" + e.name + "' is " +
                                                             e.value.shape_str() + ", the weight " +
                                                             it->second.value().shape_str());
    for (float v : e.value)
      check(v == 0 || v == 1, path + ": mask '" + e.name + "' holds a value other than 0 and 1");
    masks.emplace_back(name, e.value);
  }
  return masks;
}

// ---- weight sharing ---------------------------------------------------------------------------

namespace {

// Shared values for sorted data by Lloyd's k-means in one dimension, from centroids spread
// evenly between the smallest and the largest value (the linear initialisation Han et al.
// found best: it keeps centroids on the rare large weights).
std::vector<float> kmeans_1d(const std::vector<float>& sorted, int64_t clusters, int iterations) {
  const int64_t n = static_cast<int64_t>(sorted.size());
  const int64_t k = std::min<int64_t>(clusters, n);
  std::vector<double> prefix(n + 1, 0.0);
  for (int64_t i = 0; i < n; ++i) prefix[i + 1] = prefix[i] + sorted[i];
  std::vector<double> c(k);
  const double lo = sorted.front(), hi = sorted.back();
  for (int64_t j = 0; j < k; ++j) c[j] = k == 1 ? (lo + hi) / 2 : lo + (hi - lo) * j / (k - 1);
  for (int it = 0; it < iterations; ++it) {
    bool moved = false;
    int64_t begin = 0;
    for (int64_t j = 0; j < k; ++j) {
      // Cluster j takes the values up to the midpoint with the next centroid.
      int64_t end = n;
      if (j + 1 < k) {
        const float mid = static_cast<float>((c[j] + c[j + 1]) / 2);
        end = std::upper_bound(sorted.begin() + begin, sorted.end(), mid) - sorted.begin();
      }
      if (end > begin) {
        const double mean = (prefix[end] - prefix[begin]) / static_cast<double>(end - begin);
        moved = moved || mean != c[j];
        c[j] = mean;
      }
      begin = end;
    }
    std::sort(c.begin(), c.end());
    if (!moved) break;
  }
  return std::vector<float>(c.begin(), c.end());
}

int64_t nearest(const std::vector<float>& centroids, float v) {
  auto it = std::lower_bound(centroids.begin(), centroids.end(), v);
  if (it == centroids.end()) return static_cast<int64_t>(centroids.size()) - 1;
  if (it == centroids.begin()) return 0;
  return (v - *(it - 1) <= *it - v) ? (it - centroids.begin()) - 1 : it - centroids.begin();
}

std::string deflate_bytes(const std::string& in, const std::string& path) {
  uLongf size = compressBound(static_cast<uLong>(in.size()));
  std::string out(size, '\0');
  const int rc = compress2(reinterpret_cast<Bytef*>(out.data()), &size,
                           reinterpret_cast<const Bytef*>(in.data()), static_cast<uLong>(in.size()),
                           Z_BEST_COMPRESSION);
  check(rc == Z_OK, "compress: zlib failed (" + std::to_string(rc) + ") for " + path);
  out.resize(size);
  return out;
}

}  // namespace

CompressReport save_compressed(const nn::Module& model, const ModelMetadata& meta,
                               const std::string& path, const CompressOptions& options) {
  for (int bits : {options.conv_bits, options.linear_bits})
    check(bits >= 1 && bits <= 8,
          "compress: " + std::to_string(bits) + " bits per weight is outside [1, 8]");
  check(options.iterations >= 1, "compress: k-means needs at least one iteration");
  std::map<std::string, std::string> md = meta.to_file_metadata();
  md["format"] = "cnnzoo-weights";
  CompressReport report;
  report.dense_bytes =
      static_cast<int64_t>(io::to_safetensors_bytes(model.state_dict(), md).size());
  const std::vector<std::string> shared = prunable(model);
  nn::NamedTensors dense;
  std::vector<io::RawTensor> raw;
  json layers = json::object();
  for (const auto& [name, w] : model.state_dict()) {
    if (std::find(shared.begin(), shared.end(), name) == shared.end()) {
      dense.emplace_back(name, w);
      continue;
    }
    const int bits = w.dim() == 2 ? options.linear_bits : options.conv_bits;
    std::vector<float> nonzero;
    for (float v : w)
      if (v != 0) nonzero.push_back(v);
    std::sort(nonzero.begin(), nonzero.end());
    std::vector<float> codebook;
    if (!nonzero.empty())
      codebook = kmeans_1d(nonzero, (int64_t(1) << bits) - 1, options.iterations);
    // Codes packed `bits` to a weight, least significant bit first.
    std::string packed(static_cast<size_t>((w.numel() * bits + 7) / 8), '\0');
    for (int64_t i = 0; i < w.numel(); ++i) {
      const float v = w[i];
      int64_t code = 0;
      if (v != 0) {
        const int64_t j = nearest(codebook, v);
        code = j + 1;
        report.max_error =
            std::max(report.max_error, static_cast<double>(std::fabs(v - codebook[j])));
      } else {
        ++report.zeros;
      }
      for (int b = 0; b < bits; ++b)
        if (code >> b & 1) {
          const int64_t bit = i * bits + b;
          packed[bit / 8] = static_cast<char>(packed[bit / 8] | (1 << (bit % 8)));
        }
    }
    report.weights += w.numel();
    std::string codes = deflate_bytes(packed, path);
    const Shape codes_shape = {static_cast<int64_t>(codes.size())};
    raw.push_back({name + ".codes", "U8", codes_shape, std::move(codes)});
    dense.emplace_back(name + ".codebook",
                       Tensor::from_vector({static_cast<int64_t>(codebook.size())}, codebook));
    layers[name] = {{"shape", w.shape()}, {"bits", bits}};
  }
  md["format"] = "cnnzoo-compressed";
  md["compression"] = layers.dump();
  io::save_safetensors_raw(path, dense, raw, md);
  report.compressed_bytes = static_cast<int64_t>(std::filesystem::file_size(path));
  return report;
}

io::SafetensorsFile decompress(const io::SafetensorsFile& file, const std::string& path) {
  auto format = file.metadata.find("format");
  if (format == file.metadata.end() || format->second != "cnnzoo-compressed") return file;
  auto spec = file.metadata.find("compression");
  check(spec != file.metadata.end(),
        path + ": a cnnzoo-compressed file without its 'compression' metadata");
  json layers;
  try {
    layers = json::parse(spec->second);
  } catch (const json::exception& e) {
    throw Error(path + ": the 'compression' metadata is not JSON: " + e.what());
  }
  check(layers.is_object(), path + ": the 'compression' metadata is not an object");
  io::SafetensorsFile out;
  out.metadata = file.metadata;
  std::set<std::string> consumed;
  for (const auto& [name, layer] : layers.items()) {
    try {
      Shape shape;
      for (const auto& d : layer.at("shape")) {
        int64_t v = 0;
        io::json_read(d, v);
        check(v >= 0, path + ": '" + name + "' has a negative dimension");
        shape.push_back(v);
      }
      int64_t bits = 0;
      io::json_read(layer.at("bits"), bits);
      check(bits >= 1 && bits <= 8,
            path + ": '" + name + "' has " + std::to_string(bits) + " bits per weight (1 to 8)");
      int64_t numel = 1;
      for (int64_t d : shape) {
        check(d == 0 || numel <= kMaxDecodedElements / d,
              path + ": '" + name + "' declares more than 2^31 elements");
        numel *= d;
      }
      const io::SafetensorsEntry* codebook = file.find(name + ".codebook");
      const io::SafetensorsEntry* codes = file.find(name + ".codes");
      check(codebook && codes, path + ": '" + name + "' lacks its .codebook or .codes entry");
      check(codes->dtype == "U8" && codes->value.dim() == 1,
            path + ": '" + name + ".codes' is not a 1-D U8 tensor");
      check(codebook->value.dim() == 1 && codebook->value.numel() < (int64_t(1) << bits),
            path + ": '" + name + ".codebook' has " + codebook->value.shape_str() +
                " entries for " + std::to_string(bits) + "-bit codes");
      const uLongf packed_size = static_cast<uLongf>((numel * bits + 7) / 8);
      // deflate expands at most about 1032-fold: a larger claim is not this file's content.
      check(static_cast<int64_t>(packed_size) <= 1032 * codes->value.numel() + 64,
            path + ": '" + name + "' declares " + std::to_string(numel) + " weights from " +
                std::to_string(codes->value.numel()) + " compressed bytes");
      std::string in(static_cast<size_t>(codes->value.numel()), '\0');
      for (int64_t i = 0; i < codes->value.numel(); ++i)
        in[i] = static_cast<char>(static_cast<uint8_t>(codes->value[i]));
      std::string packed(packed_size, '\0');
      uLongf got = packed_size;
      const int rc =
          uncompress(reinterpret_cast<Bytef*>(packed.data()), &got,
                     reinterpret_cast<const Bytef*>(in.data()), static_cast<uLong>(in.size()));
      check(rc == Z_OK && got == packed_size, path + ": '" + name + ".codes' does not inflate to " +
                                                  std::to_string(packed_size) + " bytes (zlib " +
                                                  std::to_string(rc) + ")");
      const Tensor& book = codebook->value;
      Tensor w = Tensor::empty(shape);
      for (int64_t i = 0; i < numel; ++i) {
        int64_t code = 0;
        for (int64_t b = 0; b < bits; ++b) {
          const int64_t bit = i * bits + b;
          code |= static_cast<int64_t>((static_cast<uint8_t>(packed[bit / 8]) >> (bit % 8)) & 1)
                  << b;
        }
        check(code <= book.numel(), path + ": '" + name + "' has code " + std::to_string(code) +
                                        " beyond its " + std::to_string(book.numel()) +
                                        "-entry codebook");
        w[i] = code == 0 ? 0.0f : book[code - 1];
      }
      out.tensors.push_back({name, "F32", shape, w});
      consumed.insert(name + ".codebook");
      consumed.insert(name + ".codes");
    } catch (const json::exception& e) {
      throw Error(path + ": the compression entry of '" + name + "' is malformed: " + e.what());
    }
  }
  for (const auto& e : file.tensors)
    if (!consumed.count(e.name)) out.tensors.push_back(e);
  return out;
}

}  // namespace cnnzoo::compress
