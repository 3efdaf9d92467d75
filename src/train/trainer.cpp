// The training loop, evaluation and run reports (metrics.csv, curves.svg).
#include "cnnzoo/train/trainer.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <utility>

#include "cnnzoo/data/loader.hpp"
#include "cnnzoo/inference.hpp"
#include "cnnzoo/io/file.hpp"
#include "cnnzoo/io/safetensors.hpp"
#include "cnnzoo/nn/layers.hpp"
#include "cnnzoo/ops/arith.hpp"
#include "cnnzoo/ops/loss.hpp"
#include "cnnzoo/optim/schedule.hpp"
#include "cnnzoo/optim/sgd.hpp"
#include "cnnzoo/parallel.hpp"
#include "cnnzoo/precision.hpp"
#include "inference/model_file.hpp"
#include "train/trainer_state.hpp"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace cnnzoo::train {

// ---- evaluation -------------------------------------------------------------------------------

namespace {

int64_t argmax_row(const float* row, int64_t k) {
  int64_t best = 0;
  for (int64_t j = 1; j < k; ++j)
    if (row[j] > row[best]) best = j;
  return best;
}

// Row c: the share of class c's images predicted as c (0 for a class without images).
std::vector<double> per_class_accuracy(const std::vector<std::vector<int64_t>>& confusion) {
  std::vector<double> out;
  for (size_t c = 0; c < confusion.size(); ++c) {
    int64_t total = 0;
    for (int64_t v : confusion[c]) total += v;
    out.push_back(total ? static_cast<double>(confusion[c][c]) / total : 0.0);
  }
  return out;
}

data::LoaderOptions eval_loader_options(const std::vector<float>& mean,
                                        const std::vector<float>& std, int64_t batch) {
  data::LoaderOptions o;
  o.batch_size = batch;
  o.shuffle = false;
  o.mean = mean;
  o.std = std;
  return o;
}

}  // namespace

EvalResult evaluate(nn::Module& model, const data::Dataset& ds, const std::vector<float>& mean,
                    const std::vector<float>& std, int64_t batch, dist::Communicator* group) {
  check(ds.size() > 0, "evaluate: empty dataset");
  const int64_t k = static_cast<int64_t>(ds.classes.size());
  EvalResult r;
  r.confusion.assign(k, std::vector<int64_t>(k, 0));
  bool was_training = model.is_training();
  model.eval();
  NoGradGuard ng;
  data::LoaderOptions lo = eval_loader_options(mean, std, batch);
  if (group) {
    lo.shard_count = group->size();
    lo.shard_index = group->rank();
  }
  data::DataLoader loader(ds, lo);
  loader.start_epoch(0);
  data::Batch b;
  double loss_sum = 0;
  int64_t n = 0, correct = 0;
  while (loader.next(b)) {
    if (b.labels.empty()) continue;  // another rank's share
    Var logits = model.forward(Var(b.images));
    check(logits.dim() == 2 && logits.size(1) == k,
          "evaluate: model output " + shape_str(logits.shape()) + " does not match " +
              std::to_string(k) + " classes");
    Var loss = cross_entropy(logits, b.labels);
    int64_t bs = static_cast<int64_t>(b.labels.size());
    loss_sum += static_cast<double>(loss.value().item()) * bs;
    for (int64_t i = 0; i < bs; ++i) {
      int64_t p = argmax_row(logits.value().data() + i * k, k);
      r.confusion[b.labels[i]][p]++;
      correct += p == b.labels[i];
    }
    n += bs;
  }
  model.train(was_training);
  if (group && group->size() > 1) {
    // Exact totals in double (counts up to 2^53): [loss sum, images, correct, confusion].
    std::vector<double> totals = {loss_sum, double(n), double(correct)};
    for (const auto& row : r.confusion) totals.insert(totals.end(), row.begin(), row.end());
    group->allreduce_sum(totals.data(), static_cast<int64_t>(totals.size()));
    loss_sum = totals[0];
    n = static_cast<int64_t>(totals[1]);
    correct = static_cast<int64_t>(totals[2]);
    for (int64_t i = 0; i < k; ++i)
      for (int64_t j = 0; j < k; ++j)
        r.confusion[i][j] = static_cast<int64_t>(totals[3 + i * k + j]);
  }
  r.loss = loss_sum / n;
  r.accuracy = static_cast<double>(correct) / n;
  r.per_class = per_class_accuracy(r.confusion);
  return r;
}

