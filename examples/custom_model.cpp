// A network of your own from the zoo's installed blocks and the layer vocabulary, trained on
// Fashion-MNIST with the shared trainer.
// Usage: custom_model [FASHION_MNIST_DIR [TRAIN_IMAGES]]
//        (default /usr/share/datasets/fashion-mnist, all 60,000 training images)
#include <cstdio>
#include <cstdlib>

#include "cnnzoo/models/densenet_cifar.hpp"
#include "cnnzoo/models/senet_cifar.hpp"
#include "cnnzoo/nn/init.hpp"
#include "cnnzoo/ops/pool.hpp"
#include "cnnzoo/ops/shape.hpp"
#include "cnnzoo/train/trainer.hpp"

using namespace cnnzoo;

// A conv-BN-ReLU stem, a pre-activation SE unit that halves the map (SE-ResNet), two dense
// layers of growth rate 8 (DenseNet-BC), then global average pooling and a linear classifier.
class SmallNet : public nn::Module {
 public:
  SmallNet() {
    stem = register_module("stem", std::make_shared<nn::ConvBnAct>(
                                       nn::ConvBnActOptions(1, 16, 3).padding(1)));
    se_unit = register_module(
        "se_unit", std::make_shared<models::SEPreActBlock>(16, 32, /*stride=*/2,
                                                            /*activate_shortcut=*/false,
                                                            /*reduction=*/4));
    dense1 = register_module("dense1", std::make_shared<models::densenet_cifar::DenseLayer>(
                                           32, /*growth_rate=*/8, /*bottleneck=*/true, 0.0));
    dense2 = register_module("dense2", std::make_shared<models::densenet_cifar::DenseLayer>(
                                           40, 8, true, 0.0));
    fc = register_module("fc", std::make_shared<nn::Linear>(48, 10));
    nn::init::kaiming_normal<nn::Conv2d>(*this, nn::init::FanMode::FanOut);
  }
  Var forward(const Var& x) override {
    Var h = se_unit->forward(stem->forward(x));
    h = dense2->forward(dense1->forward(h));  // each concatenates its 8 new channels
    return fc->forward(flatten(global_avg_pool2d(h)));
  }
  std::shared_ptr<nn::ConvBnAct> stem;
  std::shared_ptr<models::SEPreActBlock> se_unit;
  std::shared_ptr<models::densenet_cifar::DenseLayer> dense1, dense2;
  std::shared_ptr<nn::Linear> fc;
};

int main(int argc, char** argv) {
  try {
    train::TrainConfig config;
    config.data = argc > 1 ? argv[1] : "/usr/share/datasets/fashion-mnist";
    config.limit_train = argc > 2 ? std::atoll(argv[2]) : 0;
    config.dataset = "fashion-mnist";
    config.epochs = 1;
    config.batch = 64;
    config.lr = 0.05;
    config.augment = "none";
    config.out = "runs/custom-model";
    config.model = "custom";
    config.progress = false;
    auto model = std::make_shared<SmallNet>();
    std::printf("SmallNet: %lld parameters\n", static_cast<long long>(model->num_parameters()));
    train::Trainer trainer(model, train::load_data(config), config);
    std::printf("test accuracy: %.2f%%\n", 100 * trainer.fit().back().test_acc);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
