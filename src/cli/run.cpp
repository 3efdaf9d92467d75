// `cnnzoo train`, `eval`, `predict`, `forward` and `bench`.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "cli/common.hpp"
#include "cnnzoo/data/dataset.hpp"
#include "cnnzoo/distributed.hpp"
#include "cnnzoo/io/image.hpp"
#include "cnnzoo/io/npy.hpp"
#include "cnnzoo/io/safetensors.hpp"
#include "cnnzoo/models.hpp"
#include "cnnzoo/onnx.hpp"
#include "cnnzoo/ops/loss.hpp"
#include "cnnzoo/optim/sgd.hpp"
#include "cnnzoo/parallel.hpp"
#include "cnnzoo/precision.hpp"
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

}  // namespace

void set_threads(int threads) {
  if (threads > 0) set_num_threads(threads);
}

CLI::Option* add_precision(CLI::App* cmd, std::string& precision) {
  return cmd
      ->add_option("--precision", precision,
                   "fp32, or bf16: conv and linear products in bfloat16 with fp32 sums (CPUs "
                   "with AVX-512 BF16)")
      ->check(CLI::IsMember({"fp32", "bf16"}))
      ->capture_default_str();
}

Classifier load_classifier(const std::string& weights, const std::string& model,
                           const std::vector<std::string>& sets, int64_t classes) {
  LoadOptions lo;
  lo.model = model;
  lo.options = parse_sets(sets);
  lo.num_classes = classes;
  return Classifier::load(weights, lo);
}

// ---- train ------------------------------------------------------------------------------------

namespace {

// --dataset and --image-size, as train and eval take them.
void add_dataset_options(CLI::App* cmd, std::string& dataset, int64_t& image_size) {
  cmd->add_option("--dataset", dataset, "cifar10|cifar100|folder|fashion-mnist|mnist|auto")
      ->check(CLI::IsMember({"auto", "cifar10", "cifar100", "folder", "fashion-mnist", "mnist"}))
      ->capture_default_str();
  cmd->add_option("--image-size", image_size,
                  "Folder datasets: resize images to this (0: keep their size)")
      ->check(CLI::Range(int64_t(0), int64_t(4096)))
      ->capture_default_str();
}

// The flags of train that set the recipe, with their names in the training configuration.
const std::vector<std::pair<const char*, const char*>> kRecipeFlags = {
    {"--model", "model"},
    {"--dataset", "dataset"},
    {"--batch", "batch"},
    {"--lr", "lr"},
    {"--schedule", "schedule"},
    {"--milestones", "milestones"},
    {"--gamma", "gamma"},
    {"--warmup", "warmup"},
    {"--momentum", "momentum"},
    {"--nesterov", "nesterov"},
    {"--wd", "weight_decay"},
    {"--no-decay-bn-bias", "decay_bn_and_bias"},
    {"--label-smoothing", "label_smoothing"},
    {"--aux-loss-weight", "aux_loss_weight"},
    {"--augment", "augment"},
    {"--cutout", "cutout"},
    {"--image-size", "image_size"},
    {"--limit-train", "limit_train"},
    {"--limit-test", "limit_test"},
    {"--classes", "num_classes"},
    {"--set", "model_options"},
    {"--seed", "seed"},
    {"--sync-bn", "sync_bn"},
    {"--resume-from-pruned", "pruned_from"}};

void refuse_changed_recipe(const CLI::App& cmd, const train::TrainConfig& given,
                           const train::TrainConfig& saved) {
  const json g = json::parse(given.to_json()), s = json::parse(saved.to_json());
  for (const auto& [flag, key] : kRecipeFlags)
    if (cmd.get_option(flag)->count() > 0 && g.at(key) != s.at(key))
      throw Error(std::string(flag) + " asks for " + key + " " + g.at(key).dump() +
                  ", but the run being resumed has " + s.at(key).dump() +
                  " (a resumed run keeps its recipe; --epochs may grow)");
}

}  // namespace

// The group of processes mpirun started this one in; null when started alone.
std::shared_ptr<dist::Communicator> training_group() {
  if (!dist::launched_by_mpirun()) return nullptr;
  if (!dist::mpi_built()) {
    // Every rank would train alone, each writing the same files: refuse, with one line.
    const char* rank = std::getenv("OMPI_COMM_WORLD_RANK");
    if (rank && std::atoi(rank) != 0) throw ExitStatus{1};
    throw Error(
        "started by mpirun, but this cnnzoo was built without MPI: rebuild with libopenmpi-dev "
        "installed (CMake -DCNNZOO_MPI=ON), or run it without mpirun");
  }
  return dist::mpi_world();
}

