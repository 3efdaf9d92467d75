// LeNet-5 (LeCun et al. 1998) for 32x32 inputs; 28x28 inputs (MNIST, Fashion-MNIST) are
// zero-padded by 2 on each side, as the paper centred its 28x28 digits in a 32x32 field.
//
// What differs from the paper, and why: S2/S4 are plain 2x2 average pooling by default. The
// paper's S2/S4 add the four inputs of each window, multiply the sum by a trainable
// coefficient, add a trainable bias (one pair per map) and pass the result through the
// squashing function f(a) = 1.7159 tanh(2a/3); because the affine sits inside f, the next
// convolution cannot absorb it. Option subsampling=paper builds that form (6 + 16 pairs, 44
// parameters more); the plain pooling stays the default, which the quickstart's results use.
// The paper squashes every layer up to F6 with f, which activation=scaled_tanh gives; the
// default tanh lacks f's scaling. C3 connects to all 6 S2 maps (the paper's partial table of
// 60 connections was a symmetry-breaking device for 1998 hardware); the output is a linear
// layer under softmax cross-entropy instead of Euclidean RBF units. Parameters: 61,706 for
// one input channel (the paper's 32x32 greyscale), 62,006 for three (CIFAR); with
// subsampling=paper 61,750 and 62,050.
#include "cnnzoo/models/lenet.hpp"

#include "cnnzoo/nn/layers.hpp"
#include "cnnzoo/ops/activation.hpp"
#include "cnnzoo/ops/arith.hpp"
#include "cnnzoo/ops/pool.hpp"
#include "cnnzoo/ops/shape.hpp"
#include "models/paper.hpp"
#include "models/papers.hpp"

namespace cnnzoo::models {

namespace {

// f(a) = A tanh(S a) with A = 1.7159, S = 2/3: f(+-1) = +-1, so the unit targets of +-1 sit
// where the gain is largest and the outputs do not saturate (the paper's Appendix A).
Var squash(const Var& a) {
  return scale(tanh(scale(a, 2.0 / 3.0)), 1.7159);
}

class ScaledTanh : public nn::Module {
 public:
  Var forward(const Var& x) override { return squash(x); }
  std::string type_name() const override { return "ScaledTanh"; }
};

// The paper's S2/S4: f(coefficient * (sum of the 2x2 window) + bias), per map.
class Subsampling : public nn::Module {
 public:
  explicit Subsampling(int64_t maps) {
    // A 1x1 depthwise convolution is exactly one coefficient and one bias per map.
    affine = register_module(
        "affine", std::make_shared<nn::Conv2d>(nn::Conv2dOptions(maps, maps, 1).groups(maps)));
  }
  Var forward(const Var& x) override {
    Pool2dOptions o;
    o.kernel_size = 2;
    return squash(affine->forward(scale(avg_pool2d(x, o), 4.0)));
  }
  std::string type_name() const override { return "Subsampling"; }
  std::shared_ptr<nn::Conv2d> affine;
};

class LeNet5 : public nn::Module {
 public:
  LeNet5(int64_t in_channels, int64_t input_size, int64_t num_classes,
         const std::string& activation_name, const std::string& pool, bool paper_subsampling)
      : pad_(input_size == 28 ? 2 : 0) {
    check(input_size == 28 || input_size == 32,
          "lenet5: input must be 28x28 or 32x32, got " + std::to_string(input_size));
    auto activation = [&activation_name]() -> nn::ModulePtr {
      if (activation_name == "relu") return std::make_shared<nn::ReLU>();
      if (activation_name == "scaled_tanh") return std::make_shared<ScaledTanh>();
      return std::make_shared<nn::Tanh>();
    };
    auto subsample = [&pool, paper_subsampling](int64_t maps) -> nn::ModulePtr {
      if (paper_subsampling) return std::make_shared<Subsampling>(maps);
      if (pool == "max") return std::make_shared<nn::MaxPool2d>(2);
      return std::make_shared<nn::AvgPool2d>(2);
    };
    features = register_module("features", std::make_shared<nn::Sequential>());
    features->push_back(std::make_shared<nn::Conv2d>(in_channels, 6, 5));  // C1: 32 -> 28
    features->push_back(activation());
    features->push_back(subsample(6));                            // S2: 28 -> 14
    features->push_back(std::make_shared<nn::Conv2d>(6, 16, 5));  // C3: 14 -> 10
    features->push_back(activation());
    features->push_back(subsample(16));  // S4: 10 -> 5
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

nn::ModulePtr build_lenet5(const ModelSpec& spec, const LeNet5Config& c) {
  const std::string &act = c.activation, &pool = c.pool, &subsampling = c.subsampling;
  check(subsampling == "pool" || pool == "avg",
        "lenet5: subsampling=paper sums each window; pool=max does not apply");
  return std::make_shared<LeNet5>(spec.in_channels, spec.input_size, spec.num_classes, act, pool,
                                  subsampling == "paper");
}

std::vector<ModelInfo> lenet_models() {
  using C = LeNet5Config;
  const auto options =
      Options<C>()
          .choice("activation", &C::activation, {"tanh", "relu", "scaled_tanh"},
                  "the squashing function")
          .choice("pool", &C::pool, {"avg", "max"}, "subsampling pool")
          .choice("subsampling", &C::subsampling, {"pool", "paper"},
                  "paper: S2/S4's trainable coefficient and bias through the squashing");
  Input input = cifar_input();
  input.in_channels = 1;  // 32x32 grey images, 10 classes
  return {model_row(Paper{"Gradient-Based Learning Applied to Document Recognition", "LeCun et al.",
                          1998, "", "lenet"},
                    "lenet5", input, "", options, C{}, build_lenet5)};
}

}  // namespace cnnzoo::models