namespace {

// Accuracy, loss, per-class accuracy and confusion of logits [N, k] (or log-probabilities)
// against the labels.
EvalResult score(const Tensor& logits, const std::vector<int64_t>& labels) {
  const int64_t n = logits.size(0), k = logits.size(1);
  EvalResult r;
  r.confusion.assign(k, std::vector<int64_t>(k, 0));
  int64_t correct = 0;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t p = argmax_row(logits.data() + i * k, k);
    r.confusion[labels[i]][p]++;
    correct += p == labels[i];
  }
  r.loss = cross_entropy(Var(logits), labels).value().item();
  r.accuracy = static_cast<double>(correct) / n;
  r.per_class = per_class_accuracy(r.confusion);
  return r;
}

}  // namespace

EnsembleResult evaluate_ensemble(const std::vector<EnsembleMember>& members,
                                 const data::Dataset& ds, int64_t batch) {
  check(!members.empty(), "evaluate_ensemble: no members");
  check(ds.size() > 0, "evaluate_ensemble: empty dataset");
  const int64_t n = ds.size(), k = static_cast<int64_t>(ds.classes.size());
  EnsembleResult out;
  std::vector<Tensor> all;
  std::vector<int64_t> labels;
  for (size_t m = 0; m < members.size(); ++m) {
    nn::Module& model = *members[m].model;
    const bool was_training = model.is_training();
    model.eval();
    NoGradGuard ng;
    data::DataLoader loader(ds, eval_loader_options(members[m].mean, members[m].std, batch));
    loader.start_epoch(0);
    Tensor logits = Tensor::empty({n, k});
    labels.clear();
    data::Batch b;
    while (loader.next(b)) {
      Var y = model.forward(Var(b.images));
      check(y.dim() == 2 && y.size(1) == k,
            "evaluate_ensemble: member " + std::to_string(m + 1) + "'s output " +
                shape_str(y.shape()) + " does not match " + std::to_string(k) + " classes");
      std::copy(y.value().begin(), y.value().end(),
                logits.data() + static_cast<int64_t>(labels.size()) * k);
      labels.insert(labels.end(), b.labels.begin(), b.labels.end());
    }
    model.train(was_training);
    out.members.push_back(score(logits, labels));
    all.push_back(logits);
  }
  out.ensemble = score(log_mean_softmax(all), labels);
  return out;
}

// ---- trainer --------------------------------------------------------------------------------