// One training run: this process alone (group null) or one rank of a data-parallel group.
void run_train(const CLI::App& cmd, train::TrainConfig* c, const std::vector<std::string>& sets,
               int64_t classes, bool as_json, const CLI::Option* batch, const CLI::Option* lr,
               const CLI::Option* augment, std::shared_ptr<dist::Communicator> group) {
  const bool root = !group || group->is_root();
  c->model_options = parse_sets(sets);
  c->num_classes = classes;
  train::TrainConfig cfg0;
  if (c->resume) {
    // A resumed run keeps its recipe: a flag that asks for another is refused.
    const bool data_given = !c->data.empty();
    cfg0 = train::resumed_config(*c, group.get());
    refuse_changed_recipe(cmd, *c, cfg0);
    if (data_given) cfg0.data = c->data;  // the data may have moved
  } else {
    if (!c->pruned_from.empty()) {
      // The pruned file names its model: --model, --set and --classes may be left out.
      const ModelMetadata md = ModelMetadata::from_file_metadata(
          io::load_safetensors(c->pruned_from).metadata, c->pruned_from);
      check(c->model.empty() || md.spec.name.empty() || c->model == md.spec.name,
            c->pruned_from + " holds a '" + md.spec.name + "' model, not '" + c->model + "'");
      if (c->model.empty()) c->model = md.spec.name;
      if (sets.empty()) c->model_options = md.spec.options;
      if (classes <= 0) c->num_classes = md.spec.num_classes;
    }
    check(!c->model.empty(), "train: --model is required (see `cnnzoo list`)");
    check(!c->data.empty(), "train: --data is required");
    // What the flags leave open comes from the dataset's recipe.
    const train::Recipe r = train::default_recipe(
        c->dataset == "auto" ? data::detect_dataset_kind(c->data) : c->dataset);
    if (!batch->count()) c->batch = r.batch;
    if (!lr->count()) c->lr = r.lr;
    if (!augment->count()) c->augment = r.augment;
    cfg0 = *c;
  }
  manual_seed(cfg0.seed);  // the model's initial weights draw from the global generator
  data::DatasetSplit data = train::load_data(cfg0);
  nn::ModulePtr model = models::build_model(train::model_spec(cfg0, data));
  stop_on_signals();
  train::Trainer trainer(model, std::move(data), cfg0, group);
  const train::TrainConfig& cfg = trainer.config();
  // Say what is about to happen; on stderr with --json, so that stdout is the JSON alone.
  // Under mpirun rank 0 speaks for the group.
  FILE* say = as_json ? stderr : stdout;
  if (root) {
    if (group && group->size() > 1)
      std::fprintf(say,
                   "data parallel: %s, global batch %lld (%lld per process), %d threads each\n",
                   group->describe().c_str(), static_cast<long long>(cfg.batch),
                   static_cast<long long>(cfg.batch / group->size()), num_threads());
    std::fprintf(say, "%s: %lld parameters; %lld training and %lld test images of %lld classes\n",
                 cfg.model.c_str(), static_cast<long long>(trainer.model().num_parameters()),
                 static_cast<long long>(trainer.data().train.size()),
                 static_cast<long long>(trainer.data().test.size()),
                 static_cast<long long>(trainer.data().train.classes.size()));
    std::fprintf(say,
                 "recipe: %lld epochs, batch %lld, lr %g (%s, warm-up %g), momentum %g%s, "
                 "weight decay %g%s, augment %s, label smoothing %g, seed %llu\n",
                 static_cast<long long>(cfg.epochs), static_cast<long long>(cfg.batch), cfg.lr,
                 cfg.schedule.c_str(), cfg.warmup, cfg.momentum, cfg.nesterov ? " (Nesterov)" : "",
                 cfg.weight_decay, cfg.decay_bn_and_bias ? "" : " (not on biases and BN)",
                 cfg.augment.c_str(), cfg.label_smoothing,
                 static_cast<unsigned long long>(cfg.seed));
    std::fflush(say);
  }
  auto hist = trainer.fit();
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
    if (root)
      std::fprintf(stderr,
                   "cnnzoo: interrupted (signal %d) %s; checkpoint saved, continue with "
                   "--resume --out %s\n",
                   static_cast<int>(g_stop_signal), where, cfg.out.c_str());
    throw ExitStatus{128 + (g_stop_signal ? static_cast<int>(g_stop_signal) : SIGINT)};
  }
  const char* stop_reason = trainer.stopped() == Stop::time_limit   ? "time limit"
                            : trainer.stopped() == Stop::stop_after ? "--stop-after"
                                                                    : "";
  if (!root) return;
  size_t best = 0;
  for (size_t i = 0; i < hist.size(); ++i)
    if (hist[i].test_acc > hist[best].test_acc) best = i;
  if (as_json) {
    json j = {{"model", cfg.model}, {"epochs_done", done},
              {"epochs", epochs},   {"stopped", stop_reason},
              {"out", cfg.out},     {"checkpoint", train::checkpoint_path(cfg.out)}};
    if (!hist.empty()) {
      j["final_epoch"] = hist.back().epoch;
      j["final_test_acc"] = hist.back().test_acc;
      j["final_test_loss"] = hist.back().test_loss;
      j["best_epoch"] = hist[best].epoch;
      j["best_test_acc"] = hist[best].test_acc;
      j["weights"] = train::weights_path(cfg.out);
      j["best_weights"] = train::best_weights_path(cfg.out);
    }
    std::cout << j.dump(2) << "\n";
    return;
  }
  if (!hist.empty())
    std::printf("wrote %s, %s, %s/metrics.csv, %s/curves.svg\n",
                train::weights_path(cfg.out).c_str(), train::best_weights_path(cfg.out).c_str(),
                cfg.out.c_str(), cfg.out.c_str());
  if (trainer.stopped() != Stop::none) {
    std::printf("stopped %s (%s); continue with --resume --out %s\n", where, stop_reason,
                cfg.out.c_str());
  } else {
    check(!hist.empty(), "train: no epoch was trained");
    std::printf("final test accuracy: %.2f%% (epoch %lld; best epoch %.2f%%, epoch %lld)\n",
                100 * hist.back().test_acc, static_cast<long long>(hist.back().epoch),
                100 * hist[best].test_acc, static_cast<long long>(hist[best].epoch));
  }
}

