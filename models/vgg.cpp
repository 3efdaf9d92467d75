// VGG, configurations A, B, D and E with and without batch normalisation, as torchvision builds
// them: Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image
// Recognition" (2014, arXiv:1409.1556).
//
// The convolutional part is the paper's Table 1 (3x3 convolutions, padding 1, 2x2/2 max pools;
// configuration C with its 1x1 convolutions is not provided, as in torchvision). The three
// fully connected layers are the paper's fc6/fc7/fc8; torchvision puts an adaptive 7x7 average
// pool in front of them, so inputs other than 224x224 still meet a 512*7*7 fc6. The `_bn`
// models (not in the paper) insert BatchNorm between each convolution and its ReLU; the
// convolutions keep their bias there, exactly as torchvision, for key-for-key compatibility.
// Parameters: vgg16 138,357,544 (the paper's "138M"), vgg16_bn 138,365,992.
//
// CIFAR versions (vgg11-cifar, vgg16-cifar, vgg19-cifar; the paper has no CIFAR network): the
// same 3x3 convolution stacks, now conv (no bias) -> BatchNorm -> ReLU, because without BN the
// deeper configurations do not train from scratch (the paper initialised D and E from a
// trained A), on the 32x32 image directly. The five 2x2 pools bring 32x32 down to 1x1x512,
// so the three 4096-wide fully connected layers, sized for a 7x7x512 map and 1.2M images,
// become one 512 -> classes linear layer (no dropout), the common CIFAR form. A global
// average pool in front of it is the identity at 32x32 and lets larger inputs through.
// Parameters (10 classes): vgg11-cifar 9,228,362; vgg16-cifar 14,724,042 (the usual
// "14.7M"); vgg19-cifar 20,035,018.
#include "cnnzoo/models/vgg.hpp"

#include "cnnzoo/nn/init.hpp"
#include "cnnzoo/nn/layers.hpp"
#include "cnnzoo/ops/shape.hpp"
#include "models/paper.hpp"
#include "models/papers.hpp"

namespace cnnzoo::models::imagenet {

namespace {

using namespace cnnzoo::nn;

constexpr int64_t M = 0;  // a 2x2/2 max pool in a configuration

// Paper Table 1: output channels of each 3x3 convolution, M for max pooling.
std::vector<int64_t> configuration(const std::string& letter) {
  if (letter == "A") return {64, M, 128, M, 256, 256, M, 512, 512, M, 512, 512, M};
  if (letter == "B") return {64, 64, M, 128, 128, M, 256, 256, M, 512, 512, M, 512, 512, M};
  if (letter == "D")
    return {64, 64, M, 128, 128, M, 256, 256, 256, M, 512, 512, 512, M, 512, 512, 512, M};
  return {64,  64,  M,   128, 128, M,   256, 256, 256, 256, M,
          512, 512, 512, 512, M,   512, 512, 512, 512, M};  // E
}

std::shared_ptr<Sequential> features(const std::vector<int64_t>& cfg, int64_t in_channels,
                                     bool batch_norm) {
  auto seq = std::make_shared<Sequential>();
  int64_t c = in_channels;
  for (int64_t v : cfg) {
    if (v == M) {
      seq->push_back(std::make_shared<MaxPool2d>(2, 2));
      continue;
    }
    seq->push_back(std::make_shared<Conv2d>(Conv2dOptions(c, v, 3).padding(1)));
    if (batch_norm) seq->push_back(std::make_shared<BatchNorm2d>(v));
    seq->push_back(std::make_shared<ReLU>());
    c = v;
  }
  return seq;
}

class VGG : public Module {
 public:
  VGG(std::shared_ptr<Sequential> conv_layers, int64_t num_classes, double drop_rate) {
    features = register_module("features", std::move(conv_layers));
    avgpool = register_module("avgpool", std::make_shared<AdaptiveAvgPool2d>(7));
    classifier = register_module("classifier", std::make_shared<Sequential>());
    classifier->push_back(std::make_shared<Linear>(512 * 7 * 7, 4096));  // fc6
    classifier->push_back(std::make_shared<ReLU>());
    classifier->push_back(std::make_shared<Dropout>(drop_rate));
    classifier->push_back(std::make_shared<Linear>(4096, 4096));  // fc7
    classifier->push_back(std::make_shared<ReLU>());
    classifier->push_back(std::make_shared<Dropout>(drop_rate));
    classifier->push_back(std::make_shared<Linear>(4096, num_classes));  // fc8
    // torchvision's initialisation: He (fan-out) for convolutions, N(0, 0.01) for the fully
    // connected layers, zero biases (the paper instead trained A first and copied its layers).
    init::kaiming_normal<Conv2d>(*this, init::FanMode::FanOut);
    init::normal<Linear>(*this, 0.0, 0.01);
  }
  Var forward(const Var& x) override {
    return classifier->forward(flatten(avgpool->forward(features->forward(x))));
  }
  std::string type_name() const override { return "VGG"; }

