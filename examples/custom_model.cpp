// Defines a small network of your own from cnnzoo layers and trains it on Fashion-MNIST
// with the shared trainer.
// Usage: custom_model [FASHION_MNIST_DIR] (default /usr/share/datasets/fashion-mnist)
#include <cstdio>

#include "cnnzoo/nn/layers.hpp"
#include "cnnzoo/ops/activation.hpp"
#include "cnnzoo/ops/pool.hpp"
#include "cnnzoo/ops/shape.hpp"
#include "cnnzoo/train/trainer.hpp"

using namespace cnnzoo;

// conv-BN-ReLU twice with pooling, then a linear classifier.
class SmallNet : public nn::Module {
 public:
  SmallNet() {
    Conv2dParams same;
    same.padding = 1;
    same.bias = false;
    conv1 = register_module("conv1", std::make_shared<nn::Conv2d>(1, 16, 3, same));
    bn1 = register_module("bn1", std::make_shared<nn::BatchNorm2d>(16));
    conv2 = register_module("conv2", std::make_shared<nn::Conv2d>(16, 32, 3, same));
    bn2 = register_module("bn2", std::make_shared<nn::BatchNorm2d>(32));
    fc = register_module("fc", std::make_shared<nn::Linear>(32, 10));
  }
  Var forward(const Var& x) override {
    Pool2dOptions pool;
    Var h = max_pool2d(relu(bn1->forward(conv1->forward(x))), pool);
    h = relu(bn2->forward(conv2->forward(h)));
    return fc->forward(flatten(global_avg_pool2d(h)));
  }
  std::shared_ptr<nn::Conv2d> conv1, conv2;
  std::shared_ptr<nn::BatchNorm2d> bn1, bn2;
  std::shared_ptr<nn::Linear> fc;
};

int main(int argc, char** argv) {
  try {
    train::TrainConfig config;
    config.data = argc > 1 ? argv[1] : "/usr/share/datasets/fashion-mnist";
    config.dataset = "fashion-mnist";
    config.epochs = 1;
    config.batch = 64;
    config.lr = 0.05;
    config.augment = "none";
    config.out = "runs/custom-model";
    config.model = "custom";
    train::Trainer trainer(std::make_shared<SmallNet>(),
                           data::load_dataset(config.dataset, config.data), config);
    std::printf("test accuracy: %.2f%%\n", 100 * trainer.fit().back().test_acc);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
