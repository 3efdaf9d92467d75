// The training loop, evaluation and run reports (metrics.csv, curves.svg).
#include "cnnzoo/train/trainer.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <utility>

#include "cnnzoo/data/loader.hpp"
#include "cnnzoo/inference.hpp"
#include "cnnzoo/io/file.hpp"
#include "cnnzoo/io/safetensors.hpp"
#include "cnnzoo/ops/arith.hpp"
#include "cnnzoo/ops/loss.hpp"
#include "cnnzoo/optim/schedule.hpp"
#include "cnnzoo/optim/sgd.hpp"
#include "cnnzoo/parallel.hpp"
#include "cnnzoo/precision.hpp"
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
                    const std::vector<float>& std, int64_t batch) {
  check(ds.size() > 0, "evaluate: empty dataset");
  const int64_t k = static_cast<int64_t>(ds.classes.size());
  EvalResult r;
  r.confusion.assign(k, std::vector<int64_t>(k, 0));
  bool was_training = model.is_training();
  model.eval();
  NoGradGuard ng;
  data::DataLoader loader(ds, eval_loader_options(mean, std, batch));
  loader.start_epoch(0);
  data::Batch b;
  double loss_sum = 0;
  int64_t n = 0, correct = 0;
  while (loader.next(b)) {
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
  r.loss = loss_sum / n;
  r.accuracy = static_cast<double>(correct) / n;
  for (int64_t c = 0; c < k; ++c) {
    int64_t total = 0;
    for (int64_t p = 0; p < k; ++p) total += r.confusion[c][p];
    r.per_class.push_back(total ? static_cast<double>(r.confusion[c][c]) / total : 0.0);
  }
  return r;
}

// ---- trainer --------------------------------------------------------------------------------

namespace {
std::atomic<bool> g_stop_requested{false};
static_assert(std::atomic<bool>::is_always_lock_free, "request_stop must be async-signal-safe");

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

Trainer::Trainer(nn::ModulePtr model, data::DatasetSplit data, TrainConfig config)
    : config_(std::move(config)), model_(std::move(model)), data_(std::move(data)) {
  setup();
}

Trainer::~Trainer() = default;

void Trainer::setup() {
  check(config_.epochs >= 1, "train: --epochs must be at least 1");
  check(config_.batch >= 1, "train: --batch must be at least 1");
  check(data_.train.size() > 0 && data_.test.size() > 0, "train: empty training or test set");
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
  std::string ck = checkpoint_path(config_.out);
  if (config_.resume) {
    load_checkpoint(ck);
    // A run stopped (killed, or a second signal) between the checkpoint and the files that
    // follow it leaves those a save behind: bring them up to the checkpoint first.
    save_run_files(config_.out, [&] {
      save_weights(*model_, meta_, weights_path(config_.out));
      write_reports();
    });
  } else {
    check(!fs::exists(ck), config_.out + " already holds a checkpoint: pass --resume to " +
                               "continue it or choose another --out");
  }
  fs::create_directories(config_.out);
  check_room_for_checkpoints();
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
  return data::batches_per_epoch(data_.train.size(), config_.batch, /*drop_last=*/false);
}

bool Trainer::should_stop() {
  if (g_stop_requested.exchange(false)) {
    stopped_ = Stop::requested;
    return true;
  }
  if (config_.time_limit_minutes > 0 &&
      now_seconds() - fit_start_ >= 60 * config_.time_limit_minutes) {
    stopped_ = Stop::time_limit;
    return true;
  }
  return false;
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
  lo.drop_last = false;
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
    float lv = loss.value().item();
    if (!std::isfinite(lv)) {
      throw Error("train: loss became " + std::string(std::isnan(lv) ? "NaN" : "inf") +
                  " at epoch " + std::to_string(epoch + 1) + " step " + std::to_string(p.step + 1) +
                  "; stopped, the last good checkpoint is " + checkpoint_path(config_.out));
    }
    state_->opt->zero_grad();
    backward(loss);
    state_->opt->step();
    model_->apply_constraints();
    const int64_t bs = static_cast<int64_t>(b.labels.size());
    const int64_t k = logits.size(1);
    const int64_t correct_before = p.correct;
    for (int64_t i = 0; i < bs; ++i)
      p.correct += argmax_row(logits.value().data() + i * k, k) == b.labels[i];
    p.loss_sum += static_cast<double>(lv) * bs;
    p.seen += bs;
    ++p.step;
    ++global_step_;
    p.interval_loss_sum += static_cast<double>(lv) * bs;
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
      if (should_stop()) {
        save_checkpoint();
        return false;
      }
      if (config_.checkpoint_minutes > 0 && now - last_save_ >= 60 * config_.checkpoint_minutes) {
        save_checkpoint();
        last_save_ = now_seconds();
      }
    }
    const double el = now - t0;
    if (config_.progress && (tty ? now - last_print > 0.2 : now - last_print > 15.0)) {
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
  EvalResult ev = evaluate(*model_, data_.test, meta_.mean, meta_.std);
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
  {  // the epoch's line, with or without the progress line
    std::fprintf(stderr,
                 "%sepoch %lld/%lld  train loss %.4f acc %.2f%%  test loss %.4f acc %.2f%%  "
                 "%.1f s  %.0f img/s\n",
                 tty && config_.progress ? "\r" : "", static_cast<long long>(m.epoch),
                 static_cast<long long>(config_.epochs), m.train_loss, 100 * m.train_acc,
                 m.test_loss, 100 * m.test_acc, m.seconds, m.images_per_s);
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
    if (e > first && should_stop()) break;
    EpochMetrics m;
    if (!run_epoch(e, m)) break;
    const bool best = std::all_of(history_.begin(), history_.end(),
                                  [&](const EpochMetrics& h) { return m.test_acc >= h.test_acc; });
    history_.push_back(m);
    start_epoch_ = e + 1;
    // best.safetensors first: a run killed between the two writes still has its best epoch.
    save_run_files(config_.out, [&] {
      if (best) save_weights(*model_, meta_, best_weights_path(config_.out));
    });
    save_checkpoint();
    last_save_ = now_seconds();
    save_run_files(config_.out, [&] { write_reports(); });
  }
  return history_;
}

void request_stop() noexcept {
  g_stop_requested.store(true);
}

}  // namespace cnnzoo::train