void add_train(CLI::App& app) {
  auto* cmd = app.add_subcommand("train", "Train a model (metrics.csv, curves.svg, checkpoints)");
  auto c = std::make_shared<train::TrainConfig>();
  auto sets = std::make_shared<std::vector<std::string>>();
  auto classes = std::make_shared<int64_t>(-1);
  auto as_json = std::make_shared<bool>(false);
  const train::Recipe cifar = train::default_recipe("cifar10"),
                      idx = train::default_recipe("fashion-mnist");
  auto recipe_help = [](const std::string& what, const std::string& a, const std::string& b) {
    return what + " (default: " + a + " for CIFAR and folders, " + b + " for (Fashion-)MNIST)";
  };
  cmd->add_option("--model", c->model,
                  "Model name (see `cnnzoo list`); with --resume, the checkpoint's");
  cmd->add_option("--data", c->data, "Dataset path; with --resume, the checkpoint's by default");
  add_dataset_options(cmd, c->dataset, c->image_size);
  cmd->add_option("--epochs", c->epochs, "Epochs")
      ->check(CLI::Range(int64_t(1), kMaxEpochs))
      ->capture_default_str();
  auto* batch = cmd->add_option(
      "--batch", c->batch,
      recipe_help("Batch size", std::to_string(cifar.batch), std::to_string(idx.batch)));
  batch->check(CLI::Range(int64_t(1), kMaxBatch));
  auto* lr = cmd->add_option(
      "--lr", c->lr, recipe_help("Base learning rate", json(cifar.lr).dump(), json(idx.lr).dump()));
  lr->check(finite_range(0.0, 100.0));
  cmd->add_option("--schedule", c->schedule, "constant|step|cosine|onecycle")
      ->check(CLI::IsMember({"constant", "step", "cosine", "onecycle"}))
      ->capture_default_str();
  cmd->add_option("--milestones", c->milestones,
                  "Epochs where `step` multiplies the rate by --gamma (default: 50% and 75%)")
      ->delimiter(',');
  cmd->add_option("--gamma", c->gamma, "Factor of `step` at each milestone")
      ->check(finite_range(0.0, 1.0))
      ->capture_default_str();
  cmd->add_option("--warmup", c->warmup, "Epochs of linear warm-up")
      ->check(finite_range(0.0, double(kMaxEpochs)))
      ->capture_default_str();
  cmd->add_option("--momentum", c->momentum, "SGD momentum")
      ->check(finite_range(0.0, 1.0))
      ->capture_default_str();
  cmd->add_flag("--nesterov", c->nesterov, "Nesterov momentum (default: off)");
  cmd->add_option("--wd", c->weight_decay, "Weight decay")
      ->check(finite_range(0.0, 1.0))
      ->capture_default_str();
  cmd->add_flag_callback(
      "--no-decay-bn-bias", [c] { c->decay_bn_and_bias = false; },
      "Exempt biases and batch-norm parameters from weight decay (default: decay them too)");
  cmd->add_option("--label-smoothing", c->label_smoothing, "Label smoothing epsilon")
      ->check(finite_range(0.0, 1.0))
      ->capture_default_str();
  cmd->add_option("--aux-loss-weight", c->aux_loss_weight,
                  "Loss weight of each auxiliary classifier (default: the paper's, GoogLeNet "
                  "0.3, Inception v3 0.4)")
      ->check(finite_range(0.0, 10.0));
  auto* augment = cmd->add_option(
      "--augment", c->augment,
      recipe_help("Comma list of crop, flip, cutout, none", cifar.augment, idx.augment));
  cmd->add_option("--cutout", c->cutout, "Cutout square side (with --augment cutout)")
      ->check(CLI::Range(int64_t(1), int64_t(4096)))
      ->capture_default_str();
  cmd->add_option("--limit-train", c->limit_train,
                  "Use N training images drawn at random, fixed by --seed (0: all)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--limit-test", c->limit_test,
                  "Use N test images drawn at random, fixed by --seed (0: all)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--classes", *classes, "Number of classes (default: the dataset's)")
      ->check(CLI::Range(int64_t(1), kMaxClasses));
  cmd->add_option("--set", *sets, "Paper option key=value (repeatable; see `cnnzoo list`)");
  cmd->add_option("--threads", c->threads, "Threads (default: CNNZOO_NUM_THREADS or cores)")
      ->check(CLI::Range(1, kMaxThreads));
  add_precision(cmd, c->precision);
  cmd->add_option("--seed", c->seed, "Random seed")->capture_default_str();
  cmd->add_option("--out", c->out, "Output directory")->capture_default_str();
  cmd->add_flag("--resume", c->resume, "Continue the run in --out from its checkpoint");
  cmd->add_option("--resume-from-pruned", c->pruned_from,
                  "Fine-tune a pruned model (`cnnzoo prune`): a new run from its weights that "
                  "keeps its masks (pruned weights stay zero); --model defaults to the file's");
  cmd->add_flag("--sync-bn", c->sync_bn,
                "Under mpirun: BatchNorm statistics over the global batch (default: each "
                "process's share)");
  cmd->add_flag("--reshard", c->reshard,
                "With --resume under mpirun: accept a checkpoint written by a different number "
                "of processes (the continuation is then not bit-exact)");
  cmd->add_option("--stop-after", c->stop_after,
                  "Stop after this epoch (a time-boxed session); --resume continues the run")
      ->check(CLI::Range(int64_t(1), kMaxEpochs));
  cmd->add_option("--time-limit", c->time_limit_minutes,
                  "Stop after this many minutes of training, mid-epoch if need be, with a "
                  "checkpoint; --resume continues the run (default: none)")
      ->check(finite_range(0.0, 1e7));
  cmd->add_option("--checkpoint-minutes", c->checkpoint_minutes,
                  "Save a mid-epoch checkpoint this often (0: only at epoch ends)")
      ->check(finite_range(0.0, 1e7))
      ->capture_default_str();
  cmd->add_flag_callback(
      "--no-progress", [c] { c->progress = false; },
      "No per-step progress line (the per-epoch lines stay)");
  cmd->add_flag("--json", *as_json, "Print the final result as JSON on stdout");
  cmd->callback([cmd, c, sets, classes, as_json, batch, lr, augment] {
    std::shared_ptr<dist::Communicator> group = training_group();
    if (!group) return run_train(*cmd, c.get(), *sets, *classes, *as_json, batch, lr, augment, {});
    try {
      run_train(*cmd, c.get(), *sets, *classes, *as_json, batch, lr, augment, group);
    } catch (const ExitStatus&) {
      throw;  // every rank stopped at the same step (a signal or the time limit)
    } catch (const std::exception& e) {
      // The other ranks are waiting for this one in a collective: stop them all.
      std::fprintf(stderr, "cnnzoo: error on rank %d of %d: %s\n", group->rank(), group->size(),
                   e.what());
      std::fflush(stderr);
      group->abort(1);
    }
  });
}

