// Trains a CIFAR-10 model through the shared trainer from C++.
// Usage: train_cifar10 DATA_DIR [MODEL] [EPOCHS]
//   DATA_DIR: the official binary release (cifar-10-batches-bin) or an image folder with
//   train/ and test/ subdirectories.
#include <cstdio>
#include <string>
#include <utility>

#include "cnnzoo/models.hpp"
#include "cnnzoo/random.hpp"
#include "cnnzoo/train/trainer.hpp"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s DATA_DIR [MODEL] [EPOCHS]\n", argv[0]);
    return 2;
  }
  cnnzoo::keep_freed_memory();  // a training process: reuse freed activations every step
  cnnzoo::train::TrainConfig config;
  config.data = argv[1];
  config.model = argc > 2 ? argv[2] : "resnet20";
  config.epochs = argc > 3 ? std::stoll(argv[3]) : 15;
  config.batch = 128;
  config.lr = 0.1;
  config.momentum = 0.9;
  config.nesterov = true;
  config.weight_decay = 5e-4;
  config.schedule = "cosine";
  config.warmup = 1;
  config.augment = "crop,flip";
  config.out = "runs/" + config.model;
  try {
    cnnzoo::manual_seed(config.seed);
    cnnzoo::data::DatasetSplit data = cnnzoo::train::load_data(config);
    auto model = cnnzoo::models::build_model(cnnzoo::train::model_spec(config, data));
    cnnzoo::train::Trainer trainer(model, std::move(data), config);
    auto history = trainer.fit();
    std::printf("final test accuracy: %.2f%%\n", 100 * history.back().test_acc);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
