// `cnnzoo prune` and `cnnzoo compress`: Deep Compression's pruning and weight sharing.
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "cli/common.hpp"
#include "cnnzoo/compression.hpp"

namespace cnnzoo::cli {

namespace {

void refuse_overwriting_input(const std::string& output, const std::string& weights) {
  std::error_code ec;
  check(!std::filesystem::equivalent(output, weights, ec),
        "--output " + output + " is the --weights file");
}

// "fc=0.5,layer1.0.conv1=0.8" -> {fc: 0.5, layer1.0.conv1: 0.8}
std::map<std::string, double> parse_per_layer(const std::vector<std::string>& items) {
  std::map<std::string, double> out;
  for (const std::string& item : items) {
    const size_t eq = item.find('=');
    check(eq != std::string::npos && eq > 0,
          "--per-layer: expected layer=sparsity, got '" + item + "'");
    const std::string value = item.substr(eq + 1);
    char* end = nullptr;
    const double s = std::strtod(value.c_str(), &end);
    check(!value.empty() && *end == '\0',
          "--per-layer: '" + value + "' in '" + item + "' is not a number");
    out[item.substr(0, eq)] = s;
  }
  return out;
}

}  // namespace

void add_prune(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "prune", "Magnitude pruning of conv and linear weights; writes the weights with their masks");
  struct Opts : ModelFileOptions {
    std::string output;
    double sparsity = 0.9;
    bool global = false, as_json = false;
    std::vector<std::string> per_layer;
  };
  auto o = std::make_shared<Opts>();
  o->add_to(cmd);
  cmd->add_option("--sparsity", o->sparsity, "Share of the conv and linear weights set to zero")
      ->check(finite_range(0.0, 1.0))
      ->capture_default_str();
  cmd->add_flag("--global", o->global,
                "One magnitude threshold over all layers (default: layer-wise, each layer loses "
                "the same share)");
  cmd->add_option("--per-layer", o->per_layer,
                  "Layer-wise sparsity of named layers, e.g. conv1=0.5,fc=0.8 (layer-wise only)")
      ->delimiter(',');
  cmd->add_option("--output", o->output, "Output .safetensors (weights and mask.* entries)")
      ->required();
  cmd->add_flag("--json", o->as_json, "Print JSON");
  cmd->callback([o] {
    refuse_overwriting_input(o->output, o->weights);
    Classifier m = o->load();
    compress::PruneOptions po;
    po.sparsity = o->sparsity;
    po.global = o->global;
    po.per_layer = parse_per_layer(o->per_layer);
    const compress::Masks masks = compress::prune(m.module(), po);
    compress::save_pruned(m.module(), m.metadata(), masks, o->output);
    int64_t size = 0, zeros = 0;
    json layers = json::array();
    const auto table = compress::sparsity(m.module());
    for (const auto& l : table) {
      size += l.size;
      zeros += l.zeros;
      layers.push_back({{"name", l.name}, {"weights", l.size}, {"zeros", l.zeros}});
    }
    const double total = size ? static_cast<double>(zeros) / size : 0.0;
    if (o->as_json) {
      std::cout << json({{"output", o->output},
                         {"sparsity", total},
                         {"weights", size},
                         {"zeros", zeros},
                         {"layers", layers}})
                       .dump(2)
                << "\n";
      return;
    }
    std::printf("%-40s %12s %9s\n", "layer", "weights", "zero");
    for (const auto& l : table)
      std::printf("%-40s %12lld %8.2f%%\n", l.name.c_str(), static_cast<long long>(l.size),
                  l.size ? 100.0 * l.zeros / l.size : 0.0);
    std::printf("%s: %lld of %lld conv and linear weights are zero (%.2f%%); wrote %s\n",
                m.name().c_str(), static_cast<long long>(zeros), static_cast<long long>(size),
                100 * total, o->output.c_str());
  });
}

void add_compress(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "compress",
      "Weight sharing: k-bit codebooks per layer, codes deflated; loads back as a normal model");
  struct Opts : ModelFileOptions {
    std::string output;
    compress::CompressOptions options;
    bool as_json = false;
  };
  auto o = std::make_shared<Opts>();
  o->add_to(cmd);
  cmd->add_option("--conv-bits", o->options.conv_bits, "Bits per convolution weight (1-8)")
      ->check(CLI::Range(1, 8))
      ->capture_default_str();
  cmd->add_option("--linear-bits", o->options.linear_bits, "Bits per linear-layer weight (1-8)")
      ->check(CLI::Range(1, 8))
      ->capture_default_str();
  cmd->add_option("--output", o->output, "Output .safetensors (format cnnzoo-compressed)")
      ->required();
  cmd->add_flag("--json", o->as_json, "Print JSON");
  cmd->callback([o] {
    refuse_overwriting_input(o->output, o->weights);
    Classifier m = o->load();
    const compress::CompressReport r =
        compress::save_compressed(m.module(), m.metadata(), o->output, o->options);
    const double ratio = static_cast<double>(r.dense_bytes) / r.compressed_bytes;
    if (o->as_json) {
      std::cout << json({{"output", o->output},
                         {"compressed_bytes", r.compressed_bytes},
                         {"dense_bytes", r.dense_bytes},
                         {"ratio", ratio},
                         {"weights", r.weights},
                         {"zeros", r.zeros},
                         {"max_error", r.max_error}})
                       .dump(2)
                << "\n";
      return;
    }
    std::printf(
        "wrote %s: %lld bytes; as float32 %lld bytes (%.1fx smaller); %lld shared weights, "
        "%.2f%% zero; largest change of a weight %.3g\n",
        o->output.c_str(), static_cast<long long>(r.compressed_bytes),
        static_cast<long long>(r.dense_bytes), ratio, static_cast<long long>(r.weights),
        r.weights ? 100.0 * r.zeros / r.weights : 0.0, r.max_error);
  });
}

}  // namespace cnnzoo::cli
