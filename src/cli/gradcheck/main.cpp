// cnnzoo-gradcheck (run as `cnnzoo gradcheck`): a double-precision gradient check through a
// tiny configuration of any registry model, linked against cnnzoo_double.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "cli/args.hpp"
#include "cnnzoo/error.hpp"
#include "cnnzoo/models.hpp"
#include "cnnzoo/nn/layers.hpp"
#include "cnnzoo/parallel.hpp"
#include "cnnzoo/testing/gradcheck.hpp"

namespace {

using namespace cnnzoo;
using models::ModelInfo;
using models::ModelSpec;
using models::OptionInfo;

// The tiny setting of each width option (a model's own --set wins): few channels, so that a
// forward pass in double takes milliseconds. Depth options take their smallest valid value.
const std::map<std::string, std::string> kTinyWidth = {
    {"width_scale", "0.125"}, {"widen_factor", "1"},     {"growth_rate", "4"}, {"alpha", "8"},
    {"cardinality", "2"},     {"bottleneck_width", "2"}, {"width", "8"},       {"columns", "2"}};

bool builds(const ModelSpec& spec) {
  try {
    models::build_model(spec);
    return true;
  } catch (const Error&) {
    return false;
  }
}

// The model's tiny configuration: width options at kTinyWidth, depth at the smallest value
// from its range's lower end that builds; the user's --set entries as given.
ModelSpec tiny_spec(const std::string& name, const std::map<std::string, std::string>& sets) {
  const ModelInfo& info = models::find_model(name);
  ModelSpec spec;
  spec.name = name;
  spec.options = sets;
  for (const OptionInfo& o : info.options) {
    if (sets.count(o.key)) continue;
    auto tiny = kTinyWidth.find(o.key);
    if (tiny != kTinyWidth.end()) spec.options[o.key] = tiny->second;
  }
  for (const OptionInfo& o : info.options) {
    if (o.key != "depth" || sets.count("depth")) continue;
    const int64_t lo = std::stoll(o.range.substr(1, o.range.find(',') - 1));
    for (int64_t depth = lo; depth < lo + 64; ++depth) {
      spec.options["depth"] = std::to_string(depth);
      if (builds(spec)) break;
    }
  }
  return models::resolve_spec(spec);
}

// Models whose stem reduces 8x8 to 1x1 before batch-normalised layers: at batch 2 such a BN
// sees two values per channel and outputs +-1 whatever its input, a degenerate point where
// difference quotients mean nothing.
const std::map<std::string, int64_t> kTinySide = {{"inception-v3-cifar", 16}};

// The smallest of 8, 16, 32, 64 and the model's own size at which a forward pass works.
Shape tiny_input(nn::Module& model, const ModelSpec& spec) {
  auto fixed = kTinySide.find(spec.name);
  if (fixed != kTinySide.end()) return {spec.in_channels, fixed->second, fixed->second};
  std::vector<int64_t> sides = {8, 16, 32, 64, spec.input_size};
  model.eval();
  for (int64_t side : sides) {
    if (side > spec.input_size) continue;
    try {
      NoGradGuard no_grad;
      model.forward(Var(Tensor::zeros({1, spec.in_channels, side, side})));
      return {spec.in_channels, side, side};
    } catch (const Error&) {
    }
  }
  return {spec.in_channels, spec.input_size, spec.input_size};
}

// Zero-initialised biases and BN shifts put units exactly on a ReLU kink wherever a channel is
// constant (zero padding, a gated-off residual, a region of dead ReLUs): BN maps it to its
// shift, 0. Moving every bias, BN scale and running statistic to a random value away from its
// initial one leaves such points improbable, as random inputs do for the rest.
void move_off_kinks(nn::Module& net, uint64_t seed) {
  Generator g(seed + 3);
  for (auto& [name, p] : net.named_parameters())
    if (name.size() >= 5 && name.compare(name.size() - 5, 5, ".bias") == 0)
      for (auto& v : p.value()) v += g.uniform(-0.2, 0.2);
  for (auto& [name, m] : net.named_modules())
    if (auto* bn = dynamic_cast<nn::BatchNorm*>(m)) {
      if (bn->weight.defined())
        for (auto& v : bn->weight.value()) v = g.uniform(0.5, 1.5);
      for (auto& v : bn->running_mean) v = g.uniform(-0.2, 0.2);
      for (auto& v : bn->running_var) v = g.uniform(0.5, 1.5);
    }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "cnnzoo gradcheck: double-precision gradient check (input and every parameter) through a "
      "tiny configuration of a registry model: width options small, depth at its smallest, "
      "input 8x8 or the smallest size the model takes, batch 2, training mode. Tolerances are "
      "looser than for single ops (atol 1e-6, rtol 1e-5): truncation error grows with a "
      "model's depth and its gradients' size; a wrong backward is off by far more"};
  app.name("cnnzoo gradcheck");
  std::string model, input;
  std::vector<std::string> sets;
  int64_t batch = 2, max_elements = 0, directions = 1;
  double eps = 1e-7, atol = 1e-5, rtol = 1e-4;
  uint64_t seed = 99;
  int threads = 1;
  bool eval = false;
  app.add_option("model", model, "Registry model (cnnzoo list)")->required();
  app.add_option("--set", sets, "Model option key=value (overrides the tiny setting)");
  app.add_option("--input", input, "Input CxHxW (default: the model's channels, tiny sides)");
  app.add_option("--batch", batch, "Batch size")->check(CLI::Range(1, 64));
  app.add_flag("--eval", eval, "Check in eval mode (running statistics) instead of training");
  app.add_option("--max-elements", max_elements,
                 "Single elements probed per tensor, besides the random directions")
      ->check(CLI::Range(0, 1 << 20));
  app.add_option("--directions", directions, "Random directions per tensor")
      ->check(CLI::Range(0, 64));
  app.add_option("--eps", eps, "Central-difference step")->check(cli::finite_range(1e-12, 1e-1));
  app.add_option("--atol", atol, "Absolute tolerance")->check(cli::finite_range(0.0, 1.0));
  app.add_option("--rtol", rtol, "Relative tolerance")->check(cli::finite_range(0.0, 1.0));
  app.add_option("--seed", seed, "Input, weights and directions");
  app.add_option("--threads", threads, "Threads")->check(CLI::Range(1, 256));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    std::fprintf(stderr, "cnnzoo gradcheck: %s\n", e.what());
    return 2;
  }
  try {
    set_num_threads(threads);
    const auto start = std::chrono::steady_clock::now();
    ModelSpec spec = tiny_spec(model, cli::parse_sets(sets));
    manual_seed(seed);
    nn::ModulePtr net = models::build_model(spec);
    const Shape chw = input.empty() ? tiny_input(*net, spec) : cli::parse_chw(input);
    move_off_kinks(*net, seed);
    if (!eval) net->train();
    testing::GradcheckOptions options;
    options.eps(eps)
        .atol(atol)
        .rtol(rtol)
        .max_elements(max_elements)
        .directions(directions)
        .seed(seed);
    const TensorD x = testing::random_tensor({batch, chw[0], chw[1], chw[2]}, seed + 2);
    const testing::GradcheckReport report = testing::gradcheck(*net, x, options);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::string options_text;
    for (const auto& [k, v] : spec.options) options_text += " " + k + "=" + v;
    std::printf("%s%s, input %lldx%lldx%lld, batch %lld, %s mode: %s (%.1f s)\n", spec.name.c_str(),
                options_text.c_str(), static_cast<long long>(chw[0]),
                static_cast<long long>(chw[1]), static_cast<long long>(chw[2]),
                static_cast<long long>(batch), eval ? "eval" : "training", report.message().c_str(),
                seconds);
    return report.passed ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cnnzoo gradcheck: error: %s\n", e.what());
    return 2;
  }
}
