// `cnnzoo train`, `eval`, `predict`, `forward` and `bench`.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "cli/common.hpp"
#include "cnnzoo/data/dataset.hpp"
#include "cnnzoo/io/image.hpp"
#include "cnnzoo/io/npy.hpp"
#include "cnnzoo/io/safetensors.hpp"
#include "cnnzoo/ops/loss.hpp"
#include "cnnzoo/optim/sgd.hpp"
#include "cnnzoo/parallel.hpp"
#include "cnnzoo/random.hpp"
#include "cnnzoo/train/trainer.hpp"

namespace fs = std::filesystem;

namespace cnnzoo::cli {

namespace {

volatile std::sig_atomic_t g_stop_signal = 0;

extern "C" void on_stop_signal(int sig) {
  g_stop_signal = sig;
  train::request_stop();
}

// Ctrl-C or SIGTERM: the run stops after its current step and saves a checkpoint. The
// handler is reset on delivery, so a second signal ends the process at once (every file is
// written atomically, so that loses only the steps since the last checkpoint).
void stop_on_signals() {
  struct sigaction sa = {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESETHAND;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

template <class T>
std::vector<T> json_vector(const std::map<std::string, std::string>& meta, const std::string& key) {
  auto it = meta.find(key);
  if (it == meta.end()) return {};
  json j = json::parse(it->second, nullptr, false);
  if (j.is_discarded() || !j.is_array()) return {};
  try {
    return j.get<std::vector<T>>();
  } catch (const json::exception&) {
    return {};
  }
}

void set_threads(int threads) {
  if (threads > 0) set_num_threads(threads);
}

}  // namespace

LoadedModel load_model(const std::string& name, const std::string& weights,
                       int64_t classes_override, const std::vector<std::string>& sets) {
  check(fs::exists(weights), "weights file not found: " + weights);
  // Read the metadata first: it says how the model was built (classes, options, input).
  io::SafetensorsFile f = io::load_safetensors(weights);
  const auto& meta = f.metadata;
  LoadedModel lm;
  lm.spec.name = name;
  auto it = meta.find("model_options");
  if (it != meta.end()) {
    json j = json::parse(it->second, nullptr, false);
    if (j.is_object()) lm.spec.options = j.get<std::map<std::string, std::string>>();
  }
  for (auto& [k, v] : parse_sets(sets)) lm.spec.options[k] = v;
  lm.classes = json_vector<std::string>(meta, "classes");
  if (classes_override > 0)
    lm.spec.num_classes = classes_override;
  else if (!lm.classes.empty())
    lm.spec.num_classes = static_cast<int64_t>(lm.classes.size());
  if (meta.count("in_channels")) lm.spec.in_channels = std::stoll(meta.at("in_channels"));
  if (meta.count("input_size")) lm.spec.input_size = std::stoll(meta.at("input_size"));
  lm.spec = models::resolve_spec(lm.spec);
  lm.model = models::build_model(lm.spec);
  train::load_weights(*lm.model, weights);
  lm.model->eval();
  lm.mean = json_vector<float>(meta, "mean");
  lm.std = json_vector<float>(meta, "std");
  if (lm.mean.empty() || lm.std.empty()) {
    // Weights from elsewhere (e.g. converted from torchvision): the usual statistics.
    const auto& info = models::find_model(name);
    if (info.dataset == "imagenet") {
      lm.mean = {0.485f, 0.456f, 0.406f};
      lm.std = {0.229f, 0.224f, 0.225f};
    } else {
      lm.mean = {0.4914f, 0.4822f, 0.4465f};
      lm.std = {0.2470f, 0.2435f, 0.2616f};
    }
    lm.mean.resize(lm.spec.in_channels, lm.mean.back());
    lm.std.resize(lm.spec.in_channels, lm.std.back());
  }
  check(static_cast<int64_t>(lm.mean.size()) == lm.spec.in_channels &&
            static_cast<int64_t>(lm.std.size()) == lm.spec.in_channels,
        weights + ": normalisation has " + std::to_string(lm.mean.size()) +
            " channels, model has " + std::to_string(lm.spec.in_channels));
  return lm;
}

// ---- train ------------------------------------------------------------------------------------

void add_train(CLI::App& app) {
  auto* cmd = app.add_subcommand("train", "Train a model (metrics.csv, curves.svg, checkpoints)");
  auto c = std::make_shared<train::TrainConfig>();
  auto sets = std::make_shared<std::vector<std::string>>();
  auto classes = std::make_shared<int64_t>(-1);
  cmd->add_option("--model", c->model, "Model name (see `cnnzoo list`)")->required();
  cmd->add_option("--data", c->data, "Dataset path")->required();
  cmd->add_option("--dataset", c->dataset, "cifar10|cifar100|folder|fashion-mnist|mnist|auto")
      ->check(CLI::IsMember({"auto", "cifar10", "cifar100", "folder", "fashion-mnist", "mnist"}));
  cmd->add_option("--epochs", c->epochs, "Epochs")->check(CLI::PositiveNumber);
  cmd->add_option("--batch", c->batch, "Batch size")->check(CLI::PositiveNumber);
  cmd->add_option("--lr", c->lr, "Base learning rate")->check(CLI::NonNegativeNumber);
  cmd->add_option("--schedule", c->schedule, "constant|step|cosine|onecycle")
      ->check(CLI::IsMember({"constant", "step", "cosine", "onecycle"}));
  cmd->add_option("--milestones", c->milestones, "Epochs where `step` divides the rate")
      ->delimiter(',');
  cmd->add_option("--gamma", c->gamma, "Factor of `step` at each milestone");
  cmd->add_option("--warmup", c->warmup, "Epochs of linear warm-up")->check(CLI::NonNegativeNumber);
  cmd->add_option("--momentum", c->momentum, "SGD momentum")->check(CLI::NonNegativeNumber);
  cmd->add_flag("--nesterov", c->nesterov, "Nesterov momentum");
  cmd->add_option("--wd", c->weight_decay, "Weight decay")->check(CLI::NonNegativeNumber);
  cmd->add_flag("!--decay-bn-bias", c->decay_bn_and_bias,
                "Exempt biases and batch-norm parameters from weight decay");
  cmd->add_option("--label-smoothing", c->label_smoothing, "Label smoothing epsilon")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--augment", c->augment, "Comma list: crop, flip, cutout, none");
  cmd->add_option("--cutout", c->cutout, "Cutout square side (with --augment cutout)");
  cmd->add_option("--image-size", c->image_size, "Folder datasets: resize images to this");
  cmd->add_option("--limit-train", c->limit_train,
                  "Use N training images drawn at random (fixed by --seed)");
  cmd->add_option("--limit-test", c->limit_test,
                  "Use N test images drawn at random (fixed by --seed)");
  cmd->add_option("--classes", *classes, "Number of classes (default: the dataset's)");
  cmd->add_option("--set", *sets, "Paper option key=value (repeatable)");
  cmd->add_option("--threads", c->threads, "Threads (default: CNNZOO_NUM_THREADS or cores)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--seed", c->seed, "Random seed");
  cmd->add_option("--out", c->out, "Output directory")->capture_default_str();
  cmd->add_flag("--resume", c->resume, "Continue the run in --out from its checkpoint");
  cmd->add_option("--stop-after", c->stop_after,
                  "Stop after this epoch (a time-boxed session); --resume continues the run")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--time-limit", c->time_limit_minutes,
                  "Stop after this many minutes of training, mid-epoch if need be, with a "
                  "checkpoint; --resume continues the run")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--checkpoint-minutes", c->checkpoint_minutes,
                  "Save a mid-epoch checkpoint this often (0: only at epoch ends)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_flag("!--no-progress", c->progress, "No progress line");
  cmd->callback([c, sets, classes] {
    c->model_options = parse_sets(*sets);
    c->num_classes = *classes;
    stop_on_signals();
    train::Trainer trainer(*c);
    auto hist = trainer.fit();
    const train::TrainConfig& cfg = trainer.config();
    const auto epochs = static_cast<long long>(cfg.epochs);
    const auto done = static_cast<long long>(trainer.epochs_done());
    // Where a stopped run stands, for the message that says how to continue it.
    char where[160];
    if (trainer.epoch_step() > 0)
      std::snprintf(where, sizeof where, "in epoch %lld of %lld at step %lld of %lld", done + 1,
                    epochs, static_cast<long long>(trainer.epoch_step()),
                    static_cast<long long>(trainer.steps_per_epoch()));
    else
      std::snprintf(where, sizeof where, "after epoch %lld of %lld", done, epochs);
    using Stop = train::Trainer::Stop;
    if (trainer.stopped() == Stop::requested) {
      std::fprintf(stderr,
                   "cnnzoo: interrupted (signal %d) %s; checkpoint saved, continue with "
                   "--resume --out %s\n",
                   static_cast<int>(g_stop_signal), where, cfg.out.c_str());
      throw ExitStatus{128 + (g_stop_signal ? static_cast<int>(g_stop_signal) : SIGINT)};
    }
    if (trainer.stopped() != Stop::none) {
      std::printf("stopped %s (%s); continue with --resume --out %s\n", where,
                  trainer.stopped() == Stop::time_limit ? "time limit" : "--stop-after",
                  cfg.out.c_str());
    } else {
      check(!hist.empty(), "train: no epoch was trained");
      double best = 0;
      for (const auto& m : hist) best = std::max(best, m.test_acc);
      std::printf("final test accuracy: %.2f%% (epoch %lld; best epoch %.2f%%)\n",
                  100 * hist.back().test_acc, static_cast<long long>(hist.back().epoch),
                  100 * best);
    }
    if (!hist.empty())
      std::printf("wrote %s, %s/metrics.csv, %s/curves.svg\n", train::weights_path(cfg.out).c_str(),
                  cfg.out.c_str(), cfg.out.c_str());
  });
}

// ---- eval -------------------------------------------------------------------------------------

void add_eval(CLI::App& app) {
  auto* cmd = app.add_subcommand("eval", "Accuracy, per-class accuracy and confusion matrix");
  struct Opts {
    std::string model, weights, data, dataset = "auto";
    int64_t classes = -1, batch = 256, image_size = 0;
    int threads = 0;
    bool as_json = false;
    std::vector<std::string> sets;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("--model", o->model, "Model name")->required();
  cmd->add_option("--weights", o->weights, "Weights (.safetensors)")->required();
  cmd->add_option("--data", o->data, "Dataset path (its test split is evaluated)")->required();
  cmd->add_option("--dataset", o->dataset, "cifar10|cifar100|folder|fashion-mnist|mnist|auto");
  cmd->add_option("--classes", o->classes, "Number of classes");
  cmd->add_option("--batch", o->batch, "Batch size")->check(CLI::PositiveNumber);
  cmd->add_option("--image-size", o->image_size, "Folder datasets: resize images to this");
  cmd->add_option("--set", o->sets, "Paper option key=value");
  cmd->add_option("--threads", o->threads, "Threads")->check(CLI::PositiveNumber);
  cmd->add_flag("--json", o->as_json, "Print JSON");
  cmd->callback([o] {
    set_threads(o->threads);
    LoadedModel lm = load_model(o->model, o->weights, o->classes, o->sets);
    data::LoadOptions opts;
    opts.folder.height = opts.folder.width = static_cast<int>(o->image_size);
    data::DatasetSplit ds = data::load_dataset(o->dataset, o->data, opts);
    check(ds.test.channels == lm.spec.in_channels,
          "eval: dataset has " + std::to_string(ds.test.channels) + " channels, model expects " +
              std::to_string(lm.spec.in_channels));
    train::EvalResult r = train::evaluate(*lm.model, ds.test, lm.mean, lm.std, o->batch);
    const auto& names = ds.test.classes;
    if (o->as_json) {
      json pc = json::object();
      for (size_t i = 0; i < r.per_class.size(); ++i) pc[names[i]] = r.per_class[i];
      std::cout << json({{"accuracy", r.accuracy},
                         {"loss", r.loss},
                         {"per_class", pc},
                         {"classes", names},
                         {"confusion", r.confusion}})
                       .dump(2)
                << "\n";
      return;
    }
    std::printf("accuracy: %.2f%%  loss: %.4f  (%lld images)\n", 100 * r.accuracy, r.loss,
                static_cast<long long>(ds.test.size()));
    std::printf("\nper class:\n");
    for (size_t i = 0; i < r.per_class.size(); ++i)
      std::printf("  %-16s %6.2f%%\n", names[i].c_str(), 100 * r.per_class[i]);
    std::printf("\nconfusion (rows: true, columns: predicted):\n");
    for (size_t i = 0; i < r.confusion.size(); ++i) {
      std::printf("  %-16s", names[i].c_str());
      for (int64_t v : r.confusion[i]) std::printf(" %5lld", static_cast<long long>(v));
      std::printf("\n");
    }
  });
}

// ---- predict ----------------------------------------------------------------------------------

void add_predict(CLI::App& app) {
  auto* cmd = app.add_subcommand("predict", "Classify image files (top-k classes)");
  struct Opts {
    std::string model, weights;
    std::vector<std::string> images, sets;
    int64_t classes = -1, topk = 5;
    int threads = 0;
    bool as_json = false;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("--model", o->model, "Model name")->required();
  cmd->add_option("--weights", o->weights, "Weights (.safetensors)")->required();
  cmd->add_option("images", o->images, "Image files (PNG, JPEG, BMP)")->required();
  cmd->add_option("--topk", o->topk, "How many classes to show")->check(CLI::PositiveNumber);
  cmd->add_option("--classes", o->classes, "Number of classes");
  cmd->add_option("--set", o->sets, "Paper option key=value");
  cmd->add_option("--threads", o->threads, "Threads")->check(CLI::PositiveNumber);
  cmd->add_flag("--json", o->as_json, "Print JSON");
  cmd->callback([o] {
    set_threads(o->threads);
    LoadedModel lm = load_model(o->model, o->weights, o->classes, o->sets);
    const int64_t c = lm.spec.in_channels, s = lm.spec.input_size;
    // Decode everything first, so a bad file fails before any output.
    Tensor x = Tensor::empty({static_cast<int64_t>(o->images.size()), c, s, s});
    for (size_t n = 0; n < o->images.size(); ++n) {
      io::Image img = io::read_image(o->images[n], static_cast<int>(c));
      if (img.height != s || img.width != s)
        img = io::resize_bilinear(img, static_cast<int>(s), static_cast<int>(s));
      float* dst = x.data() + n * c * s * s;
      for (int64_t ch = 0; ch < c; ++ch)
        for (int64_t i = 0; i < s * s; ++i)
          dst[ch * s * s + i] = (img.pixels[i * c + ch] / 255.0f - lm.mean[ch]) / lm.std[ch];
    }
    Tensor probs;
    {
      NoGradGuard ng;
      probs = softmax(lm.model->forward(Var(x)).value());
    }
    const int64_t k = probs.size(1), top = std::min(o->topk, k);
    json out = json::array();
    for (size_t n = 0; n < o->images.size(); ++n) {
      std::vector<int64_t> idx(k);
      for (int64_t i = 0; i < k; ++i) idx[i] = i;
      const float* p = probs.data() + n * k;
      std::partial_sort(idx.begin(), idx.begin() + top, idx.end(),
                        [p](int64_t a, int64_t b) { return p[a] > p[b]; });
      json preds = json::array();
      if (!o->as_json) std::printf("%s\n", o->images[n].c_str());
      for (int64_t t = 0; t < top; ++t) {
        std::string label = idx[t] < static_cast<int64_t>(lm.classes.size())
                                ? lm.classes[idx[t]]
                                : std::to_string(idx[t]);
        preds.push_back({{"class", idx[t]}, {"label", label}, {"probability", p[idx[t]]}});
        if (!o->as_json) std::printf("  %6.2f%%  %s\n", 100 * p[idx[t]], label.c_str());
      }
      out.push_back({{"image", o->images[n]}, {"predictions", preds}});
    }
    if (o->as_json) std::cout << out.dump(2) << "\n";
  });
}

// ---- forward ----------------------------------------------------------------------------------

void add_forward(CLI::App& app) {
  auto* cmd = app.add_subcommand("forward", "Raw logits of a .npy input batch, to .npy");
  struct Opts {
    std::string model, weights, input, output;
    int64_t classes = -1;
    std::vector<std::string> sets;
    int threads = 0;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("--model", o->model, "Model name")->required();
  cmd->add_option("--weights", o->weights, "Weights (.safetensors)")->required();
  cmd->add_option("--input", o->input, "Input .npy, float32 [N, C, H, W]")->required();
  cmd->add_option("--output", o->output, "Output .npy (logits [N, classes])")->required();
  cmd->add_option("--classes", o->classes, "Number of classes");
  cmd->add_option("--set", o->sets, "Paper option key=value");
  cmd->add_option("--threads", o->threads, "Threads")->check(CLI::PositiveNumber);
  cmd->callback([o] {
    set_threads(o->threads);
    LoadedModel lm = load_model(o->model, o->weights, o->classes, o->sets);
    Tensor x = io::load_npy(o->input);
    check(x.dim() == 4 && x.size(1) == lm.spec.in_channels,
          "forward: input " + x.shape_str() + " does not match the model's " +
              std::to_string(lm.spec.in_channels) + " input channels ([N, C, H, W] expected)");
    Tensor y;
    {
      NoGradGuard ng;
      y = lm.model->forward(Var(x)).value();
    }
    io::save_npy(o->output, y);
  });
}

// ---- bench ------------------------------------------------------------------------------------

void add_bench(CLI::App& app) {
  auto* cmd = app.add_subcommand("bench", "Images/s for inference or training steps");
  struct Opts {
    std::string model, input;
    int64_t batch = 128, classes = -1, reps = 10;
    int threads = 0;
    bool train = false, as_json = false;
    double min_seconds = 3.0;
    std::vector<std::string> sets;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("--model", o->model, "Model name")->required();
  cmd->add_option("--batch", o->batch, "Batch size")->check(CLI::PositiveNumber);
  cmd->add_flag("--train", o->train, "Time full training steps (forward, backward, SGD)");
  cmd->add_option("--threads", o->threads, "Threads")->check(CLI::PositiveNumber);
  cmd->add_option("--classes", o->classes, "Number of classes");
  cmd->add_option("--input", o->input, "Input size CxHxW (default: the model's)");
  cmd->add_option("--reps", o->reps, "Minimum timed repetitions")->check(CLI::PositiveNumber);
  cmd->add_option("--min-seconds", o->min_seconds, "Minimum timed seconds");
  cmd->add_option("--set", o->sets, "Paper option key=value");
  cmd->add_flag("--json", o->as_json, "Print JSON");
  cmd->callback([o] {
    using clock = std::chrono::steady_clock;
    set_threads(o->threads);
    models::ModelSpec spec;
    spec.name = o->model;
    spec.num_classes = o->classes;
    spec.options = parse_sets(o->sets);
    if (!o->input.empty()) {
      Shape chw = parse_chw(o->input);
      spec.in_channels = chw[0];
      spec.input_size = chw[1];
    }
    spec = models::resolve_spec(spec);
    nn::ModulePtr model = models::build_model(spec);
    Generator g(1);
    auto make_input = [&](int64_t b) {
      Tensor x = Tensor::empty({b, spec.in_channels, spec.input_size, spec.input_size});
      for (float& v : x) v = static_cast<float>(g.normal());
      return x;
    };
    Tensor x = make_input(o->batch);
    optim::SGDOptions so;
    so.lr = 1e-3;
    so.momentum = 0.9;
    so.weight_decay = 5e-4;
    optim::SGD opt(model->named_parameters(), so);
    auto step = [&](const Tensor& in) {
      if (o->train) {
        std::vector<int64_t> labels(in.size(0));
        for (size_t i = 0; i < labels.size(); ++i)
          labels[i] = static_cast<int64_t>(i) % spec.num_classes;
        Var loss = cross_entropy(model->forward(Var(in)), labels);
        for (auto& aux : model->take_aux_logits()) (void)aux;
        opt.zero_grad();
        backward(loss);
        opt.step();
      } else {
        NoGradGuard ng;
        model->forward(Var(in));
      }
    };
    auto time_it = [&](const Tensor& in, int64_t min_reps, double min_s) {
      step(in);  // warm-up: workspaces and the storage cache fill here
      step(in);
      std::vector<double> ts;
      auto start = clock::now();
      while (static_cast<int64_t>(ts.size()) < min_reps ||
             std::chrono::duration<double>(clock::now() - start).count() < min_s) {
        auto t0 = clock::now();
        step(in);
        ts.push_back(std::chrono::duration<double>(clock::now() - t0).count());
      }
      std::sort(ts.begin(), ts.end());
      return ts[ts.size() / 2];
    };
    if (o->train)
      model->train();
    else
      model->eval();
    double t = time_it(x, o->reps, o->min_seconds);
    // Batch-1 latency of the same kind of step (an inference or a training step).
    double latency = time_it(make_input(1), o->reps, 0.5) * 1000;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double rss_mb = ru.ru_maxrss / 1024.0;
    double ips = o->batch / t;
    if (o->as_json) {
      json j = {{"model", spec.name},       {"batch", o->batch},
                {"threads", num_threads()}, {"mode", o->train ? "train" : "inference"},
                {"images_per_s", ips},      {"step_ms", t * 1000},
                {"latency_ms", latency},    {"peak_rss_mb", rss_mb}};
      std::cout << j.dump(2) << "\n";
      return;
    }
    std::printf("%s %s batch %lld, %d threads: %.1f images/s (%.1f ms per batch)\n",
                spec.name.c_str(), o->train ? "training" : "inference",
                static_cast<long long>(o->batch), num_threads(), ips, t * 1000);
    std::printf("batch-1 latency: %.2f ms\n", latency);
    std::printf("peak RSS: %.0f MB\n", rss_mb);
  });
}

}  // namespace cnnzoo::cli
