// Shared pieces of the cnnzoo command line: model loading from a weights file, option
// parsing, JSON printing.
#pragma once
#include <CLI/CLI.hpp>
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

}  // namespace cnnzoo::cli
