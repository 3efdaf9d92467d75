// AlexNet as torchvision builds it: the single-tower variant it attributes to Krizhevsky, "One
// weird trick for parallelizing convolutional neural networks" (2014, arXiv:1404.5997).
//
// This is not the two-GPU network of Krizhevsky, Sutskever & Hinton (NIPS 2012): like the
// 2014 paper's one-tower model it has no grouped convolutions and no local response
// normalisation. The widths 64-192-384-256-256, the padding of 2 on conv1 and the adaptive
// 6x6 average pool before the classifier (any input of at least 63x63 works) are
// torchvision's, kept key for key so its weights load. Parameters: 61,100,840.
//
// alexnet-cifar adapts the original network, Krizhevsky, Sutskever & Hinton, "ImageNet
// Classification with Deep Convolutional Neural Networks" (NIPS 2012; no arXiv id), to 32x32
// CIFAR images. Kept from the paper: five convolutions 96-256-384-384-256 (5x5 conv2, 3x3
// conv3-5), ReLU, overlapping 3x3/2 max pools after conv1, conv2 and conv5, and the
// 4096-4096 fully connected layers with dropout 0.5 on the outputs of relu6 and relu7, the
// paper's and Caffe's placement (torchvision's alexnet above drops the inputs of fc6 and fc7
// instead: the conv5 features rather than the input of fc8). Adapted:
//  * conv1 is 5x5 stride 1 (paper 11x11 stride 4 with 224x224 crops): a stride of 4 would
//    leave an 8x8 map of a 32x32 image before the first pool; at stride 1 the three pools give
//    32 -> 15 -> 7 -> 3, so fc6 sees 3x3x256 = 2304 inputs (paper 6x6x256);
//  * BatchNorm after every convolution (conv without bias -> BN -> ReLU), in place of the
//    local response normalisation after conv1 and conv2, as the BN paper did for Inception.
//    The BN-free network (option batch_norm=false: biased convolutions, LRN with the paper's
//    k = 2, n = 5, alpha = 1e-4, beta = 0.75) collapsed to constant predictions under the
//    zoo's common CIFAR recipe (lr 0.05, Nesterov; measured: chance accuracy after the
//    warm-up), like other plain nets of this depth at that rate; the paper trained it at
//    lr 0.01 for 90 epochs;
//  * one tower: the paper split conv2, conv4 and conv5 into two groups only to fit two 3 GB
//    GPUs (option groups=2 restores the split);
//  * He (fan-in) initialisation, the classifier N(0, 0.01), zero biases, instead of N(0, 0.01)
//    everywhere with biases of 1.
// The fully connected part holds 26.2M of the 30.0M parameters; it is kept at the paper's
// width because it is the design (and costs only 26M multiply-adds per image).
// Parameters (10 classes): 29,984,490 (groups=2: 28,571,370; batch_norm=false: 29,983,114).
#include "cnnzoo/models/alexnet.hpp"

#include "cnnzoo/nn/init.hpp"
#include "cnnzoo/nn/layers.hpp"
#include "cnnzoo/ops/shape.hpp"
#include "models/paper.hpp"
#include "models/papers.hpp"

