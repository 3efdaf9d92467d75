// Shared pieces of the cnnzoo command line: model loading from a weights file, option
// parsing, JSON printing.
#pragma once
#include <CLI/CLI.hpp>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cnnzoo/models.hpp"

namespace cnnzoo::cli {

using json = nlohmann::json;

// Parses "key=value" items of --set into a map; Error on an item without '='.
std::map<std::string, std::string> parse_sets(const std::vector<std::string>& items);

// "3x32x32" -> {3, 32, 32}; Error when malformed.
Shape parse_chw(const std::string& s);

// A model built for inference from --model, --weights and optional overrides; the weights
// file's metadata (classes, options, normalisation) fills what the flags leave open.
struct LoadedModel {
  nn::ModulePtr model;
  models::ModelSpec spec;
  std::vector<std::string> classes;  // may be empty
  std::vector<float> mean, std;      // per channel normalisation, pixel/255 units
};
LoadedModel load_model(const std::string& name, const std::string& weights,
                       int64_t classes_override, const std::vector<std::string>& sets);

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
void add_bench(CLI::App& app);

}  // namespace cnnzoo::cli
