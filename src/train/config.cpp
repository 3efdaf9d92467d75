// The training configuration: JSON for checkpoints, the datasets' recipes, the run's file
// names, the configuration a resumed run continues with, and the data it names.
#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "cnnzoo/io/safetensors.hpp"
#include "cnnzoo/random.hpp"
#include "cnnzoo/train/trainer.hpp"
#include "io/json_number.hpp"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace cnnzoo::train {

std::string TrainConfig::to_json() const {
  json j = {{"model", model},
            {"model_options", model_options},
            {"num_classes", num_classes},
            {"data", data},
            {"dataset", dataset},
            {"augment", augment},
            {"crop_padding", crop_padding},
            {"cutout", cutout},
            {"image_size", image_size},
            {"limit_train", limit_train},
            {"limit_test", limit_test},
            {"epochs", epochs},
            {"batch", batch},
            {"lr", lr},
            {"schedule", schedule},
            {"milestones", milestones},
            {"gamma", gamma},
            {"warmup", warmup},
            {"momentum", momentum},
            {"nesterov", nesterov},
            {"weight_decay", weight_decay},
            {"decay_bn_and_bias", decay_bn_and_bias},
            {"label_smoothing", label_smoothing},
            {"aux_loss_weight", aux_loss_weight},
            {"precision", precision},
            {"sync_bn", sync_bn},
            {"pruned_from", pruned_from},
            {"threads", threads},
            {"seed", seed},
            {"out", out}};
  return j.dump();
}

TrainConfig TrainConfig::from_json(const std::string& text) {
  TrainConfig c;
  try {
    json j = json::parse(text);
    c.model = j.at("model");
    c.model_options = j.at("model_options").get<std::map<std::string, std::string>>();
    io::json_read(j.at("num_classes"), c.num_classes);
    c.data = j.at("data");
    c.dataset = j.at("dataset");
    c.augment = j.at("augment");
    io::json_read(j.at("crop_padding"), c.crop_padding);
    io::json_read(j.at("cutout"), c.cutout);
    io::json_read(j.at("image_size"), c.image_size);
    io::json_read(j.at("limit_train"), c.limit_train);
    io::json_read(j.at("limit_test"), c.limit_test);
    io::json_read(j.at("epochs"), c.epochs);
    io::json_read(j.at("batch"), c.batch);
    c.lr = j.at("lr");
    c.schedule = j.at("schedule");
    io::json_read(j.at("milestones"), c.milestones);
    c.gamma = j.at("gamma");
    c.warmup = j.at("warmup");
    c.momentum = j.at("momentum");
    c.nesterov = j.at("nesterov");
    c.weight_decay = j.at("weight_decay");
    c.decay_bn_and_bias = j.at("decay_bn_and_bias");
    c.label_smoothing = j.at("label_smoothing");
    c.aux_loss_weight = j.value("aux_loss_weight", -1.0);   // absent from older checkpoints
    c.precision = j.value("precision", "fp32");             // absent from older checkpoints
    c.sync_bn = j.value("sync_bn", false);                  // absent from older checkpoints
    c.pruned_from = j.value("pruned_from", std::string());  // absent from older checkpoints
    io::json_read(j.at("threads"), c.threads);
    io::json_read(j.at("seed"), c.seed);
    c.out = j.at("out");
  } catch (const json::exception& e) {
    throw Error(std::string("training config: malformed JSON (") + e.what() + ")");
  }
  return c;
}

Recipe default_recipe(const std::string& dataset_kind) {
  if (dataset_kind == "fashion-mnist" || dataset_kind == "mnist") return {64, 0.05, "none"};
  return {128, 0.1, "crop,flip"};
}

double auxiliary_loss_weight(const std::string& model) {
  if (model == "googlenet" || model == "googlenet-cifar") return 0.3;
  if (model == "inception_v3") return 0.4;
  return -1;
}

