// The shared trainer: every model trains through it, from the CLI or from C++.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cnnzoo/data/dataset.hpp"
#include "cnnzoo/distributed.hpp"
#include "cnnzoo/inference.hpp"
#include "cnnzoo/io/safetensors.hpp"
#include "cnnzoo/nn/module.hpp"

namespace cnnzoo::train {

struct TrainConfig {
  // model
  std::string model;                                 // registry name
  std::map<std::string, std::string> model_options;  // --set key=value
  int64_t num_classes = -1;                          // -1: from the dataset
  // data
  std::string data;                   // path
  std::string dataset = "auto";       // cifar10|cifar100|folder|fashion-mnist|mnist|auto
  std::string augment = "crop,flip";  // comma list of crop, flip, cutout, none
  int64_t crop_padding = 4;
  int64_t cutout = 16;      // side of the cutout square when "cutout" is in augment
  int64_t image_size = 0;   // folder datasets: resize to this (0 = keep)
  int64_t limit_train = 0;  // use only the first N training images (0 = all)
  int64_t limit_test = 0;
  // optimisation
  int64_t epochs = 1;
  int64_t batch = 128;
  double lr = 0.1;
  std::string schedule = "cosine";  // constant|step|cosine|onecycle
  std::vector<int64_t> milestones;  // for step; default 50% and 75%
  double gamma = 0.1;
  double warmup = 0.0;  // epochs of linear warm-up
  double momentum = 0.9;
  bool nesterov = false;
  double weight_decay = 5e-4;
  bool decay_bn_and_bias = true;
  double label_smoothing = 0.0;
  // Weight of each auxiliary classifier's loss (models with auxiliary heads: GoogLeNet,
  // Inception v3). -1: the paper's (auxiliary_loss_weight(model)).
  double aux_loss_weight = -1;
  // "fp32" or "bf16" (conv and linear products in bf16 with fp32 sums; precision.hpp); part of
  // the recipe, so a resumed run keeps it.
  std::string precision = "fp32";
  // Data parallel (several processes): BatchNorm statistics over the global batch instead of
  // each process's share (nn::convert_sync_batchnorm). Part of the recipe.
  bool sync_bn = false;
  // Fine-tuning of a pruned model (Deep Compression): start from this file's weights and keep
  // its pruning masks (entries mask.<name>, compress::save_pruned): pruned weights stay zero
  // after every step. Part of the recipe; checkpoints carry the masks.
  std::string pruned_from;
  // run
  int threads = 0;  // 0 = current setting
  uint64_t seed = 0;
  std::string out = "runs/run";
  bool resume = false;
  int64_t stop_after = 0;  // stop after this epoch (1-based) this run; continue with resume
  // A time-boxed run: stop after this many minutes of this process's training (0 = none), at
  // the next step, mid-epoch if need be, with a checkpoint that resume continues exactly.
  double time_limit_minutes = 0;
  // Mid-epoch checkpoints this often (minutes of training; 0 = only at epoch ends), so that a
  // killed run of a long epoch loses at most this much (a checkpoint of even wrn-28-10 takes
  // well under a second to write, so every 5 minutes costs nothing measurable).
  double checkpoint_minutes = 5;
  bool progress = true;  // progress line on stderr
  // Resume a checkpoint written by a different number of processes (the split of each batch
  // changes, so the continuation is no longer bit-exact); refused otherwise.
  bool reshard = false;