namespace {
std::atomic<bool> g_stop_requested{false};
static_assert(std::atomic<bool>::is_always_lock_free, "request_stop must be async-signal-safe");

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

Trainer::Trainer(nn::ModulePtr model, data::DatasetSplit data, TrainConfig config,
                 std::shared_ptr<dist::Communicator> group)
    : config_(std::move(config)),
      group_(group ? std::move(group) : dist::single_process()),
      model_(std::move(model)),
      data_(std::move(data)) {
  setup();
}

Trainer::~Trainer() = default;

void Trainer::setup() {
  check(config_.epochs >= 1, "train: --epochs must be at least 1");
  check(config_.batch >= 1, "train: --batch must be at least 1");
  check(data_.train.size() > 0 && data_.test.size() > 0, "train: empty training or test set");
  const int ranks = group_->size();
  check(config_.batch >= ranks, "train: --batch " + std::to_string(config_.batch) +
                                    " is smaller than the " + std::to_string(ranks) +
                                    " processes (each needs at least one image per step)");
  if (config_.threads > 0) set_num_threads(config_.threads);
  set_precision(parse_precision(config_.precision));
  // What every file of the run says about its model, so that each one alone rebuilds it.
  const auto& classes = data_.train.classes;
  meta_.spec = model_spec(config_, data_);
  if (static_cast<int64_t>(classes.size()) == meta_.spec.num_classes) meta_.classes = classes;
  meta_.mean = data::channel_mean(data_.train);
  meta_.std = data::channel_std(data_.train);
  for (size_t c = 0; c < meta_.std.size(); ++c)
    check(meta_.std[c] > 0, "the training images have the same value everywhere in channel " +
                                std::to_string(c) +
                                " (standard deviation 0): nothing to learn, and inputs cannot "
                                "be normalised");
  meta_.preprocessing = "resize";
  optim::SGDOptions o;
  o.lr = config_.lr;
  o.momentum = config_.momentum;
  o.nesterov = config_.nesterov;
  o.weight_decay = config_.weight_decay;
  o.decay_bn_and_bias = config_.decay_bn_and_bias;
  state_ = std::make_unique<State>();
  state_->opt = std::make_unique<optim::SGD>(model_->named_parameters(), o);
  state_->schedule = optim::make_schedule(config_.schedule, config_.lr, config_.epochs,
                                          config_.warmup, config_.milestones, config_.gamma);
  check_same_data_on_every_rank();
  if (config_.sync_bn && ranks > 1) nn::convert_sync_batchnorm(*model_, group_);
  const bool root = group_->is_root();
  std::string ck = checkpoint_path(config_.out);
  if (config_.resume) {
    // Rank 0 reads the checkpoint; the others get its bytes (they need no copy of the file).
    const std::string bytes = dist::broadcast_string(*group_, root ? io::read_file(ck) : "");
    load_checkpoint(io::parse_safetensors_bytes(bytes, ck), ck);
    // A run stopped (killed, or a second signal) between the checkpoint and the files that
    // follow it leaves those a save behind: bring them up to the checkpoint first.
    if (root)
      save_run_files(config_.out, [&] {
        save_weights(*model_, meta_, weights_path(config_.out));
        write_reports();
      });
  } else {
    if (root)
      check(!fs::exists(ck), config_.out + " already holds a checkpoint: pass --resume to " +
                                 "continue it or choose another --out");
    if (!config_.pruned_from.empty()) start_from_pruned();
    broadcast_state();
  }
  if (root) {
    fs::create_directories(config_.out);
    check_room_for_checkpoints();
  }
}

void Trainer::start_from_pruned() {
  const std::string& path = config_.pruned_from;
  const io::SafetensorsFile f = io::load_safetensors(path);
  const ModelMetadata md = ModelMetadata::from_file_metadata(f.metadata, path);
  check(md.spec.name.empty() || md.spec.name == meta_.spec.name,
        path + " holds a '" + md.spec.name + "' model, not '" + meta_.spec.name + "'");
  load_state(*model_, f, path);
  state_->masks = compress::read_masks(f, *model_, path);
  check(!state_->masks.empty(),
        path + " has no pruning masks (mask.* entries): write it with `cnnzoo prune`");
  compress::apply_masks(*model_, state_->masks);
}

// ---- data parallel ----------------------------------------------------------------------------

bool Trainer::drop_last() const {
  const int64_t last = data_.train.size() % config_.batch;
  return last != 0 && last < group_->size();
}

namespace {

// A 64-bit fingerprint of a dataset's shape, classes, labels and pixels.
uint64_t fingerprint(const data::Dataset& ds) {
  uint64_t h = 0x9E3779B97F4A7C15ull;
  auto mix = [&](uint64_t v) {
    h ^= v + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2);
    h *= 0xFF51AFD7ED558CCDull;
  };
  for (int64_t v : {ds.size(), ds.channels, ds.height, ds.width}) mix(static_cast<uint64_t>(v));
  for (const auto& c : ds.classes)
    for (char ch : c) mix(static_cast<unsigned char>(ch));
  for (int64_t l : ds.labels) mix(static_cast<uint64_t>(l));
  const size_t bytes = ds.images.size(), words = bytes / 8;
  const uint8_t* p = ds.images.data();
  for (size_t i = 0; i < words; ++i) {
    uint64_t w;
    std::memcpy(&w, p + 8 * i, 8);
    mix(w);
  }
  for (size_t i = words * 8; i < bytes; ++i) mix(p[i]);
  return h;
}

}  // namespace

