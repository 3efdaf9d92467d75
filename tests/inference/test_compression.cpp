// Pruning and weight sharing: which weights go, the masks' file and their survival through
// fine-tuning, the compressed format's round trip, its size, and hostile compressed files.
#include "cnnzoo/compression.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "cnnzoo/models.hpp"
#include "cnnzoo/random.hpp"
#include "cnnzoo/train/trainer.hpp"
#include "data_paths.hpp"
#include "model_metadata.hpp"
#include "synthetic_data.hpp"

using namespace cnnzoo;

namespace {

ModelMetadata resnet20_metadata() {
  return cifar_metadata("resnet20");
}

nn::ModulePtr resnet20(uint64_t seed) {
  manual_seed(seed);
  return models::build_model(resnet20_metadata().spec);
}

Tensor weight(const nn::Module& m, const std::string& name) {
  for (const auto& [n, p] : m.named_parameters())
    if (n == name) return p.value();
  ADD_FAILURE() << "no parameter " << name;
  return {};
}

template <class F>
void expect_error(F&& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one mentioning " << needle;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(Prune, LayerWiseTakesTheSmallestShareOfEveryLayer) {
  nn::ModulePtr m = resnet20(1);
  nn::ModulePtr original = resnet20(1);
  compress::PruneOptions o;
  o.sparsity = 0.8;
  o.per_layer = {{"fc", 0.5}};
  const compress::Masks masks = compress::prune(*m, o);
  const std::vector<std::string> names = compress::prunable(*m);
  ASSERT_EQ(masks.size(), names.size());
  EXPECT_EQ(names.size(), 20u);  // 19 convolutions and the classifier; no BN, no bias
  for (const auto& [name, mask] : masks) {
    SCOPED_TRACE(name);
    const Tensor w = weight(*m, name), w0 = weight(*original, name);
    const double s = name == "fc.weight" ? 0.5 : 0.8;
    int64_t zeros = 0;
    float largest_pruned = 0, smallest_kept = INFINITY;
    for (int64_t i = 0; i < w.numel(); ++i) {
      EXPECT_EQ(mask[i], w[i] != 0 ? 1.0f : 0.0f);
      if (w[i] == 0) {
        ++zeros;
        largest_pruned = std::max(largest_pruned, std::fabs(w0[i]));
      } else {
        EXPECT_EQ(w[i], w0[i]);  // kept weights are untouched
        smallest_kept = std::min(smallest_kept, std::fabs(w0[i]));
      }
    }
    EXPECT_EQ(zeros, std::llround(s * static_cast<double>(w.numel())));
    EXPECT_LE(largest_pruned, smallest_kept);
  }
  // Batch norm and the classifier's bias are not pruned.
  for (const auto& [name, p] : m->named_parameters())
    if (name.find("bn") != std::string::npos || name == "fc.bias") {
      const Tensor w0 = weight(*original, name);
      for (int64_t i = 0; i < w0.numel(); ++i) EXPECT_EQ(p.value()[i], w0[i]) << name;
    }
}

TEST(Prune, GlobalUsesOneThresholdOverAllLayers) {
  nn::ModulePtr m = resnet20(2);
  nn::ModulePtr original = resnet20(2);
  compress::PruneOptions o;
  o.sparsity = 0.9;
  o.global = true;
  compress::prune(*m, o);
  int64_t total = 0, zeros = 0;
  float largest_pruned = 0, smallest_kept = INFINITY;
  std::set<double> layer_shares;
  for (const auto& name : compress::prunable(*m)) {
    const Tensor w = weight(*m, name), w0 = weight(*original, name);
    int64_t z = 0;
    for (int64_t i = 0; i < w.numel(); ++i) {
      if (w[i] == 0) {
        ++z;
        largest_pruned = std::max(largest_pruned, std::fabs(w0[i]));
      } else {
        smallest_kept = std::min(smallest_kept, std::fabs(w0[i]));
      }
    }
    total += w.numel();
    zeros += z;
    layer_shares.insert(std::round(100.0 * z / w.numel()));
  }
  EXPECT_EQ(zeros, std::llround(0.9 * static_cast<double>(total)));
  EXPECT_LE(largest_pruned, smallest_kept);
  EXPECT_GT(layer_shares.size(), 3u);  // the layers lose different shares
  // Refusals.
  expect_error([&] { compress::prune(*m, {1.5, false, {}}); }, "outside [0, 1]");
  expect_error([&] { compress::prune(*m, {0.5, false, {{"layer9", 0.5}}}); }, "'layer9'");
  expect_error([&] { compress::prune(*m, {0.5, true, {{"fc", 0.5}}}); }, "not global");
}

TEST(Prune, MasksTravelInTheFileAndTheFileLoadsAsAModel) {
  TempDir tmp;
  nn::ModulePtr m = resnet20(3);
  const compress::Masks masks = compress::prune(*m, {0.7, false, {}});
  compress::save_pruned(*m, resnet20_metadata(), masks, tmp / "p.safetensors");
  const io::SafetensorsFile f = io::load_safetensors(tmp / "p.safetensors");
  const compress::Masks back = compress::read_masks(f, *m, "p");
  ASSERT_EQ(back.size(), masks.size());
  for (size_t i = 0; i < masks.size(); ++i) {
    EXPECT_EQ(back[i].first, masks[i].first);
    EXPECT_EQ(f.find("mask." + masks[i].first)->dtype, "U8");
    for (int64_t j = 0; j < masks[i].second.numel(); ++j)
      EXPECT_EQ(back[i].second[j], masks[i].second[j]);
  }
  const Classifier c = Classifier::load(tmp / "p.safetensors");
  for (const auto& [name, p] : c.module().named_parameters()) {
    const Tensor w = weight(*m, name);
    for (int64_t i = 0; i < w.numel(); ++i) ASSERT_EQ(p.value()[i], w[i]) << name;
  }
  // A mask that does not fit the model is refused.
  io::save_safetensors(tmp / "bad.safetensors", {{"mask.fc.weight", Tensor::ones({3, 3})}});
  expect_error(
      [&] { compress::read_masks(io::load_safetensors(tmp / "bad.safetensors"), *m, "bad"); },
      "mask 'mask.fc.weight' is [3, 3]");
}

TEST(Prune, FineTuningKeepsTheMasksThroughStepsAndResume) {
  TempDir tmp;
  ModelMetadata md;
  md.spec.name = "lenet5";
  md.spec.num_classes = 4;
  md.spec.in_channels = 1;
  md.spec.input_size = 32;
  md.classes = {"nw", "ne", "sw", "se"};
  md.mean = {0.3f};
  md.std = {0.3f};
  md.preprocessing = "resize";
  manual_seed(4);
  nn::ModulePtr m = models::build_model(md.spec);
  const compress::Masks masks = compress::prune(*m, {0.8, false, {}});
  compress::save_pruned(*m, md, masks, tmp / "pruned.safetensors");
  data::DatasetSplit data{quadrants(96, 1), quadrants(32, 2)};
  train::TrainConfig cfg;
  cfg.model = "lenet5";
  cfg.epochs = 2;
  cfg.batch = 16;
  cfg.lr = 0.05;
  cfg.augment = "none";
  cfg.progress = false;
  cfg.out = tmp / "run";
  cfg.pruned_from = tmp / "pruned.safetensors";
  cfg.stop_after = 1;
  auto check_masked = [&](const nn::Module& trained, bool expect_changes) {
    int64_t changed = 0;
    for (const auto& [name, mask] : masks) {
      const Tensor w = weight(trained, name), w0 = weight(*m, name);
      for (int64_t i = 0; i < w.numel(); ++i) {
        if (mask[i] == 0) ASSERT_EQ(w[i], 0.0f) << name << " " << i;
        changed += w[i] != w0[i];
      }
    }
    if (expect_changes) EXPECT_GT(changed, 100);
  };
  {
    manual_seed(cfg.seed);
    train::Trainer t(models::build_model(train::model_spec(cfg, data)), data, cfg);
    t.fit();
    check_masked(t.model(), true);
  }
  // The checkpoint carries the masks: the resumed run keeps them without the pruned file.
  std::filesystem::remove(tmp / "pruned.safetensors");
  train::TrainConfig again = cfg;
  again.resume = true;
  again.stop_after = 0;
  again = train::resumed_config(again);
  manual_seed(again.seed);
  train::Trainer t(models::build_model(train::model_spec(again, data)), data, again);
  t.fit();
  EXPECT_EQ(t.epochs_done(), 2);
  check_masked(t.model(), true);
  // A run from a file without masks is refused.
  train::TrainConfig plain = cfg;
  plain.out = tmp / "run2";
  plain.pruned_from = tmp / "plain.safetensors";
  save_weights(*m, md, plain.pruned_from);
  expect_error(
      [&] { train::Trainer(models::build_model(train::model_spec(plain, data)), data, plain); },
      "no pruning masks");
}

TEST(Compress, SharedWeightsRoundTripAndShrinkThePrunedFile) {
  TempDir tmp;
  nn::ModulePtr m = resnet20(5);
  compress::prune(*m, {0.9, false, {}});
  compress::CompressOptions o;
  o.conv_bits = 5;
  o.linear_bits = 4;
  const compress::CompressReport r =
      compress::save_compressed(*m, resnet20_metadata(), tmp / "c.safetensors", o);
  EXPECT_EQ(r.compressed_bytes,
            static_cast<int64_t>(std::filesystem::file_size(tmp / "c.safetensors")));
  // 90% zeros and 5-bit codes: far smaller than float32 (32 / 5 bits alone is 6.4x).
  EXPECT_GT(static_cast<double>(r.dense_bytes) / r.compressed_bytes, 8.0);
  const Classifier c = Classifier::load(tmp / "c.safetensors");
  double max_error = 0;
  for (const auto& name : compress::prunable(*m)) {
    SCOPED_TRACE(name);
    const Tensor w = weight(*m, name), q = weight(c.module(), name);
    std::set<float> values;
    for (int64_t i = 0; i < w.numel(); ++i) {
      EXPECT_EQ(q[i] == 0, w[i] == 0);  // pruned stay pruned, kept stay nonzero
      if (q[i] != 0) values.insert(q[i]);
      max_error = std::max(max_error, static_cast<double>(std::fabs(q[i] - w[i])));
    }
    EXPECT_LE(values.size(), name == "fc.weight" ? 15u : 31u);
  }
  EXPECT_DOUBLE_EQ(max_error, r.max_error);
  // Not pruned: BN and biases come back exactly.
  for (const auto& [name, p] : m->named_parameters())
    if (name.find("bn") != std::string::npos || name == "fc.bias") {
      const Tensor q = weight(c.module(), name);
      for (int64_t i = 0; i < q.numel(); ++i) EXPECT_EQ(q[i], p.value()[i]) << name;
    }
  // More bits, smaller error.
  compress::CompressOptions fine;
  fine.conv_bits = fine.linear_bits = 8;
  EXPECT_LT(
      compress::save_compressed(*m, resnet20_metadata(), tmp / "c8.safetensors", fine).max_error,
      r.max_error);
}

TEST(Compress, HostileCompressedFilesGetAnErrorNamingTheProblem) {
  TempDir tmp;
  nn::ModulePtr m = resnet20(6);
  compress::save_compressed(*m, resnet20_metadata(), tmp / "c.safetensors");
  const io::SafetensorsFile good = io::load_safetensors(tmp / "c.safetensors");
  auto with = [&](const std::function<void(io::SafetensorsFile&)>& edit) {
    io::SafetensorsFile f = good;
    edit(f);
    return f;
  };
  using nlohmann::json;
  auto set_layer = [](io::SafetensorsFile& f, const std::string& key, json value) {
    json layers = json::parse(f.metadata.at("compression"));
    layers["conv1.weight"][key] = value;
    f.metadata["compression"] = layers.dump();
  };
  auto entry = [](io::SafetensorsFile& f, const std::string& name) -> io::SafetensorsEntry& {
    for (auto& e : f.tensors)
      if (e.name == name) return e;
    throw std::runtime_error("no " + name);
  };
  expect_error([&] { compress::decompress(with([&](auto& f) { set_layer(f, "bits", 9); }), "x"); },
               "9 bits per weight");
  expect_error(
      [&] {
        compress::decompress(with([&](auto& f) {
                               set_layer(f, "shape", json::array({1 << 20, 1 << 20, 64}));
                             }),
                             "x");
      },
      "more than 2^31");
  expect_error(
      [&] {
        compress::decompress(with([&](auto& f) {
                               set_layer(f, "shape", json::array({100000, 1000}));
                             }),
                             "x");
      },
      "compressed bytes");
  expect_error(
      [&] {
        compress::decompress(with([&](auto& f) {
                               auto& e = entry(f, "conv1.weight.codes");
                               e.value = Tensor::zeros({e.value.numel() / 2});
                             }),
                             "x");
      },
      "does not inflate");
  expect_error(
      [&] {
        compress::decompress(with([&](auto& f) {
                               auto& e = entry(f, "conv1.weight.codebook");
                               e.value = Tensor::zeros({2});
                             }),
                             "x");
      },
      "beyond its 2-entry codebook");
  expect_error(
      [&] {
        compress::decompress(with([&](auto& f) { f.metadata["compression"] = "{not json"; }), "x");
      },
      "not JSON");
  expect_error(
      [&] {
        compress::decompress(with([&](auto& f) {
                               f.tensors.erase(std::remove_if(f.tensors.begin(), f.tensors.end(),
                                                              [](const io::SafetensorsEntry& e) {
                                                                return e.name == "fc.weight.codes";
                                                              }),
                                               f.tensors.end());
                             }),
                             "x");
      },
      "lacks its .codebook or .codes");
}

}  // namespace
