// ZFNet: Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks" (2013,
// arXiv:1311.2901), the 8-layer ImageNet network of the paper's Figure 3.
//
// Figure 3, with the sizes it prints for a 224x224 crop:
//   layer 1  7x7/2 conv 96 (110x110) -> ReLU -> 3x3/2 max pool (55x55) -> contrast norm.
//   layer 2  5x5/2 conv 256 (26x26)  -> ReLU -> 3x3/2 max pool (13x13) -> contrast norm.
//   layer 3  3x3 conv 384, layer 4 3x3 conv 384, layer 5 3x3 conv 256 (13x13, dense: no
//            two-GPU groups as in AlexNet) -> 3x3/2 max pool (6x6)
//   layer 6  fc 4096, layer 7 fc 4096 (ReLU, dropout 0.5), output fc (softmax).
// Geometry that reproduces those sizes: conv1 padding 1, conv2 none, conv3-5 padding 1, and
// max pools in ceil mode (110 -> 55 and 26 -> 13 need it; the paper's code rounded up as
// cuda-convnet and Caffe do). Each layer is conv -> ReLU -> pool -> normalisation, the order
// the paper's Section 2 and Figure 3 give.
// "Contrast normalisation across feature maps" is AlexNet's local response normalisation;
// the paper gives no constants, so these are AlexNet's: n = 5, k = 2, alpha = 1e-4,
// beta = 0.75 in the AlexNet formula k + alpha * sum(a^2). Our LRN divides alpha by n (as
// PyTorch and Caffe do), hence alpha = 5e-4 below.
// An adaptive 6x6 average pool before fc6 is the identity at 224x224 and lets other input
// sizes through (as torchvision's AlexNet does).
// Initialisation as in the paper's Section 3: weights N(0, 0.01), biases 0. The paper's
// filter renormalisation (rescaling conv filters whose RMS exceeds 0.1) is a training-loop
// step and is not part of the model.
// Parameters: conv 14,208 + 614,656 + 885,120 + 1,327,488 + 884,992 = 3,726,464; fc
// 37,752,832 + 16,781,312 + 4,097,000 = 58,631,144; total 62,357,608 for 1000 classes. The
// paper quotes no total (AlexNet's "60 million" is the order of magnitude it inherits).
#include "cnnzoo/models/zfnet.hpp"

#include "cnnzoo/nn/init.hpp"
#include "cnnzoo/nn/layers.hpp"
#include "cnnzoo/ops/shape.hpp"
#include "models/paper.hpp"
#include "models/papers.hpp"

namespace cnnzoo::models {

namespace {

using namespace cnnzoo::nn;

std::shared_ptr<MaxPool2d> pool3x3s2() {
  return std::make_shared<MaxPool2d>(3, 2, 0, /*ceil_mode=*/true);
}

std::shared_ptr<LocalResponseNorm> contrast_norm() {
  return std::make_shared<LocalResponseNorm>(5, 5e-4, 0.75, 2.0);
}

class ZFNet : public Module {
 public:
  ZFNet(int64_t in_channels, int64_t num_classes, double drop_rate) {
    features = register_module("features", std::make_shared<Sequential>());
    features->push_back(
        "conv1", std::make_shared<Conv2d>(Conv2dOptions(in_channels, 96, 7).stride(2).padding(1)));
    features->push_back("relu1", std::make_shared<ReLU>());
    features->push_back("pool1", pool3x3s2());
    features->push_back("norm1", contrast_norm());
    features->push_back("conv2", std::make_shared<Conv2d>(Conv2dOptions(96, 256, 5).stride(2)));
    features->push_back("relu2", std::make_shared<ReLU>());
    features->push_back("pool2", pool3x3s2());
    features->push_back("norm2", contrast_norm());
    features->push_back("conv3", std::make_shared<Conv2d>(Conv2dOptions(256, 384, 3).padding(1)));
    features->push_back("relu3", std::make_shared<ReLU>());
    features->push_back("conv4", std::make_shared<Conv2d>(Conv2dOptions(384, 384, 3).padding(1)));
    features->push_back("relu4", std::make_shared<ReLU>());
    features->push_back("conv5", std::make_shared<Conv2d>(Conv2dOptions(384, 256, 3).padding(1)));
    features->push_back("relu5", std::make_shared<ReLU>());
    features->push_back("pool5", pool3x3s2());
    avgpool = register_module("avgpool", std::make_shared<AdaptiveAvgPool2d>(6));
    classifier = register_module("classifier", std::make_shared<Sequential>());
    classifier->push_back("fc6", std::make_shared<Linear>(256 * 6 * 6, 4096));
    classifier->push_back("relu6", std::make_shared<ReLU>());
    classifier->push_back("drop6", std::make_shared<Dropout>(drop_rate));
    classifier->push_back("fc7", std::make_shared<Linear>(4096, 4096));
    classifier->push_back("relu7", std::make_shared<ReLU>());
    classifier->push_back("drop7", std::make_shared<Dropout>(drop_rate));
    classifier->push_back("fc8", std::make_shared<Linear>(4096, num_classes));
    init::normal<Conv2d>(*this, 0.0, 0.01);
    init::normal<Linear>(*this, 0.0, 0.01);
  }
  Var forward(const Var& x) override {
    return classifier->forward(flatten(avgpool->forward(features->forward(x))));
  }
  std::string type_name() const override { return "ZFNet"; }

  std::shared_ptr<Sequential> features, classifier;
  std::shared_ptr<AdaptiveAvgPool2d> avgpool;
};

}  // namespace

nn::ModulePtr build_zfnet(const ModelSpec& spec, const ZFNetConfig& config) {
  return std::make_shared<ZFNet>(spec.in_channels, spec.num_classes, config.drop_rate);
}

std::vector<ModelInfo> zfnet_models() {
  using C = ZFNetConfig;
  const auto options =
      Options<C>().real("drop_rate", &C::drop_rate, 0.0, 0.99, "dropout after fc6 and fc7");
  return {model_row(Paper{"Visualizing and Understanding Convolutional Networks",
                          "Zeiler and Fergus", 2013, "1311.2901", "zfnet"},
                    "zfnet", imagenet_input(), "", options, C{}, build_zfnet)};
}

}  // namespace cnnzoo::models