// ---- eval, predict, forward: a model from a weights file -------------------------------------

void ModelFileOptions::add_to(CLI::App* cmd, bool ensemble) {
  cmd->add_option("--weights", weights,
                  ensemble ? "Weights or checkpoint (.safetensors) written by cnnzoo or "
                             "converted; a comma list: an ensemble (the mean of the members' "
                             "softmax outputs; each member's result is shown too)"
                           : "Weights or checkpoint (.safetensors) written by cnnzoo or converted")
      ->required();
  cmd->add_option("--model", model,
                  "Model name; default: the one the file names (a different one is refused)");
  cmd->add_option("--set", sets, "Paper option key=value; must agree with the file");
  cmd->add_option("--classes", classes, "Number of classes; must agree with the file")
      ->check(CLI::Range(int64_t(1), kMaxClasses));
  cmd->add_option("--threads", threads, "Threads (default: CNNZOO_NUM_THREADS or cores)")
      ->check(CLI::Range(1, kMaxThreads));
  add_precision(cmd, precision);
}

Classifier ModelFileOptions::load() const {
  set_threads(threads);
  set_precision(parse_precision(precision));
  const std::vector<std::string> files = weight_files();
  check(files.size() == 1, "--weights: this subcommand takes one file, got " +
                               std::to_string(files.size()) + " (" + weights + ")");
  return load_classifier(weights, model, sets, classes);
}

