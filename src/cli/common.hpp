// Shared pieces of the cnnzoo command line: model loading from a weights file, option
// parsing, JSON printing.
#pragma once
#include <CLI/CLI.hpp>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/args.hpp"
#include "cnnzoo/inference.hpp"
#include "cnnzoo/models.hpp"

namespace cnnzoo::cli {

using json = nlohmann::json;

// The largest --batch a subcommand accepts: a typo, not a batch, beyond it.
constexpr int64_t kMaxBatch = 65536;
constexpr int64_t kMaxEpochs = 100000;
constexpr int64_t kMaxClasses = int64_t(1) << 24;

// The model of a weights or checkpoint file, from --weights, the optional --model and the
// --set / --classes facts, which must agree with what the file says.
Classifier load_classifier(const std::string& weights, const std::string& model,
                           const std::vector<std::string>& sets, int64_t classes);

void set_threads(int threads);  // 0 leaves the setting alone

// The median time of step() over at least min_reps calls and min_seconds, after two
// warm-up calls.
double median_step_seconds(const std::function<void()>& step, int64_t min_reps, double min_seconds);
CLI::Option* add_precision(CLI::App* cmd, std::string& precision);

// The options every subcommand that reads a weights file takes.
struct ModelFileOptions {
  std::string model, weights;
  std::vector<std::string> sets;
  int64_t classes = -1;
  int threads = 0;
  std::string precision = "fp32";

  // ensemble: --weights may be a comma list (eval, predict).
  void add_to(CLI::App* cmd, bool ensemble = false);
  Classifier load() const;  // the one file; threads and precision set
  // Every file of the comma list, each with --model, --set and --classes checked against it.
  std::vector<Classifier> load_ensemble() const;
  std::vector<std::string> weight_files() const;
};

// Thrown by a subcommand that ends without an error but with a non-zero status (a run
// stopped by a signal); main returns the code.
struct ExitStatus {
  int code;
};

void add_list(CLI::App& app);
void add_summary(CLI::App& app);
void add_train(CLI::App& app);
void add_eval(CLI::App& app);
void add_predict(CLI::App& app);
void add_forward(CLI::App& app);
void add_export(CLI::App& app);
void add_bench(CLI::App& app);
void add_cam(CLI::App& app);
void add_chart(CLI::App& app);
void add_prune(CLI::App& app);
void add_compress(CLI::App& app);

}  // namespace cnnzoo::cli
