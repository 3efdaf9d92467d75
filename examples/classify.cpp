// Classifies image files with a trained model file: classify WEIGHTS IMAGE...
#include <cstdio>

#include "cnnzoo/inference.hpp"

int main(int argc, char** argv) try {
  if (argc < 3) return std::fprintf(stderr, "usage: %s WEIGHTS IMAGE...\n", argv[0]), 2;
  auto model = cnnzoo::Classifier::load(argv[1]);  // the file names its model and classes
  for (int i = 2; i < argc; ++i)
    for (const auto& p : model.topk(cnnzoo::io::read_image(argv[i]), 3))
      std::printf("%s: %s %.2f%%\n", argv[i], p.label.c_str(), 100 * p.probability);
} catch (const std::exception& e) {
  return std::fprintf(stderr, "classify: %s\n", e.what()), 1;
}