namespace cnnzoo::models::imagenet {

namespace {

using namespace cnnzoo::nn;

class AlexNet : public Module {
 public:
  AlexNet(int64_t in_channels, int64_t num_classes, double drop_rate) {
    features = register_module("features", std::make_shared<Sequential>());
    auto pool = [] { return std::make_shared<MaxPool2d>(3, 2); };
    features->push_back(
        std::make_shared<Conv2d>(Conv2dOptions(in_channels, 64, 11).stride(4).padding(2)));
    features->push_back(std::make_shared<ReLU>());
    features->push_back(pool());
    features->push_back(std::make_shared<Conv2d>(Conv2dOptions(64, 192, 5).padding(2)));
    features->push_back(std::make_shared<ReLU>());
    features->push_back(pool());
    features->push_back(std::make_shared<Conv2d>(Conv2dOptions(192, 384, 3).padding(1)));
    features->push_back(std::make_shared<ReLU>());
    features->push_back(std::make_shared<Conv2d>(Conv2dOptions(384, 256, 3).padding(1)));
    features->push_back(std::make_shared<ReLU>());
    features->push_back(std::make_shared<Conv2d>(Conv2dOptions(256, 256, 3).padding(1)));
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

// The 2012 network on 32x32 inputs (see the top of the file).
class AlexNetCifar : public Module {
 public:
  AlexNetCifar(int64_t in_channels, int64_t num_classes, double drop_rate, int64_t groups,
               bool batch_norm) {
    features = register_module("features", std::make_shared<Sequential>());
    auto& f = *features;
    // conv [-> BN] -> ReLU; without BN, LRN follows conv1 and conv2.
    auto layer = [&](int64_t in, int64_t out, int64_t k, int64_t g, bool lrn) {
      f.push_back(std::make_shared<Conv2d>(
          Conv2dOptions(in, out, k).padding(k / 2).groups(g).bias(!batch_norm)));
      if (batch_norm) f.push_back(std::make_shared<BatchNorm2d>(out));
      f.push_back(std::make_shared<ReLU>());
      // Paper: k + alpha * sum(a^2) with alpha = 1e-4; PyTorch's form divides alpha by n = 5.
      if (lrn && !batch_norm) f.push_back(std::make_shared<LocalResponseNorm>(5, 5e-4, 0.75, 2.0));
    };
    auto pool = [] { return std::make_shared<MaxPool2d>(3, 2); };
    layer(in_channels, 96, 5, 1, true);  // conv1
    f.push_back(pool());                 // 32 -> 15
    layer(96, 256, 5, groups, true);     // conv2
    f.push_back(pool());                 // 15 -> 7
    layer(256, 384, 3, 1, false);        // conv3 (sees both towers in the paper too)
    layer(384, 384, 3, groups, false);   // conv4
    layer(384, 256, 3, groups, false);   // conv5
    f.push_back(pool());                 // 7 -> 3
    classifier = register_module("classifier", std::make_shared<Sequential>());
    auto& c = *classifier;
    c.push_back(std::make_shared<Linear>(256 * 3 * 3, 4096));  // fc6
    c.push_back(std::make_shared<ReLU>());
    c.push_back(std::make_shared<Dropout>(drop_rate));
    c.push_back(std::make_shared<Linear>(4096, 4096));  // fc7
    c.push_back(std::make_shared<ReLU>());
    c.push_back(std::make_shared<Dropout>(drop_rate));
    auto fc8 = std::make_shared<Linear>(4096, num_classes);
    c.push_back(fc8);
    init::kaiming_normal<Conv2d>(*this, init::FanMode::FanIn);
    init::kaiming_normal<Linear>(*this, init::FanMode::FanIn);
    init::normal(fc8->weight.value(), 0.0, 0.01);  // the logits start small
  }
  Var forward(const Var& x) override { return classifier->forward(flatten(features->forward(x))); }
  std::string type_name() const override { return "AlexNet"; }

  std::shared_ptr<Sequential> features, classifier;
};

}  // namespace

nn::ModulePtr build_alexnet(const ModelSpec& spec, const AlexNetConfig& config) {
  return std::make_shared<AlexNet>(spec.in_channels, spec.num_classes, config.drop_rate);
}

}  // namespace cnnzoo::models::imagenet

namespace cnnzoo::models {

nn::ModulePtr build_alexnet_cifar(const ModelSpec& spec, const AlexNetCifarConfig& config) {
  return std::make_shared<imagenet::AlexNetCifar>(
      spec.in_channels, spec.num_classes, config.drop_rate, config.groups, config.batch_norm);
}

std::vector<ModelInfo> alexnet_models() {
  const auto imagenet_options = Options<imagenet::AlexNetConfig>().real(
      "drop_rate", &imagenet::AlexNetConfig::drop_rate, 0.0, 0.99, "dropout in the classifier");
  using C = AlexNetCifarConfig;
  const auto cifar_options =
      Options<C>()
          .real("drop_rate", &C::drop_rate, 0.0, 0.99, "dropout after relu6 and relu7")
          .integer("groups", &C::groups, 1, 2, "2: the paper's two-GPU grouping")
          .flag("batch_norm", &C::batch_norm, "BN instead of LRN");
  return {model_row(Paper{"One weird trick for parallelizing convolutional neural networks",
                          "Krizhevsky", 2014, "1404.5997", "alexnet"},
                    "alexnet", imagenet_input(), "", imagenet_options, imagenet::AlexNetConfig{},
                    imagenet::build_alexnet),
          model_row(Paper{"ImageNet Classification with Deep Convolutional Neural Networks",
                          "Krizhevsky et al.", 2012, "", "alexnet"},
                    "alexnet-cifar", cifar_input(), "", cifar_options, C{}, build_alexnet_cifar)};
}

}  // namespace cnnzoo::models