  std::string to_json() const;
  static TrainConfig from_json(const std::string& json);  // Error on malformed input
};

// The defaults a dataset calls for where a config leaves them open (the CLI fills unset flags
// from it): CIFAR and image folders: the ResNet recipe (batch 128, lr 0.1, crop and flip);
// Fashion-MNIST and MNIST: batch 64, lr 0.05, no augmentation.
struct Recipe {
  int64_t batch;
  double lr;
  std::string augment;
};
Recipe default_recipe(const std::string& dataset_kind);

// The loss weight the model's paper gives its auxiliary classifiers: GoogLeNet 0.3,
// Inception v3 0.4; -1 for a model the recipe knows no weight for.
double auxiliary_loss_weight(const std::string& model);

struct EpochMetrics {
  int64_t epoch = 0;  // 1-based
  int64_t step = 0;   // optimizer steps so far
  double lr = 0, train_loss = 0, train_acc = 0, test_loss = 0, test_acc = 0;
  double seconds = 0, images_per_s = 0;
};

// The training curve between epochs: one point per interval of about 1/50 epoch.
struct CurvePoint {
  double epoch = 0;  // where the interval ends, in epochs (1.5: half way through epoch 2)
  double train_loss = 0, train_acc = 0;  // over the interval's images
  double lr = 0;                         // at the interval's last step
};

struct EvalResult {
  double loss = 0, accuracy = 0;
  std::vector<double> per_class;                // accuracy per class
  std::vector<std::vector<int64_t>> confusion;  // [true][predicted]
};

// Evaluates a model (eval mode, no graph) on a dataset with the given normalisation. With a
// group of several processes, each evaluates its share of every batch and the totals are
// summed over the group (every image counted once); every process gets the whole result.
EvalResult evaluate(nn::Module& model, const data::Dataset& ds, const std::vector<float>& mean,
                    const std::vector<float>& std, int64_t batch = 256,
                    dist::Communicator* group = nullptr);

// An ensemble member: a model and the normalisation its inputs get.
struct EnsembleMember {
  nn::Module* model = nullptr;
  std::vector<float> mean, std;
};
struct EnsembleResult {
  EvalResult ensemble;              // of the mean of the members' softmax outputs
  std::vector<EvalResult> members;  // each member alone
};

// Evaluates an ensemble: every member (architectures and normalisations may differ) predicts
// every image, and the ensemble's prediction is the mean of their softmax outputs (its loss
// is the negative log of that mean at the true class).
EnsembleResult evaluate_ensemble(const std::vector<EnsembleMember>& members,
                                 const data::Dataset& ds, int64_t batch = 256);

// The configuration of the run whose checkpoint is in config.out, for resume: the saved
// recipe, with what may change between sessions taken from `config` (more epochs, stop_after,
// the time limit, the checkpoint interval, progress, threads, reshard) and config.out as the
// run's directory. Error when there is no readable checkpoint there. With a group, rank 0
// reads the checkpoint and the others receive it (they need no copy of the file).
TrainConfig resumed_config(const TrainConfig& config, dist::Communicator* group = nullptr);

// The dataset the config names (config.dataset at config.data), cut to limit_train /
// limit_test images drawn at random with the config's seed.
data::DatasetSplit load_data(const TrainConfig& config);

// The model a config trains on its data: config.model with its options, the data's input
// channels and image size, and config.num_classes or the data's class count.
models::ModelSpec model_spec(const TrainConfig& config, const data::DatasetSplit& data);

class Trainer {
 public:
  // Trains a built model on the given data. With config.resume, the model, optimizer and
  // trainer state continue from the checkpoint in config.out (pass resumed_config(config),
  // and the model built as before, to continue bit for bit); without, config.out must not
  // hold a checkpoint yet.
  //
  // Data parallel: every process of `group` (null: this process alone) constructs a Trainer
  // with the same config and the whole dataset, and calls fit(). Rank 0's initial weights (or
  // the checkpoint rank 0 reads) go to every rank; each step a rank trains on its part of the
  // global batch (config.batch images, cut by data::shard_range; a last batch with fewer
  // images than processes is left out) and the gradients are summed over the group, weighted
  // by each part's size, in one allreduce; evaluation is shared out; rank 0 alone writes
  // files. The data must be the same on every rank (checked).
  Trainer(nn::ModulePtr model, data::DatasetSplit data, TrainConfig config,
          std::shared_ptr<dist::Communicator> group = nullptr);
  ~Trainer();

  // Trains the remaining epochs. Each epoch: train, evaluate, append to metrics.csv, redraw
  // curves.svg, write checkpoint.safetensors, model.safetensors and (when its test accuracy
  // is the best so far) best.safetensors atomically, each with the model's metadata. Stops with
  // an Error when the loss becomes NaN/inf (the last good checkpoint stays). Returns early,
  // after the current step and with a checkpoint, at stop_after, at the time limit or on
  // request_stop(); a Trainer built with resume then continues bit for bit.
  std::vector<EpochMetrics> fit();

  enum class Stop { none, stop_after, time_limit, requested };
  Stop stopped() const { return stopped_; }  // why the last fit() returned early
  // Where the run stands: epochs finished, steps done in the epoch in progress.
  int64_t epochs_done() const { return start_epoch_; }
  int64_t epoch_step() const { return partial_.step; }
  int64_t steps_per_epoch() const;

