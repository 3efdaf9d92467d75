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
#include "models/squeezenet.hpp"

#include "cnnzoo/nn/init.hpp"
#include "cnnzoo/nn/layers.hpp"
#include "cnnzoo/ops/shape.hpp"

namespace cnnzoo::models::imagenet {

namespace {

using namespace cnnzoo::nn;

// Fire module: a 1x1 squeeze layer feeding parallel 1x1 and 3x3 expand layers.
class Fire : public Module {
 public:
  Fire(int64_t in, int64_t squeeze_planes, int64_t expand1x1_planes, int64_t expand3x3_planes) {
    squeeze = register_module("squeeze", std::make_shared<Conv2d>(in, squeeze_planes, 1));
    squeeze_activation = register_module("squeeze_activation", std::make_shared<ReLU>());
    expand1x1 =
        register_module("expand1x1", std::make_shared<Conv2d>(squeeze_planes, expand1x1_planes, 1));
    expand1x1_activation = register_module("expand1x1_activation", std::make_shared<ReLU>());
    Conv2dOptions o;
    o.padding = 1;
    expand3x3 = register_module("expand3x3",
                                std::make_shared<Conv2d>(squeeze_planes, expand3x3_planes, 3, o));
    expand3x3_activation = register_module("expand3x3_activation", std::make_shared<ReLU>());
  }
  Var forward(const Var& x) override {
    Var s = squeeze_activation->forward(squeeze->forward(x));
    return concat(std::vector<Var>{expand1x1_activation->forward(expand1x1->forward(s)),
                                   expand3x3_activation->forward(expand3x3->forward(s))});
  }
  std::string type_name() const override { return "Fire"; }
  std::shared_ptr<Conv2d> squeeze, expand1x1, expand3x3;
  std::shared_ptr<ReLU> squeeze_activation, expand1x1_activation, expand3x3_activation;
};

class SqueezeNet : public Module {
 public:
  SqueezeNet(bool v1_1, int64_t in_channels, int64_t num_classes, double drop_rate) {
    features = register_module("features", std::make_shared<Sequential>());
    auto& f = *features;
    auto pool = [] { return std::make_shared<MaxPool2d>(3, 2, 0, /*ceil_mode=*/true); };
    auto fire = [](int64_t in, int64_t s, int64_t e) {
      return std::make_shared<Fire>(in, s, e, e);
    };
    Conv2dOptions o;
    o.stride = 2;
    if (!v1_1) {
      f.push_back(std::make_shared<Conv2d>(in_channels, 96, 7, o));
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
      f.push_back(std::make_shared<Conv2d>(in_channels, 64, 3, o));
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
    apply([&conv10](Module& m) {
      if (auto* c = dynamic_cast<Conv2d*>(&m)) {
        if (c == conv10.get())
          init::normal(c->weight.value(), 0.0, 0.01);
        else
          init::kaiming_uniform(c->weight.value(), init::FanMode::FanIn, 0.0, "relu");
        c->bias.value().zero();
      }
    });
  }
  Var forward(const Var& x) override { return flatten(classifier->forward(features->forward(x))); }
  std::string type_name() const override { return "SqueezeNet"; }

  std::shared_ptr<Sequential> features, classifier;
};

}  // namespace

nn::ModulePtr squeezenet(const ModelSpec& spec) {
  check(spec.name == "squeezenet1_0" || spec.name == "squeezenet1_1",
        "squeezenet: unknown version '" + spec.name + "'");
  return std::make_shared<SqueezeNet>(spec.name == "squeezenet1_1", spec.in_channels,
                                      spec.num_classes, spec.get_double("drop_rate", 0.5));
}

}  // namespace cnnzoo::models::imagenet