std::string checkpoint_path(const std::string& out_dir) {
  return (fs::path(out_dir) / "checkpoint.safetensors").string();
}
std::string weights_path(const std::string& out_dir) {
  return (fs::path(out_dir) / "model.safetensors").string();
}
std::string best_weights_path(const std::string& out_dir) {
  return (fs::path(out_dir) / "best.safetensors").string();
}

TrainConfig resumed_config(const TrainConfig& config, dist::Communicator* group) {
  const std::string ck = checkpoint_path(config.out);
  // Rank 0 reads the checkpoint; only its trainer metadata travels to the other ranks.
  std::string trainer;
  if (!group || group->is_root()) {
    check(fs::exists(ck), "--resume: no checkpoint at " + ck);
    io::SafetensorsFile f = io::load_safetensors(ck);
    auto it = f.metadata.find("trainer");
    check(it != f.metadata.end(), ck + ": not a training checkpoint (no trainer metadata)");
    trainer = it->second;
  }
  if (group) trainer = dist::broadcast_string(*group, trainer);
  json t = json::parse(trainer, nullptr, false);
  check(!t.is_discarded() && t.is_object() && t.contains("config"),
        ck + ": malformed trainer metadata");
  // The run's own recipe wins; what may change between sessions comes from `config`, and
  // the run continues in the directory it was found in (a copied or moved run writes there,
  // not where it was first started).
  TrainConfig saved = TrainConfig::from_json(t["config"].dump());
  saved.epochs = std::max(saved.epochs, config.epochs);
  saved.progress = config.progress;
  saved.resume = true;
  saved.stop_after = config.stop_after;
  saved.time_limit_minutes = config.time_limit_minutes;
  saved.checkpoint_minutes = config.checkpoint_minutes;
  saved.reshard = config.reshard;
  saved.out = config.out;
  if (config.threads > 0) saved.threads = config.threads;
  return saved;
}

namespace {

// n images drawn at random (fixed by seed), in dataset order: a quick run on a subset sees
// every class even though folders and CIFAR-100 files are sorted by class.
data::Dataset random_subset(const data::Dataset& ds, int64_t n, uint64_t seed) {
  if (n >= ds.size()) return ds;
  std::vector<int64_t> idx(ds.size());
  for (int64_t i = 0; i < ds.size(); ++i) idx[i] = i;
  Generator g(seed ^ 0x9e3779b97f4a7c15ULL);
  for (int64_t i = 0; i < n; ++i) std::swap(idx[i], idx[i + g.randint(ds.size() - i)]);
  idx.resize(n);
  std::sort(idx.begin(), idx.end());
  data::Dataset out = ds;
  const int64_t per = ds.channels * ds.height * ds.width;
  out.images.resize(n * per);
  out.labels.resize(n);
  for (int64_t i = 0; i < n; ++i) {
    std::copy_n(ds.image(idx[i]), per, out.images.begin() + i * per);
    out.labels[i] = ds.labels[idx[i]];
  }
  return out;
}

}  // namespace

models::ModelSpec model_spec(const TrainConfig& config, const data::DatasetSplit& data) {
  models::ModelSpec spec;
  spec.name = config.model;
  spec.options = config.model_options;
  spec.num_classes =
      config.num_classes > 0 ? config.num_classes : static_cast<int64_t>(data.train.classes.size());
  spec.in_channels = data.train.channels;
  spec.input_size = data.train.height;
  return spec;
}

data::DatasetSplit load_data(const TrainConfig& config) {
  data::LoadOptions lo;
  lo.folder.height = lo.folder.width = static_cast<int>(config.image_size);
  data::DatasetSplit d = data::load_dataset(config.dataset, config.data, lo);
  if (config.limit_train > 0) d.train = random_subset(d.train, config.limit_train, config.seed);
  if (config.limit_test > 0) d.test = random_subset(d.test, config.limit_test, config.seed + 1);
  return d;
}

}  // namespace cnnzoo::train