void Trainer::check_same_data_on_every_rank() const {
  if (group_->size() == 1) return;
  for (const auto* part : {&data_.train, &data_.test}) {
    const uint64_t mine = fingerprint(*part);
    uint64_t root = mine;
    group_->broadcast(&root, sizeof root, 0);
    check(mine == root, std::string("the ") + (part == &data_.train ? "training" : "test") +
                            " set of rank " + std::to_string(group_->rank()) + " (" +
                            std::to_string(part->size()) + " images from " + config_.data +
                            ") differs from rank 0's: every rank needs the same data");
  }
}

void Trainer::broadcast_state() {
  if (group_->size() == 1) return;
  for (auto& [name, t] : model_->state_dict())
    group_->broadcast(t.data(), t.numel() * static_cast<int64_t>(sizeof(float)), 0);
  for (auto& [name, t] : state_->opt->state_dict())
    group_->broadcast(t.data(), t.numel() * static_cast<int64_t>(sizeof(float)), 0);
}

std::vector<Tensor> Trainer::running_statistics() const {
  std::vector<Tensor> out;
  // Synchronised BN computes equal running statistics on every rank already.
  if (group_->size() == 1 || config_.sync_bn) return out;
  model_->apply([&](nn::Module& m) {
    auto* bn = dynamic_cast<nn::BatchNorm*>(&m);
    if (bn && bn->running_mean.defined()) {
      out.push_back(bn->running_mean);
      out.push_back(bn->running_var);
    }
  });
  return out;
}

Trainer::StopReasons Trainer::stop_reasons_here() {
  StopReasons r;
  if (g_stop_requested.exchange(false)) r.signal = 1;
  // Rank 0's clock alone decides the time limit, so that every rank stops at the same step.
  if (group_->is_root() && config_.time_limit_minutes > 0 &&
      now_seconds() - fit_start_ >= 60 * config_.time_limit_minutes)
    r.time_limit = 1;
  return r;
}

bool Trainer::stop_for(const StopReasons& r) {
  if (r.signal > 0)
    stopped_ = Stop::requested;
  else if (r.time_limit > 0)
    stopped_ = Stop::time_limit;
  return r.signal > 0 || r.time_limit > 0;
}

bool Trainer::agree_to_stop() {
  StopReasons r = stop_reasons_here();
  if (group_->size() > 1) {
    float v[2] = {r.signal, r.time_limit};
    group_->allreduce_sum(v, 2);
    r = {v[0], v[1]};
  }
  return stop_for(r);
}

void Trainer::reduce_step(int64_t local_n, int64_t global_n, double& loss_sum, int64_t& correct,
                          StopReasons& stop) {
  auto params = model_->named_parameters();
  int64_t total = 0;
  for (auto& [name, p] : params) total += p.value().numel();
  const int64_t P = static_cast<int64_t>(params.size());
  // Local BN's running statistics travel too and come back as their mean over the ranks, so
  // that every rank (and so rank 0's checkpoint) holds the same ones at every step.
  std::vector<Tensor> stats = running_statistics();
  int64_t stat_count = 0;
  for (const Tensor& t : stats) stat_count += t.numel();
  // [gradients | has-gradient flag per parameter | loss sum, correct, stop reasons | stats]
  const int64_t extra = total + P + 4;
  std::vector<float> buf(extra + stat_count, 0.0f);
  {
    const float inv = 1.0f / static_cast<float>(group_->size());
    int64_t s = extra;
    for (const Tensor& t : stats)
      for (float v : t) buf[s++] = v * inv;
  }
  const float weight = static_cast<float>(local_n) / static_cast<float>(global_n);
  int64_t at = 0;
  for (int64_t i = 0; i < P; ++i) {
    const Var& p = params[i].second;
    const int64_t n = p.value().numel();
    if (p.grad().defined()) {
      const float* g = p.grad().data();
      for (int64_t j = 0; j < n; ++j) buf[at + j] = g[j] * weight;
      buf[total + i] = 1;
    }
    at += n;
  }
  buf[total + P] = static_cast<float>(loss_sum);
  buf[total + P + 1] = static_cast<float>(correct);
  buf[total + P + 2] = stop.signal;
  buf[total + P + 3] = stop.time_limit;
  const double t0 = now_seconds();
  group_->allreduce_sum(buf.data(), static_cast<int64_t>(buf.size()));
  allreduce_seconds_ += now_seconds() - t0;
  ++allreduce_steps_;
  at = 0;
  for (int64_t i = 0; i < P; ++i) {
    Var& p = params[i].second;
    const int64_t n = p.value().numel();
    if (buf[total + i] > 0) {  // some rank has a gradient: the sum is every rank's
      Tensor g = Tensor::empty(p.value().shape());
      std::copy(buf.begin() + at, buf.begin() + at + n, g.data());
      p.grad() = std::move(g);
    }
    at += n;
  }
  loss_sum = buf[total + P];
  correct = static_cast<int64_t>(buf[total + P + 1]);
  stop = {buf[total + P + 2], buf[total + P + 3]};
  int64_t s = extra;
  for (Tensor& t : stats)
    for (float& v : t) v = buf[s++];
}

