// SqueezeNet v1.0 and v1.1 as torchvision builds them: Iandola et al., "SqueezeNet:
// AlexNet-level accuracy with 50x fewer parameters and <0.5MB model size" (2016,
// arXiv:1602.07360).
//
// squeezenet1_0 is the paper's Table 1 without bypass: conv1 7x7/2 96, max pool, fire2-4,
// max pool, fire5-8, max pool, fire9, dropout 0.5, conv10 1x1 -> ReLU -> global average pool.
// squeezenet1_1 is the authors' v1.1 (SqueezeNet GitHub release): conv1 3x3/2 64 and the
// pools moved earlier (after conv1, fire3, fire5), 2.4x cheaper at the same accuracy.
// Max pools are 3x3/2 in ceil mode, as in the Caffe original. The ReLU before the global
// average pool is the paper's design (the classifier is a convolution followed by ReLU, so
// the network's outputs are non-negative), kept for compatibility with torchvision weights.
// Convolutions have biases (there is no batch normalisation in SqueezeNet).
// Parameters (exact, as torchvision): squeezenet1_0 1,248,424; squeezenet1_1 1,235,496.
//
// squeezenet-cifar is v1.0 with the paper's simple bypass (its best variant, section 6:
// identity shortcuts around fire3, fire5, fire7 and fire9, whose input and output widths
// match) and with batch normalisation, on 32x32 images. Each convolution (conv1, every
// squeeze and expand layer) is conv (no bias) -> BatchNorm -> ReLU; the bypass adds the fire
// module's input to its concatenated, activated output. Adapted for 32x32: conv1 is 3x3
// stride 1 with 96 filters (paper 7x7/2) and the max pool after it is dropped, because the
// paper's stem divides 224 by 4 before fire2; the pools after fire4 and fire8 stay (3x3/2,
// ceil mode), so fire2-4 run at 32x32, fire5-8 at 16x16, fire9 at 8x8. The classifier keeps
// dropout 0.5 after fire9 and conv10 (1x1, with bias) feeding global average pooling, but
// without the ReLU (and without BN) on the logits. He (fan-out) initialisation, conv10
// N(0, 0.01) as in the paper's release.
// Parameters (10 classes): 732,010 (0.73M; the paper's v1.0 has 1.25M at 1000 classes).
#include "cnnzoo/models/squeezenet.hpp"

#include "cnnzoo/nn/init.hpp"
#include "cnnzoo/nn/layers.hpp"
#include "cnnzoo/ops/activation.hpp"
#include "cnnzoo/ops/arith.hpp"
#include "cnnzoo/ops/shape.hpp"
#include "models/paper.hpp"
#include "models/papers.hpp"

namespace cnnzoo::models {

Fire::Fire(int64_t in_channels, int64_t squeeze_planes, int64_t expand1x1_planes,
           int64_t expand3x3_planes) {
  using nn::Conv2d, nn::Conv2dOptions, nn::ReLU;
  squeeze = register_module("squeeze", std::make_shared<Conv2d>(in_channels, squeeze_planes, 1));
  squeeze_activation = register_module("squeeze_activation", std::make_shared<ReLU>());
  expand1x1 =
      register_module("expand1x1", std::make_shared<Conv2d>(squeeze_planes, expand1x1_planes, 1));
  expand1x1_activation = register_module("expand1x1_activation", std::make_shared<ReLU>());
  expand3x3 = register_module(
      "expand3x3",
      std::make_shared<Conv2d>(Conv2dOptions(squeeze_planes, expand3x3_planes, 3).padding(1)));
  expand3x3_activation = register_module("expand3x3_activation", std::make_shared<ReLU>());
}

Var Fire::forward(const Var& x) {
  Var s = squeeze_activation->forward(squeeze->forward(x));
  return concat(std::vector<Var>{expand1x1_activation->forward(expand1x1->forward(s)),
                                 expand3x3_activation->forward(expand3x3->forward(s))});
}

FireBN::FireBN(int64_t in_channels, int64_t squeeze_planes, int64_t expand_planes, bool bypass)
    : bypass(bypass) {
  check(!bypass || in_channels == 2 * expand_planes, "FireBN: a simple bypass needs equal widths");
  auto unit = [](int64_t in, int64_t out, int64_t kernel) {
    return std::make_shared<nn::ConvBnAct>(
        nn::ConvBnActOptions(in, out, kernel).padding(kernel / 2));
  };
  squeeze = register_module("squeeze", unit(in_channels, squeeze_planes, 1));
  expand1x1 = register_module("expand1x1", unit(squeeze_planes, expand_planes, 1));
  expand3x3 = register_module("expand3x3", unit(squeeze_planes, expand_planes, 3));
}

Var FireBN::forward(const Var& x) {
  Var s = squeeze->forward(x);
  Var y = concat(std::vector<Var>{expand1x1->forward(s), expand3x3->forward(s)});
  return bypass ? add(y, x) : y;
}

}  // namespace cnnzoo::models

