// Training checkpoints: the model's state, the optimizer's, and the trainer's (epoch, step,
// the epoch's counters, generator, configuration, history, curve) in one safetensors file.
#include <nlohmann/json.hpp>

#include <algorithm>

#include "cnnzoo/io/safetensors.hpp"
#include "cnnzoo/optim/sgd.hpp"
#include "cnnzoo/random.hpp"
#include "inference/model_file.hpp"
#include "io/json_number.hpp"
#include "train/trainer_state.hpp"

using json = nlohmann::json;

namespace cnnzoo::train {

void Trainer::save_checkpoint() {
  if (!group_->is_root()) return;  // every rank holds the same state; rank 0 writes it
  nn::NamedTensors tensors = model_->state_dict();
  json optim_names = json::array();
  for (auto& [name, t] : state_->opt->state_dict()) {
    tensors.emplace_back("optim." + name, t);
    optim_names.push_back(name);
  }
  for (const auto& [name, m] : state_->masks) tensors.emplace_back("mask." + name, m);
  json curve = json::array();
  for (const auto& c : curve_) curve.push_back({c.epoch, c.train_loss, c.train_acc, c.lr});
  json hist = json::array();
  for (const auto& m : history_)
    hist.push_back({m.epoch, m.step, m.lr, m.train_loss, m.train_acc, m.test_loss, m.test_acc,
                    m.seconds, m.images_per_s});
  json t = {
      {"epoch", start_epoch_},
      {"step", global_step_},
      {"epoch_step", partial_.step},
      {"partial", {partial_.seen, partial_.correct, partial_.loss_sum, partial_.seconds}},
      {"interval", {partial_.interval_seen, partial_.interval_correct, partial_.interval_loss_sum}},
      {"curve", curve},
      {"rng", global_generator().state()},
      {"config", json::parse(config_.to_json())},
      {"history", hist},
      {"optim_state", optim_names},
      {"world_size", group_->size()},
      {"mean", meta_.mean},
      {"std", meta_.std}};
  std::map<std::string, std::string> meta = meta_.to_file_metadata();
  meta["format"] = "cnnzoo-checkpoint";
  meta["trainer"] = t.dump();
  save_run_files(config_.out, [&] {
    io::save_safetensors(checkpoint_path(config_.out), tensors, meta);
    save_weights(*model_, meta_, weights_path(config_.out));
  });
}

void save_run_files(const std::string& out, const std::function<void()>& write) {
  try {
    write();
  } catch (const Error& e) {
    throw Error(std::string(e.what()) + "; the last complete checkpoint stays in " +
                checkpoint_path(out) + ": free some space and continue with --resume --out " + out +
                ", or copy the directory and --resume --out the copy");
  }
}

void Trainer::load_checkpoint(const io::SafetensorsFile& f, const std::string& path) {
  try {
    auto trainer = f.metadata.find("trainer");
    check(trainer != f.metadata.end(), path + ": not a checkpoint (no trainer state)");
    json t = json::parse(trainer->second);
    // The split of every batch depends on the number of processes.
    int64_t world = 1;  // absent from single-process checkpoints older than data parallelism
    if (t.contains("world_size")) io::json_read(t.at("world_size"), world);
    check(world == group_->size() || config_.reshard,
          path + ": written by a run of " + std::to_string(world) + " process" +
              (world == 1 ? "" : "es") + ", resumed with " + std::to_string(group_->size()) +
              ": resume with the same number, or pass --reshard to continue with " +
              std::to_string(group_->size()) + " (no longer bit-exact)");
    load_state(*model_, f, path);
    std::vector<std::pair<std::string, Tensor>> opt_state;
    for (const auto& e : f.tensors)
      if (e.name.rfind("optim.", 0) == 0) opt_state.emplace_back(e.name.substr(6), e.value);
    // A buffer the checkpoint had when saved must be there: without it the optimizer would
    // restart that parameter's momentum from zero and the run would no longer be bit-exact.
    if (t.contains("optim_state"))  // absent in checkpoints older than this check
      for (const auto& name : t.at("optim_state")) {
        const std::string n = name.get<std::string>();
        const bool present = std::any_of(opt_state.begin(), opt_state.end(),
                                         [&](const auto& e) { return e.first == n; });
        check(present, path + ": optimizer state 'optim." + n + "' is missing");
      }
    state_->opt->load_state_dict(opt_state);
    state_->masks = compress::read_masks(f, *model_, path);
    check(config_.pruned_from.empty() || !state_->masks.empty(),
          path + ": the run fine-tunes a pruned model, but its checkpoint has no masks");
    io::json_read(t.at("epoch"), start_epoch_);
    io::json_read(t.at("step"), global_step_);
    partial_ = Partial{};
    if (t.contains("epoch_step")) {  // absent in checkpoints older than mid-epoch saves
      io::json_read(t.at("epoch_step"), partial_.step);
      const json& p = t.at("partial");
      io::json_read(p.at(0), partial_.seen);
      io::json_read(p.at(1), partial_.correct);
      partial_.loss_sum = p.at(2);
      partial_.seconds = p.at(3);
    }
    if (t.contains("interval")) {  // absent in checkpoints older than per-interval curves
      const json& iv = t.at("interval");
      io::json_read(iv.at(0), partial_.interval_seen);
      io::json_read(iv.at(1), partial_.interval_correct);
      partial_.interval_loss_sum = iv.at(2);
    }
    curve_.clear();
    if (t.contains("curve"))
      for (const auto& c : t.at("curve")) curve_.push_back({c.at(0), c.at(1), c.at(2), c.at(3)});
    check(partial_.step >= 0 && partial_.step < steps_per_epoch(),
          path + ": checkpoint stopped at step " + std::to_string(partial_.step) +
              " of an epoch that has " + std::to_string(steps_per_epoch()) +
              " (a different dataset or batch?)");
    global_generator().set_state(t.at("rng"));
    history_.clear();
    for (const auto& h : t.at("history")) {
      EpochMetrics m;
      io::json_read(h.at(0), m.epoch);
      io::json_read(h.at(1), m.step);
      m.lr = h.at(2);
      m.train_loss = h.at(3);
      m.train_acc = h.at(4);
      m.test_loss = h.at(5);
      m.test_acc = h.at(6);
      m.seconds = h.at(7);
      m.images_per_s = h.at(8);
      history_.push_back(m);
    }
  } catch (const json::exception& e) {
    throw Error(path + ": the checkpoint's trainer state is malformed: " + e.what());
  }
}

}  // namespace cnnzoo::train