  nn::Module& model() { return *model_; }
  const data::DatasetSplit& data() const { return data_; }
  const std::vector<EpochMetrics>& history() const { return history_; }
  const std::vector<CurvePoint>& curve() const { return curve_; }
  const TrainConfig& config() const { return config_; }
  dist::Communicator& group() const { return *group_; }
  // Data parallel: seconds this epoch (the one in progress, or the last) spent in the step's
  // gradient allreduce, and the steps it covers.
  double allreduce_seconds() const { return allreduce_seconds_; }
  int64_t allreduce_steps() const { return allreduce_steps_; }
  const std::vector<float>& mean() const { return meta_.mean; }
  const std::vector<float>& std() const { return meta_.std; }
  // What the run's files say about the model (model, best and checkpoint files alike).
  const ModelMetadata& metadata() const { return meta_; }

 private:
  void setup();
  void start_from_pruned();  // config.pruned_from: its weights and masks
  void save_checkpoint();
  void load_checkpoint(const io::SafetensorsFile& f, const std::string& path);
  // Data parallel helpers (no-ops in one process).
  bool drop_last() const;  // the epoch's last batch has fewer images than ranks
  void check_same_data_on_every_rank() const;
  void broadcast_state();                          // rank 0's weights, buffers, optimizer state
  std::vector<Tensor> running_statistics() const;  // local BN's, averaged over the ranks
  // Why to stop now, counted over the ranks that say so (floats: they travel in allreduces).
  struct StopReasons {
    float signal = 0, time_limit = 0;
  };
  StopReasons stop_reasons_here();      // this rank's signal; rank 0's clock for the time limit
  bool stop_for(const StopReasons& r);  // sets stopped_; whether there is a reason
  bool agree_to_stop();                 // stop_for the reasons of every rank
  // Sums the step's gradients (weighted by local_n / global_n), loss sum, correct count and
  // stop reasons over the group.
  void reduce_step(int64_t local_n, int64_t global_n, double& loss_sum, int64_t& correct,
                   StopReasons& stop);
  void check_room_for_checkpoints() const;           // Error when --out cannot take the run's files
  bool run_epoch(int64_t epoch, EpochMetrics& out);  // false: stopped mid-epoch
  void write_reports() const;
  double aux_loss_weight() const;  // Error when the model has auxiliary heads and no weight

  // Counters of the epoch in progress; kept in mid-epoch checkpoints.
  struct Partial {
    int64_t step = 0, seen = 0, correct = 0;
    double loss_sum = 0, seconds = 0;
    // The curve interval in progress.
    int64_t interval_seen = 0, interval_correct = 0;
    double interval_loss_sum = 0;
  };

  TrainConfig config_;
  std::shared_ptr<dist::Communicator> group_;
  nn::ModulePtr model_;
  data::DatasetSplit data_;
  ModelMetadata meta_;  // with the training set's mean and std, which the loaders use
  struct State;
  std::unique_ptr<State> state_;
  std::vector<EpochMetrics> history_;
  std::vector<CurvePoint> curve_;
  int64_t start_epoch_ = 0;
  int64_t global_step_ = 0;
  Partial partial_;
  Stop stopped_ = Stop::none;
  double fit_start_ = 0, last_save_ = 0;  // steady-clock seconds
  double allreduce_seconds_ = 0;
  int64_t allreduce_steps_ = 0;
};

// Asks every running Trainer to stop after its current step, saving a checkpoint; the
// Trainer that honours it clears the request. Async-signal-safe: the CLI calls it on
// SIGINT and SIGTERM.
void request_stop() noexcept;

// Files a training run writes into its output directory.
std::string checkpoint_path(const std::string& out_dir);    // out/checkpoint.safetensors
std::string weights_path(const std::string& out_dir);       // out/model.safetensors
std::string best_weights_path(const std::string& out_dir);  // out/best.safetensors

// curves.svg: training loss and accuracy per interval with the test points per epoch, and
// the learning rate, against epochs.
std::string render_curves_svg(const std::vector<EpochMetrics>& history,
                              const std::vector<CurvePoint>& curve, const std::string& title);

}  // namespace cnnzoo::train