// A full or read-only disk found at the first epoch's end costs that epoch: find it now. A
// checkpoint holds the weights and the optimizer's buffers; the weights file and best file
// follow it, and each write needs a temporary beside the file it replaces.
void Trainer::check_room_for_checkpoints() const {
  const std::string probe = (fs::path(config_.out) / "write-check").string();
  try {
    io::atomic_write_bytes(probe, "cnnzoo");
  } catch (const Error& e) {
    throw Error("--out " + config_.out + " is not writable: " + e.what());
  }
  fs::remove(probe);
  int64_t floats = 0;
  for (const auto& [name, t] : model_->state_dict()) floats += t.numel();
  const uintmax_t need = uintmax_t(floats) * 4 * 5 + (uintmax_t(1) << 20);
  std::error_code ec;
  const fs::space_info room = fs::space(config_.out, ec);
  check(ec || room.available >= need,
        "--out " + config_.out + " has " + std::to_string(room.available >> 20) +
            " MiB free; the run's checkpoint and weights files need about " +
            std::to_string(need >> 20) + " MiB");
}

namespace {

// h:mm:ss (m:ss under an hour).
std::string format_eta(double s) {
  char buf[48];
  const long long t = static_cast<long long>(std::min(s, 1e9) + 0.5);
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", t / 3600, t / 60 % 60, t % 60);
  else
    std::snprintf(buf, sizeof buf, "%lld:%02lld", t / 60, t % 60);
  return buf;
}

}  // namespace

int64_t Trainer::steps_per_epoch() const {
  return data::batches_per_epoch(data_.train.size(), config_.batch, drop_last());
}

double Trainer::aux_loss_weight() const {
  double w =
      config_.aux_loss_weight >= 0 ? config_.aux_loss_weight : auxiliary_loss_weight(config_.model);
  check(w >= 0, "train: model '" + config_.model +
                    "' has auxiliary classifiers and the recipe gives their loss no weight "
                    "(set aux_loss_weight, --aux-loss-weight)");
  return w;
}