namespace cnnzoo::models::imagenet {

namespace {

using namespace cnnzoo::nn;

class SqueezeNet : public Module {
 public:
  SqueezeNet(bool v1_1, int64_t in_channels, int64_t num_classes, double drop_rate) {
    features = register_module("features", std::make_shared<Sequential>());
    auto& f = *features;
    auto pool = [] { return std::make_shared<MaxPool2d>(3, 2, 0, /*ceil_mode=*/true); };
    auto fire = [](int64_t in, int64_t s, int64_t e) {
      return std::make_shared<Fire>(in, s, e, e);
    };
    if (!v1_1) {
      f.push_back(std::make_shared<Conv2d>(Conv2dOptions(in_channels, 96, 7).stride(2)));
      f.push_back(std::make_shared<ReLU>());
      f.push_back(pool());
      f.push_back(fire(96, 16, 64));    // fire2
      f.push_back(fire(128, 16, 64));   // fire3
      f.push_back(fire(128, 32, 128));  // fire4
      f.push_back(pool());
      f.push_back(fire(256, 32, 128));  // fire5
      f.push_back(fire(256, 48, 192));  // fire6
      f.push_back(fire(384, 48, 192));  // fire7
      f.push_back(fire(384, 64, 256));  // fire8
      f.push_back(pool());
      f.push_back(fire(512, 64, 256));  // fire9
    } else {
      f.push_back(std::make_shared<Conv2d>(Conv2dOptions(in_channels, 64, 3).stride(2)));
      f.push_back(std::make_shared<ReLU>());
      f.push_back(pool());
      f.push_back(fire(64, 16, 64));   // fire2
      f.push_back(fire(128, 16, 64));  // fire3
      f.push_back(pool());
      f.push_back(fire(128, 32, 128));  // fire4
      f.push_back(fire(256, 32, 128));  // fire5
      f.push_back(pool());
      f.push_back(fire(256, 48, 192));  // fire6
      f.push_back(fire(384, 48, 192));  // fire7
      f.push_back(fire(384, 64, 256));  // fire8
      f.push_back(fire(512, 64, 256));  // fire9
    }
    auto conv10 = std::make_shared<Conv2d>(512, num_classes, 1);
    classifier = register_module("classifier", std::make_shared<Sequential>());
    classifier->push_back(std::make_shared<Dropout>(drop_rate));
    classifier->push_back(conv10);
    classifier->push_back(std::make_shared<ReLU>());
    classifier->push_back(std::make_shared<AdaptiveAvgPool2d>(1));
    // torchvision's initialisation: He-uniform (fan-in) convolutions, N(0, 0.01) for conv10
    // (the paper's final layer starts small), zero biases.
    init::kaiming_uniform<Conv2d>(*features, init::FanMode::FanIn);
    init::normal<Conv2d>(*conv10, 0.0, 0.01);
  }
  Var forward(const Var& x) override { return flatten(classifier->forward(features->forward(x))); }
  std::string type_name() const override { return "SqueezeNet"; }

