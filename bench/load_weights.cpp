// Times Classifier::load of a weights file against building the model with its random
// initialisation (what every load paid before SkipInitGuard): load_weights [MODEL...] [--reps N]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "cnnzoo/inference.hpp"
#include "cnnzoo/models.hpp"

using namespace cnnzoo;

namespace {

template <class Fn>
double median_seconds(int reps, Fn&& fn) {
  std::vector<double> s;
  for (int i = 0; i < reps; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    fn();
    s.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(s.begin(), s.end());
  return s[s.size() / 2];
}

}  // namespace

int main(int argc, char** argv) try {
  std::vector<std::string> names;
  int reps = 5;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--reps" && i + 1 < argc)
      reps = std::max(1, std::atoi(argv[++i]));
    else
      names.push_back(a);
  }
  if (names.empty()) names = {"resnet20", "resnet50", "vgg16"};
  const auto dir = std::filesystem::temp_directory_path() / "cnnzoo-bench-load";
  std::filesystem::create_directories(dir);
  std::printf("%-12s %12s %14s %16s\n", "model", "file MB", "load s", "build s");
  for (const std::string& name : names) {
    ModelMetadata meta;
    meta.spec = models::resolve_spec(models::ModelSpec{name});
    const std::string path = (dir / (name + ".safetensors")).string();
    save_weights(*models::build_model(meta.spec), meta, path);
    const double load = median_seconds(reps, [&] { Classifier::load(path); });
    const double build = median_seconds(reps, [&] { models::build_model(meta.spec); });
    std::printf("%-12s %12.1f %14.3f %16.3f\n", name.c_str(),
                std::filesystem::file_size(path) / 1e6, load, build);
    std::filesystem::remove(path);
  }
  std::filesystem::remove(dir);
} catch (const std::exception& e) {
  std::fprintf(stderr, "load_weights: %s\n", e.what());
  return 1;
}