std::vector<Classifier> ModelFileOptions::load_ensemble() const {
  set_threads(threads);
  set_precision(parse_precision(precision));
  std::vector<Classifier> out;
  for (const std::string& f : weight_files())
    out.push_back(load_classifier(f, model, sets, classes));
  return out;
}

std::vector<std::string> ModelFileOptions::weight_files() const {
  std::vector<std::string> files;
  std::stringstream ss(weights);
  for (std::string f; std::getline(ss, f, ',');) {
    check(!f.empty(), "--weights: an empty file name in '" + weights + "'");
    files.push_back(f);
  }
  check(!files.empty(), "--weights: no file given");
  return files;
}

namespace {

// The classes every member of an ensemble must share: the same count, and the same names
// where files name them.
void check_same_classes(const std::vector<Classifier>& members) {
  for (const Classifier& m : members) {
    const ModelMetadata& a = members.front().metadata();
    const ModelMetadata& b = m.metadata();
    check(a.spec.num_classes == b.spec.num_classes,
          "ensemble: " + members.front().name() + " has " + std::to_string(a.spec.num_classes) +
              " classes, " + m.name() + " has " + std::to_string(b.spec.num_classes));
    check(a.classes.empty() || b.classes.empty() || a.classes == b.classes,
          "ensemble: " + m.name() + "'s classes " + json(b.classes).dump() + " are not " +
              members.front().name() + "'s " + json(a.classes).dump());
  }
}

}  // namespace