bool Trainer::run_epoch(int64_t epoch, EpochMetrics& m) {
  data::LoaderOptions lo;
  lo.batch_size = config_.batch;
  lo.shuffle = true;
  lo.drop_last = drop_last();
  lo.shard_count = group_->size();
  lo.shard_index = group_->rank();
  lo.seed = config_.seed;
  lo.mean = meta_.mean;
  lo.std = meta_.std;
  std::stringstream aug(config_.augment);
  for (std::string item; std::getline(aug, item, ',');) {
    if (item == "crop")
      lo.pad_crop = config_.crop_padding;
    else if (item == "flip")
      lo.hflip = true;
    else if (item == "cutout")
      lo.cutout = config_.cutout;
    else if (item != "none" && !item.empty())
      throw Error("train: unknown augmentation '" + item + "' (crop, flip, cutout, none)");
  }
  data::DataLoader loader(data_.train, lo);
  // A run resumed mid-epoch carries on from the saved step with that epoch's counters.
  loader.start_epoch(epoch, partial_.step);
  const int64_t steps = loader.batches_per_epoch();
  const int64_t curve_interval = std::max<int64_t>(1, steps / 50);
  const bool tty = isatty(fileno(stderr));
  model_->train();
  Partial& p = partial_;
  allreduce_seconds_ = 0;
  allreduce_steps_ = 0;
  const int64_t seen_before = p.seen;
  const double seconds_before = p.seconds;
  const double t0 = now_seconds();
  double last_print = t0;
  double lr = 0;
  data::Batch b;
  while (loader.next(b)) {
    lr = state_->schedule->lr({epoch, p.step, steps});
    state_->opt->set_lr(lr);
    Var logits = model_->forward(Var(b.images));
    Var loss = cross_entropy(logits, b.labels, config_.label_smoothing);
    for (const Var& aux : model_->take_auxiliary_logits())
      loss = add(loss,
                 scale(cross_entropy(aux, b.labels, config_.label_smoothing), aux_loss_weight()));
    const int64_t local_n = static_cast<int64_t>(b.labels.size());
    const int64_t k = logits.size(1);
    int64_t correct = 0;
    for (int64_t i = 0; i < local_n; ++i)
      correct += argmax_row(logits.value().data() + i * k, k) == b.labels[i];
    double loss_sum = static_cast<double>(loss.value().item()) * local_n;
    state_->opt->zero_grad();
    StopReasons stop;
    int64_t bs = local_n;  // the step's images over every rank
    if (group_->size() == 1) {
      if (std::isfinite(loss_sum)) backward(loss);
    } else {
      // Every rank must take part in the gradient sum (and in a synchronised BN's backward),
      // so a non-finite loss is found after it, on every rank at once.
      backward(loss);
      bs = std::min(config_.batch, data_.train.size() - p.step * config_.batch);
      stop = stop_reasons_here();
      reduce_step(local_n, bs, loss_sum, correct, stop);
    }
    const double lv = loss_sum / bs;
    if (!std::isfinite(lv)) {
      throw Error("train: loss became " + std::string(std::isnan(lv) ? "NaN" : "inf") +
                  " at epoch " + std::to_string(epoch + 1) + " step " + std::to_string(p.step + 1) +
                  "; stopped, the last good checkpoint is " + checkpoint_path(config_.out));
    }
    state_->opt->step();
    model_->apply_constraints();
    if (!state_->masks.empty()) compress::apply_masks(*model_, state_->masks);
    const int64_t correct_before = p.correct;
    p.correct += correct;
    p.loss_sum += loss_sum;
    p.seen += bs;
    ++p.step;
    ++global_step_;
    p.interval_loss_sum += loss_sum;
    p.interval_correct += p.correct - correct_before;
    p.interval_seen += bs;
    if (p.step % curve_interval == 0 || p.step == steps) {
      curve_.push_back({epoch + double(p.step) / steps, p.interval_loss_sum / p.interval_seen,
                        double(p.interval_correct) / p.interval_seen, lr});
      p.interval_loss_sum = 0;
      p.interval_correct = p.interval_seen = 0;
    }
    const double now = now_seconds();
    p.seconds = seconds_before + (now - t0);
    if (p.step < steps) {
      if (stop_for(group_->size() == 1 ? stop_reasons_here() : stop)) {
        save_checkpoint();
        return false;
      }
      if (config_.checkpoint_minutes > 0 && now - last_save_ >= 60 * config_.checkpoint_minutes) {
        save_checkpoint();
        last_save_ = now_seconds();
      }
    }
    const double el = now - t0;
    if (config_.progress && group_->is_root() &&
        (tty ? now - last_print > 0.2 : now - last_print > 15.0)) {
      last_print = now;
      const double rate = (p.seen - seen_before) / el;
      // Training images left in this epoch and in the epochs after it, at this epoch's rate.
      const double left_epoch = (data_.train.size() - p.seen) / rate;
      const double left_run =
          left_epoch + (config_.epochs - epoch - 1) * double(data_.train.size()) / rate;
      std::fprintf(stderr,
                   "%sepoch %lld/%lld  step %lld/%lld  loss %.4f  acc %.2f%%  %.0f img/s  "
                   "ETA epoch %s, run %s%s",
                   tty ? "\r" : "", static_cast<long long>(epoch + 1),
                   static_cast<long long>(config_.epochs), static_cast<long long>(p.step),
                   static_cast<long long>(steps), p.loss_sum / p.seen, 100.0 * p.correct / p.seen,
                   rate, format_eta(left_epoch).c_str(), format_eta(left_run).c_str(),
                   tty ? "  " : "\n");
      std::fflush(stderr);
    }
  }
  const Partial done = std::exchange(partial_, Partial{});
  EvalResult ev = evaluate(*model_, data_.test, meta_.mean, meta_.std, 256, group_.get());
  m = EpochMetrics{};
  m.epoch = epoch + 1;
  m.step = global_step_;
  m.lr = lr;
  m.train_loss = done.loss_sum / done.seen;
  m.train_acc = static_cast<double>(done.correct) / done.seen;
  m.test_loss = ev.loss;
  m.test_acc = ev.accuracy;
  m.seconds = done.seconds;
  m.images_per_s = done.seen / done.seconds;
  if (group_->is_root()) {  // the epoch's line, with or without the progress line
    std::fprintf(stderr,
                 "%sepoch %lld/%lld  train loss %.4f acc %.2f%%  test loss %.4f acc %.2f%%  "
                 "%.1f s  %.0f img/s\n",
                 tty && config_.progress ? "\r" : "", static_cast<long long>(m.epoch),
                 static_cast<long long>(config_.epochs), m.train_loss, 100 * m.train_acc,
                 m.test_loss, 100 * m.test_acc, m.seconds, m.images_per_s);
    if (allreduce_steps_ > 0)
      std::fprintf(stderr, "  gradient allreduce: %.2f ms per step (%.1f%% of the epoch)\n",
                   1e3 * allreduce_seconds_ / allreduce_steps_,
                   100 * allreduce_seconds_ / (done.seconds - seconds_before));
  }
  return true;
}