  std::shared_ptr<Sequential> features, classifier;
  std::shared_ptr<AdaptiveAvgPool2d> avgpool;
};

// Configuration letter of a CIFAR name (vgg16-cifar).
std::string configuration_letter(const std::string& n) {
  std::string depth = n.size() >= 5 ? n.substr(3, 2) : "";
  check(depth == "11" || depth == "13" || depth == "16" || depth == "19",
        "vgg: unknown configuration '" + n + "'");
  return depth == "11" ? "A" : depth == "13" ? "B" : depth == "16" ? "D" : "E";
}

// 32x32 inputs: BN after every convolution, one linear classifier on the 1x1x512 map.
class VGGCifar : public Module {
 public:
  VGGCifar(const std::vector<int64_t>& cfg, int64_t in_channels, int64_t num_classes) {
    features = register_module("features", std::make_shared<Sequential>());
    int64_t c = in_channels;
    for (int64_t v : cfg) {
      if (v == M) {
        features->push_back(std::make_shared<MaxPool2d>(2, 2));
        continue;
      }
      features->push_back(conv3x3(c, v));
      features->push_back(std::make_shared<BatchNorm2d>(v));
      features->push_back(std::make_shared<ReLU>());
      c = v;
    }
    avgpool = register_module("avgpool", std::make_shared<AdaptiveAvgPool2d>(1));
    classifier = register_module("classifier", std::make_shared<Linear>(512, num_classes));
    init::kaiming_normal<Conv2d>(*this, init::FanMode::FanOut, "relu", init::Bias::Keep);
    init::normal<Linear>(*this, 0.0, 0.01);
  }
  Var forward(const Var& x) override {
    return classifier->forward(flatten(avgpool->forward(features->forward(x))));
  }
  std::string type_name() const override { return "VGG"; }

  std::shared_ptr<Sequential> features;
  std::shared_ptr<AdaptiveAvgPool2d> avgpool;
  std::shared_ptr<Linear> classifier;
};

}  // namespace

nn::ModulePtr build_vgg(const ModelSpec& spec, const VGGConfig& config) {
  const std::string& n = spec.name;
  bool bn = n.size() > 3 && n.compare(n.size() - 3, 3, "_bn") == 0;
  std::string depth =
      n.substr(3, n.find('_') == std::string::npos ? std::string::npos : n.find('_') - 3);
  std::string letter = depth == "11" ? "A" : depth == "13" ? "B" : depth == "16" ? "D" : "E";
  check(depth == "11" || depth == "13" || depth == "16" || depth == "19",
        "vgg: unknown configuration '" + n + "'");
  return std::make_shared<VGG>(features(configuration(letter), spec.in_channels, bn),
                               spec.num_classes, config.drop_rate);
}

}  // namespace cnnzoo::models::imagenet

namespace cnnzoo::models {

nn::ModulePtr build_vgg_cifar(const ModelSpec& spec, const VGGCifarConfig&) {
  const std::string letter = imagenet::configuration_letter(spec.name);
  check(spec.name.size() > 6 && spec.name.compare(spec.name.size() - 6, 6, "-cifar") == 0,
        "vgg_cifar: not a CIFAR name '" + spec.name + "'");
  return std::make_shared<imagenet::VGGCifar>(imagenet::configuration(letter), spec.in_channels,
                                              spec.num_classes);
}

std::vector<ModelInfo> vgg_models() {
  const Paper paper{"Very Deep Convolutional Networks for Large-Scale Image Recognition",
                    "Simonyan and Zisserman", 2014, "1409.1556", "vgg"};
  using C = imagenet::VGGConfig;
  const auto options =
      Options<C>().real("drop_rate", &C::drop_rate, 0.0, 0.99, "dropout in the classifier");
  std::vector<ModelInfo> rows;
  for (const char* n :
       {"vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn"})
    rows.push_back(model_row(paper, n, imagenet_input(), "", options, C{}, imagenet::build_vgg));
  return rows;
}

std::vector<ModelInfo> vgg_cifar_models() {
  const Paper paper{"Very Deep Convolutional Networks for Large-Scale Image Recognition",
                    "Simonyan and Zisserman", 2014, "1409.1556", "vgg"};
  std::vector<ModelInfo> rows;
  for (const char* n : {"vgg11-cifar", "vgg16-cifar", "vgg19-cifar"})
    rows.push_back(model_row(paper, n, cifar_input(), "", Options<VGGCifarConfig>(),
                             VGGCifarConfig{}, build_vgg_cifar));
  return rows;
}

}  // namespace cnnzoo::models