void add_eval(CLI::App& app) {
  auto* cmd = app.add_subcommand("eval", "Accuracy, per-class accuracy and confusion matrix");
  struct Opts : ModelFileOptions {
    std::string data, dataset = "auto";
    int64_t batch = 256, image_size = 0;
    bool as_json = false;
  };
  auto o = std::make_shared<Opts>();
  o->add_to(cmd, true);
  cmd->add_option("--data", o->data, "Dataset path (its test split is evaluated)")->required();
  add_dataset_options(cmd, o->dataset, o->image_size);
  cmd->add_option("--batch", o->batch, "Batch size")
      ->check(CLI::Range(int64_t(1), kMaxBatch))
      ->capture_default_str();
  cmd->add_flag("--json", o->as_json, "Print JSON");
  cmd->callback([o] {
    std::vector<Classifier> members = o->load_ensemble();
    check_same_classes(members);
    for (const Classifier& m : members)
      m.require_normalisation();  // the loader normalises with each file's statistics
    data::LoadOptions opts;
    opts.folder.height = opts.folder.width = static_cast<int>(o->image_size);
    data::DatasetSplit ds = data::load_dataset(o->dataset, o->data, opts);
    const auto& names = ds.test.classes;
    const std::vector<std::string> files = o->weight_files();
    for (size_t i = 0; i < members.size(); ++i) {
      const ModelMetadata& md = members[i].metadata();
      check(ds.test.channels == md.spec.in_channels,
            "eval: dataset has " + std::to_string(ds.test.channels) + " channels, " + files[i] +
                " expects " + std::to_string(md.spec.in_channels));
      check(static_cast<int64_t>(names.size()) == md.spec.num_classes,
            "eval: dataset has " + std::to_string(names.size()) + " classes, " + files[i] +
                " has " + std::to_string(md.spec.num_classes));
      check(md.classes.empty() || md.classes == names,
            "eval: the dataset's classes (" + json(names).dump() + ") are not " + files[i] +
                "'s (" + json(md.classes).dump() + ")");
    }
    train::EvalResult r;
    std::vector<train::EvalResult> each;
    if (members.size() == 1) {
      const ModelMetadata& md = members[0].metadata();
      r = train::evaluate(members[0].module(), ds.test, md.mean, md.std, o->batch);
    } else {
      std::vector<train::EnsembleMember> em;
      for (const Classifier& m : members)
        em.push_back({&m.module(), m.metadata().mean, m.metadata().std});
      train::EnsembleResult er = train::evaluate_ensemble(em, ds.test, o->batch);
      r = er.ensemble;
      each = er.members;
    }
    const std::string name =
        members.size() == 1 ? members[0].name() : "ensemble of " + std::to_string(members.size());
    if (o->as_json) {
      json pc = json::object();
      for (size_t i = 0; i < r.per_class.size(); ++i) pc[names[i]] = r.per_class[i];
      json j = {{"model", name},   {"accuracy", r.accuracy}, {"loss", r.loss},
                {"per_class", pc}, {"classes", names},       {"confusion", r.confusion}};
      if (!each.empty()) {
        j["members"] = json::array();
        for (size_t i = 0; i < each.size(); ++i)
          j["members"].push_back({{"weights", files[i]},
                                  {"model", members[i].name()},
                                  {"accuracy", each[i].accuracy},
                                  {"loss", each[i].loss}});
      }
      std::cout << j.dump(2) << "\n";
      return;
    }
    for (size_t i = 0; i < each.size(); ++i)
      std::printf("member %zu  %s (%s): accuracy %.2f%%  loss %.4f\n", i + 1,
                  members[i].name().c_str(), files[i].c_str(), 100 * each[i].accuracy,
                  each[i].loss);
    std::printf("%s: accuracy %.2f%%  loss %.4f  (%lld images)\n", name.c_str(), 100 * r.accuracy,
                r.loss, static_cast<long long>(ds.test.size()));
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

void add_predict(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "predict", "Classify image files (top-k classes), preprocessed as the file says");
  struct Opts : ModelFileOptions {
    std::vector<std::string> images;
    int64_t topk = 5;
    bool as_json = false;
  };
  auto o = std::make_shared<Opts>();
  o->add_to(cmd, true);
  cmd->add_option("images", o->images, "Image files (PNG, JPEG, BMP)")->required();
  cmd->add_option("--topk", o->topk, "How many classes to show")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_flag("--json", o->as_json, "Print JSON");
  cmd->callback([o] {
    std::vector<Classifier> members = o->load_ensemble();
    check_same_classes(members);
    // Decode everything first, so a bad file fails before any output; each member converts
    // the channels it needs.
    std::vector<io::Image> images;
    for (const auto& path : o->images) images.push_back(io::read_image(path));
    std::vector<Tensor> probs;
    for (const Classifier& m : members) probs.push_back(m.probabilities(m.preprocess(images)));
    Tensor mean = probs[0].clone();
    for (size_t i = 1; i < probs.size(); ++i)
      for (int64_t j = 0; j < mean.numel(); ++j) mean[j] += probs[i][j];
    for (float& v : mean) v /= static_cast<float>(probs.size());
    auto top = members[0].topk(mean, o->topk);
    std::vector<std::vector<std::vector<Prediction>>> member_top;
    if (members.size() > 1)
      for (size_t i = 0; i < members.size(); ++i)
        member_top.push_back(members[i].topk(probs[i], 1));
    const std::vector<std::string> files = o->weight_files();
    json out = json::array();
    for (size_t n = 0; n < images.size(); ++n) {
      json preds = json::array();
      if (!o->as_json)
        std::printf("%s%s\n", o->images[n].c_str(), members.size() > 1 ? " (ensemble)" : "");
      for (const Prediction& p : top[n]) {
        preds.push_back({{"class", p.index}, {"label", p.label}, {"probability", p.probability}});
        if (!o->as_json) std::printf("  %6.2f%%  %s\n", 100 * p.probability, p.label.c_str());
      }
      json item = {{"image", o->images[n]}, {"predictions", preds}};
      if (!member_top.empty()) {
        item["members"] = json::array();
        for (size_t i = 0; i < members.size(); ++i) {
          const Prediction& p = member_top[i][n][0];
          item["members"].push_back({{"weights", files[i]},
                                     {"model", members[i].name()},
                                     {"class", p.index},
                                     {"label", p.label},
                                     {"probability", p.probability}});
          if (!o->as_json)
            std::printf("    member %zu %s: %s %.2f%%\n", i + 1, members[i].name().c_str(),
                        p.label.c_str(), 100 * p.probability);
        }
      }
      out.push_back(item);
    }
    if (o->as_json) std::cout << out.dump(2) << "\n";
  });
}

void add_forward(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "forward", "Logits of a .npy batch of pixels in [0, 1], normalised as the file says");
  struct Opts : ModelFileOptions {
    std::string input, output;
    bool raw = false;
  };
  auto o = std::make_shared<Opts>();
  o->add_to(cmd);
  cmd->add_option("--input", o->input,
                  "Input .npy, float32 [N, C, H, W]: pixels in [0, 1], normalised with the "
                  "file's mean and std before the model (unless --raw)")
      ->required();
  cmd->add_option("--output", o->output, "Output .npy (logits [N, classes])")->required();
  cmd->add_flag("--raw", o->raw, "The input is already normalised: feed it to the model as is");
  cmd->callback([o] {
    std::error_code ec;
    check(!std::filesystem::equivalent(o->output, o->weights, ec),
          "--output " + o->output + " is the --weights file");
    check(!std::filesystem::equivalent(o->output, o->input, ec),
          "--output " + o->output + " is the --input file");
    Classifier m = o->load();
    Tensor x = io::load_npy(o->input);
    if (!o->raw) x = m.normalize(x);
    io::save_npy(o->output, m.logits(x));
  });
}

void add_export(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "export", "Write the model of a weights file as ONNX (inference form, for other runtimes)");
  struct Opts : ModelFileOptions {
    std::string output, batch = "1";
    int opset = 13;
  };
  auto o = std::make_shared<Opts>();
  o->add_to(cmd);
  cmd->add_option("--output", o->output, "Output .onnx file")->required();
  cmd->add_option("--batch", o->batch, "Batch dimension of the input: a number, or dynamic")
      ->capture_default_str();
  cmd->add_option("--opset", o->opset, "ONNX opset")
      ->check(CLI::IsMember({13, 17}))
      ->capture_default_str();
  cmd->callback([o] {
    onnx::ExportOptions options;
    options.opset = o->opset;
    if (o->batch == "dynamic") {
      options.batch = 0;
    } else {
      char* end = nullptr;
      long long b = std::strtoll(o->batch.c_str(), &end, 10);
      check(!o->batch.empty() && *end == '\0' && b >= 1 && b <= kMaxBatch,
            "--batch: expected a number in [1, " + std::to_string(kMaxBatch) +
                "] or 'dynamic', got '" + o->batch + "'");
      options.batch = b;
    }
    std::error_code ec;
    check(!std::filesystem::equivalent(o->output, o->weights, ec),
          "--output " + o->output + " is the --weights file");
    Classifier m = o->load();
    const ModelMetadata& meta = m.metadata();
    options.metadata = meta.to_file_metadata();
    const models::ModelSpec& spec = meta.spec;
    onnx::export_file(m.module(), {spec.in_channels, spec.input_size, spec.input_size}, o->output,
                      options);
    std::printf("wrote %s (%s, input %lldx%lldx%lld, opset %d)\n", o->output.c_str(),
                spec.name.c_str(), static_cast<long long>(spec.in_channels),
                static_cast<long long>(spec.input_size), static_cast<long long>(spec.input_size),
                o->opset);
  });
}