void Trainer::write_reports() const {
  io::atomic_write((fs::path(config_.out) / "metrics.csv").string(), [&](std::ostream& os) {
    os << "epoch,step,lr,train_loss,train_acc,test_loss,test_acc,seconds,images_per_s\n";
    char line[512];
    for (const auto& m : history_) {
      std::snprintf(line, sizeof line, "%lld,%lld,%.8g,%.6f,%.6f,%.6f,%.6f,%.3f,%.1f\n",
                    static_cast<long long>(m.epoch), static_cast<long long>(m.step), m.lr,
                    m.train_loss, m.train_acc, m.test_loss, m.test_acc, m.seconds, m.images_per_s);
      os << line;
    }
  });
  io::atomic_write((fs::path(config_.out) / "curves.svg").string(), [&](std::ostream& os) {
    os << render_curves_svg(history_, curve_, config_.model.empty() ? "training" : config_.model);
  });
}

std::vector<EpochMetrics> Trainer::fit() {
  stopped_ = Stop::none;
  fit_start_ = last_save_ = now_seconds();
  const int64_t first = start_epoch_;
  for (int64_t e = first; e < config_.epochs; ++e) {
    if (config_.stop_after > 0 && e >= config_.stop_after) {
      stopped_ = Stop::stop_after;
      break;
    }
    if (e > first && agree_to_stop()) break;
    EpochMetrics m;
    if (!run_epoch(e, m)) break;
    const bool best = std::all_of(history_.begin(), history_.end(),
                                  [&](const EpochMetrics& h) { return m.test_acc >= h.test_acc; });
    history_.push_back(m);
    start_epoch_ = e + 1;
    // best.safetensors first: a run killed between the two writes still has its best epoch.
    if (group_->is_root())
      save_run_files(config_.out, [&] {
        if (best) save_weights(*model_, meta_, best_weights_path(config_.out));
      });
    save_checkpoint();
    last_save_ = now_seconds();
    if (group_->is_root()) save_run_files(config_.out, [&] { write_reports(); });
  }
  return history_;
}

void request_stop() noexcept {
  g_stop_requested.store(true);
}

}  // namespace cnnzoo::train