  std::shared_ptr<Sequential> features, classifier;
};

// v1.0 + BN + simple bypass on 32x32 inputs (see the top of the file).
class SqueezeNetCifar : public Module {
 public:
  SqueezeNetCifar(int64_t in_channels, int64_t num_classes, double drop_rate) {
    features = register_module("features", std::make_shared<Sequential>());
    auto& f = *features;
    auto pool = [] { return std::make_shared<MaxPool2d>(3, 2, 0, /*ceil_mode=*/true); };
    auto fire = [](int64_t in, int64_t s, int64_t e, bool bypass) {
      return std::make_shared<FireBN>(in, s, e, bypass);
    };
    f.push_back(std::make_shared<ConvBnAct>(ConvBnActOptions(in_channels, 96, 3).padding(1)));
    f.push_back(fire(96, 16, 64, false));    // fire2
    f.push_back(fire(128, 16, 64, true));    // fire3
    f.push_back(fire(128, 32, 128, false));  // fire4
    f.push_back(pool());                     // 32 -> 16
    f.push_back(fire(256, 32, 128, true));   // fire5
    f.push_back(fire(256, 48, 192, false));  // fire6
    f.push_back(fire(384, 48, 192, true));   // fire7
    f.push_back(fire(384, 64, 256, false));  // fire8
    f.push_back(pool());                     // 16 -> 8
    f.push_back(fire(512, 64, 256, true));   // fire9
    auto conv10 = std::make_shared<Conv2d>(512, num_classes, 1);
    classifier = register_module("classifier", std::make_shared<Sequential>());
    classifier->push_back(std::make_shared<Dropout>(drop_rate));
    classifier->push_back(conv10);
    classifier->push_back(std::make_shared<AdaptiveAvgPool2d>(1));
    init::kaiming_normal<Conv2d>(*features, init::FanMode::FanOut, "relu", init::Bias::Keep);
    init::normal<Conv2d>(*conv10, 0.0, 0.01);
  }
  Var forward(const Var& x) override { return flatten(classifier->forward(features->forward(x))); }
  std::string type_name() const override { return "SqueezeNet"; }

  std::shared_ptr<Sequential> features, classifier;
};

}  // namespace

nn::ModulePtr build_squeezenet(const ModelSpec& spec, const SqueezeNetConfig& config) {
  check(spec.name == "squeezenet1_0" || spec.name == "squeezenet1_1",
        "squeezenet: unknown version '" + spec.name + "'");
  return std::make_shared<SqueezeNet>(spec.name == "squeezenet1_1", spec.in_channels,
                                      spec.num_classes, config.drop_rate);
}

}  // namespace cnnzoo::models::imagenet

namespace cnnzoo::models {

nn::ModulePtr build_squeezenet_cifar(const ModelSpec& spec,
                                     const imagenet::SqueezeNetConfig& config) {
  return std::make_shared<imagenet::SqueezeNetCifar>(spec.in_channels, spec.num_classes,
                                                     config.drop_rate);
}

namespace {

// One paper, two places in the registry's table: ImageNet's rows and the CIFAR adaptation.
const Paper kSqueezeNet{
    "SqueezeNet: AlexNet-level accuracy with 50x fewer parameters and <0.5MB model size",
    "Iandola et al.", 2016, "1602.07360", "squeezenet"};

Options<imagenet::SqueezeNetConfig> squeezenet_options() {
  using C = imagenet::SqueezeNetConfig;
  return Options<C>().real("drop_rate", &C::drop_rate, 0.0, 0.99, "dropout before conv10");
}

}  // namespace

std::vector<ModelInfo> squeezenet_models() {
  using C = imagenet::SqueezeNetConfig;
  const auto options = squeezenet_options();
  return {model_row(kSqueezeNet, "squeezenet1_0", imagenet_input(), "", options, C{},
                    imagenet::build_squeezenet),
          model_row(kSqueezeNet, "squeezenet1_1", imagenet_input(), "", options, C{},
                    imagenet::build_squeezenet)};
}

std::vector<ModelInfo> squeezenet_cifar_models() {
  using C = imagenet::SqueezeNetConfig;
  return {model_row(kSqueezeNet, "squeezenet-cifar", cifar_input(), "", squeezenet_options(), C{},
                    build_squeezenet_cifar)};
}

}  // namespace cnnzoo::models
