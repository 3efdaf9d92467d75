// AlexNet as torchvision builds it: the single-tower variant it attributes to Krizhevsky, "One
// weird trick for parallelizing convolutional neural networks" (2014, arXiv:1404.5997).
//
// This is not the two-GPU network of Krizhevsky, Sutskever & Hinton (NIPS 2012): like the
// 2014 paper's one-tower model it has no grouped convolutions and no local response
// normalisation. The widths 64-192-384-256-256, the padding of 2 on conv1 and the adaptive
// 6x6 average pool before the classifier (any input of at least 63x63 works) are
// torchvision's, kept key for key so its weights load. Parameters: 61,100,840.
#include "models/alexnet.hpp"

#include "cnnzoo/nn/layers.hpp"
#include "cnnzoo/ops/shape.hpp"

namespace cnnzoo::models::imagenet {

namespace {

using namespace cnnzoo::nn;

std::shared_ptr<Conv2d> conv(int64_t in, int64_t out, int64_t k, int64_t stride, int64_t pad) {
  Conv2dOptions o;
  o.stride = stride;
  o.padding = pad;
  return std::make_shared<Conv2d>(in, out, k, o);
}

class AlexNet : public Module {
 public:
  AlexNet(int64_t in_channels, int64_t num_classes, double drop_rate) {
    features = register_module("features", std::make_shared<Sequential>());
    auto pool = [] { return std::make_shared<MaxPool2d>(3, 2); };
    features->push_back(conv(in_channels, 64, 11, 4, 2));
    features->push_back(std::make_shared<ReLU>());
    features->push_back(pool());
    features->push_back(conv(64, 192, 5, 1, 2));
    features->push_back(std::make_shared<ReLU>());
    features->push_back(pool());
    features->push_back(conv(192, 384, 3, 1, 1));
    features->push_back(std::make_shared<ReLU>());
    features->push_back(conv(384, 256, 3, 1, 1));
    features->push_back(std::make_shared<ReLU>());
    features->push_back(conv(256, 256, 3, 1, 1));
    features->push_back(std::make_shared<ReLU>());
    features->push_back(pool());
    avgpool = register_module("avgpool", std::make_shared<AdaptiveAvgPool2d>(6));
    // Dropout regularises the inputs of the two hidden fully connected layers.
    classifier = register_module("classifier", std::make_shared<Sequential>());
    classifier->push_back(std::make_shared<Dropout>(drop_rate));
    classifier->push_back(std::make_shared<Linear>(256 * 6 * 6, 4096));
    classifier->push_back(std::make_shared<ReLU>());
    classifier->push_back(std::make_shared<Dropout>(drop_rate));
    classifier->push_back(std::make_shared<Linear>(4096, 4096));
    classifier->push_back(std::make_shared<ReLU>());
    classifier->push_back(std::make_shared<Linear>(4096, num_classes));
    // Weights keep PyTorch's default layer initialisation, as torchvision does.
  }
  Var forward(const Var& x) override {
    return classifier->forward(flatten(avgpool->forward(features->forward(x))));
  }
  std::string type_name() const override { return "AlexNet"; }

  std::shared_ptr<Sequential> features, classifier;
  std::shared_ptr<AdaptiveAvgPool2d> avgpool;
};

}  // namespace

nn::ModulePtr alexnet(const ModelSpec& spec) {
  return std::make_shared<AlexNet>(spec.in_channels, spec.num_classes,
                                   spec.get_double("drop_rate", 0.5));
}

}  // namespace cnnzoo::models::imagenet
