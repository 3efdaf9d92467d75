// LeNet-5 (LeCun et al. 1998) for 32x32 inputs; 28x28 inputs (MNIST, Fashion-MNIST) are
// zero-padded by 2 on each side, as the paper centred its 28x28 digits in a 32x32 field.
//
// What differs from the paper, and why: S2/S4 are plain 2x2 average pooling (the paper's
// trainable coefficient and bias per map are a scalar affine that the next conv absorbs);
// C3 connects to all 6 S2 maps (the paper's partial table of 60 connections was a
// symmetry-breaking device for 1998 hardware); the output is a linear layer under softmax
// cross-entropy instead of Euclidean RBF units. Parameters: 61,706 for one input channel
// (the paper's 32x32 greyscale), 62,006 for three (CIFAR).
#include "models/lenet.hpp"

#include "cnnzoo/nn/layers.hpp"
#include "cnnzoo/ops/shape.hpp"

namespace cnnzoo::models {

namespace {

class LeNet5 : public nn::Module {
 public:
  LeNet5(int64_t in_channels, int64_t input_size, int64_t num_classes, bool relu, bool max_pool)
      : pad_(input_size == 28 ? 2 : 0) {
    check(input_size == 28 || input_size == 32,
          "lenet5: input must be 28x28 or 32x32, got " + std::to_string(input_size));
    auto activation = [relu]() -> nn::ModulePtr {
      if (relu) return std::make_shared<nn::ReLU>();
      return std::make_shared<nn::Tanh>();
    };
    auto subsample = [max_pool]() -> nn::ModulePtr {
      if (max_pool) return std::make_shared<nn::MaxPool2d>(2);
      return std::make_shared<nn::AvgPool2d>(2);
    };
    features = register_module("features", std::make_shared<nn::Sequential>());
    features->push_back(std::make_shared<nn::Conv2d>(in_channels, 6, 5));  // C1: 32 -> 28
    features->push_back(activation());
    features->push_back(subsample());                             // S2: 28 -> 14
    features->push_back(std::make_shared<nn::Conv2d>(6, 16, 5));  // C3: 14 -> 10
    features->push_back(activation());
    features->push_back(subsample());  // S4: 10 -> 5
    classifier = register_module("classifier", std::make_shared<nn::Sequential>());
    classifier->push_back(std::make_shared<nn::Linear>(16 * 5 * 5, 120));  // C5 (5x5 conv = FC)
    classifier->push_back(activation());
    classifier->push_back(std::make_shared<nn::Linear>(120, 84));  // F6
    classifier->push_back(activation());
    classifier->push_back(std::make_shared<nn::Linear>(84, num_classes));
  }

  Var forward(const Var& x) override {
    Var h = pad_ ? pad2d(x, Padding2d(pad_)) : x;
    return classifier->forward(flatten(features->forward(h)));
  }
  std::string type_name() const override { return "LeNet5"; }

  std::shared_ptr<nn::Sequential> features, classifier;

 private:
  int64_t pad_;
};

}  // namespace

nn::ModulePtr lenet5(const ModelSpec& spec) {
  std::string act = spec.get("activation", "tanh"), pool = spec.get("pool", "avg");
  check(act == "tanh" || act == "relu", "lenet5: activation must be tanh or relu, got " + act);
  check(pool == "avg" || pool == "max", "lenet5: pool must be avg or max, got " + pool);
  return std::make_shared<LeNet5>(spec.in_channels, spec.input_size, spec.num_classes,
                                  act == "relu", pool == "max");
}

}  // namespace cnnzoo::models
