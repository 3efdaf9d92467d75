// `cnnzoo chart`: the accuracy-compute chart of the registry's CIFAR models.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <sstream>

#include "cli/common.hpp"
#include "cnnzoo/io/file.hpp"
#include "cnnzoo/models.hpp"
#include "cnnzoo/nn/summary.hpp"
#include "cnnzoo/parallel.hpp"
#include "cnnzoo/random.hpp"
#include "cnnzoo/train/chart.hpp"

namespace cnnzoo::cli {

namespace {

constexpr size_t kMaxTableBytes = size_t(1) << 20;

std::vector<std::string> split(const std::string& line, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(line);
  for (std::string f; std::getline(ss, f, sep);) out.push_back(f);
  if (!line.empty() && line.back() == sep) out.emplace_back();
  return out;
}

double parse_number(const std::string& s, const std::string& where) {
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  check(!s.empty() && *end == '\0' && std::isfinite(v), where + ": '" + s + "' is not a number");
  return v;
}

// A CSV with a header line: one map per row, keyed by the header's names; the named columns
// must exist.
std::vector<std::map<std::string, std::string>> read_table(const std::string& path,
                                                           const std::vector<std::string>& need) {
  std::stringstream text(io::read_file(path, kMaxTableBytes));
  std::string line;
  check(static_cast<bool>(std::getline(text, line)), path + ": empty, expected a header line");
  const std::vector<std::string> header = split(line, ',');
  for (const std::string& n : need)
    check(std::find(header.begin(), header.end(), n) != header.end(),
          path + ": no column '" + n + "' in the header");
  std::vector<std::map<std::string, std::string>> rows;
  for (int line_no = 2; std::getline(text, line); ++line_no) {
    if (line.empty()) continue;
    const std::vector<std::string> f = split(line, ',');
    check(f.size() == header.size(), path + ":" + std::to_string(line_no) + ": " +
                                         std::to_string(f.size()) + " fields, the header has " +
                                         std::to_string(header.size()));
    std::map<std::string, std::string> row;
    for (size_t i = 0; i < f.size(); ++i) row[header[i]] = f[i];
    rows.push_back(std::move(row));
  }
  return rows;
}

struct Measured {
  int64_t params = 0, macs = 0;
  double images_per_s = 0;
};

// Parameters and multiply-adds (summary) and inference images/s (batch `batch`, random
// inputs, median step) of one model.
Measured measure(const models::ModelInfo& info, int64_t batch, double min_seconds) {
  models::ModelSpec spec;
  spec.name = info.name;
  spec = models::resolve_spec(spec);
  nn::ModulePtr model = models::build_model(spec);
  const nn::ModelSummary s =
      nn::summarize(*model, {spec.in_channels, spec.input_size, spec.input_size});
  model->prepare_for_inference();
  Generator g(1);
  Tensor x = Tensor::empty({batch, spec.in_channels, spec.input_size, spec.input_size});
  for (float& v : x) v = static_cast<float>(g.normal());
  const double t = median_step_seconds(
      [&] {
        NoGradGuard ng;
        model->forward(Var(x));
      },
      3, min_seconds);
  return {s.params, s.macs, batch / t};
}

}  // namespace

void add_chart(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "chart",
      "SVG chart of the CIFAR models: accuracy (papers' and measured) and inference speed "
      "against multiply-adds, marker area for parameters");
  struct Opts {
    std::string output, cache = "docs/chart/zoo-bench.csv", accuracy = "weights/accuracy.csv";
    bool refresh = false;
    int64_t batch = 16;
    int threads = 0;
    double min_seconds = 1.0;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("--output", o->output, "Output .svg")->required();
  cmd->add_option("--bench-cache", o->cache,
                  "CSV of each model's parameters, multiply-adds and measured inference images/s "
                  "(written by --refresh)")
      ->capture_default_str();
  cmd->add_flag("--refresh", o->refresh,
                "Measure every CIFAR model again (cnnzoo bench's inference step) and rewrite "
                "--bench-cache first");
  cmd->add_option("--accuracy", o->accuracy,
                  "CSV of cnnzoo's measured accuracies (columns model, final_test_accuracy in "
                  "percent); a missing file draws the papers' figures alone")
      ->capture_default_str();
  cmd->add_option("--batch", o->batch, "Batch of the speed measurement (with --refresh)")
      ->check(CLI::Range(int64_t(1), int64_t(1024)))
      ->capture_default_str();
  cmd->add_option("--min-seconds", o->min_seconds, "Least time per speed measurement")
      ->check(finite_range(0.0, 600.0))
      ->capture_default_str();
  cmd->add_option("--threads", o->threads, "Threads (default: CNNZOO_NUM_THREADS or cores)")
      ->check(CLI::Range(1, kMaxThreads));
  cmd->callback([o] {
    set_threads(o->threads);
    std::vector<const models::ModelInfo*> cifar;
    for (const auto& info : models::registry())
      if (info.dataset == "cifar") cifar.push_back(&info);
    if (o->refresh) {
      std::ostringstream csv;
      csv << "model,params,macs,batch,threads,images_per_s\n";
      for (const auto* info : cifar) {
        const Measured m = measure(*info, o->batch, o->min_seconds);
        std::fprintf(stderr, "%-32s %10.1f images/s\n", info->name.c_str(), m.images_per_s);
        csv << info->name << "," << m.params << "," << m.macs << "," << o->batch << ","
            << num_threads() << "," << m.images_per_s << "\n";
      }
      const std::filesystem::path dir = std::filesystem::path(o->cache).parent_path();
      if (!dir.empty()) std::filesystem::create_directories(dir);
      io::atomic_write_bytes(o->cache, csv.str());
    }
    check(std::filesystem::exists(o->cache),
          "--bench-cache " + o->cache + " does not exist: pass --refresh to measure the models");
    std::map<std::string, Measured> bench;
    const auto cache_rows =
        read_table(o->cache, {"model", "params", "macs", "batch", "threads", "images_per_s"});
    for (const auto& row : cache_rows) {
      Measured m;
      m.params = static_cast<int64_t>(parse_number(row.at("params"), o->cache));
      m.macs = static_cast<int64_t>(parse_number(row.at("macs"), o->cache));
      m.images_per_s = parse_number(row.at("images_per_s"), o->cache);
      bench[row.at("model")] = m;
    }
    std::map<std::string, double> measured;
    if (std::filesystem::exists(o->accuracy))
      for (const auto& row : read_table(o->accuracy, {"model", "final_test_accuracy"}))
        measured[row.at("model")] = parse_number(row.at("final_test_accuracy"), o->accuracy);
    std::vector<train::ChartPoint> points;
    for (const auto* info : cifar) {
      auto b = bench.find(info->name);
      check(b != bench.end(), o->cache + " has no row for " + info->name +
                                  ": pass --refresh to measure the registry's models again");
      train::ChartPoint p;
      p.model = info->name;
      p.family = info->family;
      p.params = b->second.params;
      p.macs = b->second.macs;
      p.images_per_s = b->second.images_per_s;
      if (!info->paper_cifar10_error.empty())
        p.paper_accuracy = 100 - parse_number(info->paper_cifar10_error, info->name);
      auto acc = measured.find(info->name);
      if (acc != measured.end()) p.measured_accuracy = acc->second;
      points.push_back(p);
    }
    for (const auto& [name, acc] : measured)
      check(bench.count(name) > 0,
            o->accuracy + " names '" + name + "', which is not a CIFAR model of the registry");
    const auto& threads = cache_rows.front();  // not empty: every CIFAR model has a row
    const std::string note = "Papers' CIFAR-10 errors from the registry; measured accuracies " +
                             o->accuracy + "; speed: inference, batch " + threads.at("batch") +
                             ", " + threads.at("threads") + " threads (" + o->cache + ")";
    io::atomic_write_bytes(o->output, train::render_zoo_chart(points, note));
    std::printf("wrote %s (%zu models, %zu with a measured accuracy)\n", o->output.c_str(),
                points.size(), measured.size());
  });
}

}  // namespace cnnzoo::cli
