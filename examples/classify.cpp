// Loads trained weights and classifies image files.
// Usage: classify MODEL WEIGHTS.safetensors IMAGE...
#include <cstdio>
#include <string>

#include "cnnzoo/io/image.hpp"
#include "cnnzoo/io/safetensors.hpp"
#include "cnnzoo/models.hpp"
#include "cnnzoo/ops/loss.hpp"
#include "cnnzoo/train/trainer.hpp"

int main(int argc, char** argv) {
  using namespace cnnzoo;
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s MODEL WEIGHTS IMAGE...\n", argv[0]);
    return 2;
  }
  try {
    models::ModelSpec spec;
    spec.name = argv[1];
    spec = models::resolve_spec(spec);
    nn::ModulePtr model = models::build_model(spec);
    train::load_weights(*model, argv[2]);
    model->eval();
    // CIFAR-10 channel statistics (what `cnnzoo train` normalises with on CIFAR-10).
    const float mean[3] = {0.4914f, 0.4822f, 0.4465f}, std[3] = {0.2470f, 0.2435f, 0.2616f};
    const int s = static_cast<int>(spec.input_size);
    for (int i = 3; i < argc; ++i) {
      io::Image img = io::resize_bilinear(io::read_image(argv[i], 3), s, s);
      Tensor x = Tensor::empty({1, 3, s, s});
      for (int c = 0; c < 3; ++c)
        for (int p = 0; p < s * s; ++p)
          x[c * s * s + p] = (img.pixels[p * 3 + c] / 255.0f - mean[c]) / std[c];
      NoGradGuard no_grad;
      Tensor probs = softmax(model->forward(Var(x)).value());
      int64_t best = 0;
      for (int64_t k = 1; k < probs.numel(); ++k)
        if (probs[k] > probs[best]) best = k;
      std::printf("%s: class %lld (%.1f%%)\n", argv[i], static_cast<long long>(best),
                  100 * probs[best]);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