// ---- bench ------------------------------------------------------------------------------------

double median_step_seconds(const std::function<void()>& step, int64_t min_reps,
                           double min_seconds) {
  using clock = std::chrono::steady_clock;
  step();  // warm-up: workspaces and the storage cache fill here
  step();
  std::vector<double> ts;
  auto start = clock::now();
  while (static_cast<int64_t>(ts.size()) < min_reps ||
         std::chrono::duration<double>(clock::now() - start).count() < min_seconds) {
    auto t0 = clock::now();
    step();
    ts.push_back(std::chrono::duration<double>(clock::now() - t0).count());
  }
  std::sort(ts.begin(), ts.end());
  return ts[ts.size() / 2];
}

void add_bench(CLI::App& app) {
  auto* cmd = app.add_subcommand("bench", "Images/s for inference or training steps");
  struct Opts {
    std::string model, input;
    int64_t batch = 128, classes = -1, reps = 10;
    int threads = 0;
    std::string precision = "fp32";
    bool train = false, as_json = false;
    double min_seconds = 3.0;
    std::vector<std::string> sets;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("--model", o->model, "Model name")->required();
  cmd->add_option("--batch", o->batch, "Batch size")->check(CLI::PositiveNumber);
  cmd->add_flag("--train", o->train, "Time full training steps (forward, backward, SGD)");
  cmd->add_option("--threads", o->threads, "Threads (default: CNNZOO_NUM_THREADS or cores)")
      ->check(CLI::Range(1, kMaxThreads));
  add_precision(cmd, o->precision);
  cmd->add_option("--classes", o->classes, "Number of classes")
      ->check(CLI::Range(int64_t(1), kMaxClasses));
  cmd->add_option("--input", o->input, "Input size CxHxW (default: the model's)");
  cmd->add_option("--reps", o->reps, "Minimum timed repetitions")->check(CLI::PositiveNumber);
  cmd->add_option("--min-seconds", o->min_seconds, "Minimum timed seconds");
  cmd->add_option("--set", o->sets, "Paper option key=value");
  cmd->add_flag("--json", o->as_json, "Print JSON");
  cmd->callback([o] {
    set_threads(o->threads);
    set_precision(parse_precision(o->precision));
    models::ModelSpec spec;
    spec.name = o->model;
    spec.num_classes = o->classes;
    spec.options = parse_sets(o->sets);
    if (!o->input.empty()) {
      Shape chw = parse_chw(o->input);
      check(chw[1] == chw[2], "--input: only square inputs are supported, got " + o->input);
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
        model->take_auxiliary_logits();  // the timing covers the main loss only
        opt.zero_grad();
        backward(loss);
        opt.step();
      } else {
        NoGradGuard ng;
        model->forward(Var(in));
      }
    };
    auto time_it = [&](const Tensor& in, int64_t min_reps, double min_s) {
      return median_step_seconds([&] { step(in); }, min_reps, min_s);
    };
    if (o->train)
      model->train();
    else
      model->prepare_for_inference();
    double t = time_it(x, o->reps, o->min_seconds);
    // Batch-1 latency of the same kind of step (an inference or a training step).
    double latency = time_it(make_input(1), o->reps, 0.5) * 1000;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double rss_mb = ru.ru_maxrss / 1024.0;
    double ips = o->batch / t;
    if (o->as_json) {
      json j = {{"model", spec.name},
                {"batch", o->batch},
                {"threads", num_threads()},
                {"mode", o->train ? "train" : "inference"},
                {"precision", to_string(precision())},
                {"images_per_s", ips},
                {"step_ms", t * 1000},
                {"latency_ms", latency},
                {"peak_rss_mb", rss_mb}};
      std::cout << j.dump(2) << "\n";
      return;
    }
    std::printf("%s %s batch %lld, %d threads, %s: %.1f images/s (%.1f ms per batch)\n",
                spec.name.c_str(), o->train ? "training" : "inference",
                static_cast<long long>(o->batch), num_threads(), to_string(precision()).c_str(),
                ips, t * 1000);
    std::printf("batch-1 latency: %.2f ms\n", latency);
    std::printf("peak RSS: %.0f MB\n", rss_mb);
  });
}

}  // namespace cnnzoo::cli
