// The 15-layer CIFAR-10 network found by neural architecture search: Zoph & Le, "Neural
// Architecture Search with Reinforcement Learning" (2016, arXiv:1611.01578), Appendix A,
// Figure 7 ("NAS v1 no stride or pooling": 4.2M parameters, 5.50% CIFAR-10 error, Table 1).
//
// Every layer is a convolution with the searched filter height FH, width FW and count N,
// stride 1 and 'same' padding, so all maps stay 32x32; the paper says each layer has ReLU
// and BN, here conv (no bias) -> BN -> ReLU. The skip connections are not residual: a layer
// concatenates (along channels) the outputs of all its input layers; the first layer sees the
// image. The classifier takes the outputs no later layer consumes (here only layer 15's),
// global-average-pools them and applies one linear layer.
//
// What could and could not be checked (no copy of the figure was at hand; models-spec.md
// section 2.22 transcribes it from the Chainer reimplementation):
//  * FH, FW and N per layer come from that transcription; they give 4,119,228 convolution
//    weights, 1.9% under the paper's rounded "4.2M" (the paper does not say what it counted);
//  * the input sets below are the transcription's skip matrix, in which every layer also
//    takes the previous layer (the reimplementation wires i-1 -> i unconditionally); whether
//    the figure draws all those consecutive edges was not verified;
//  * the reimplementation's valid (unpadded) convolutions, which shrink the maps and force a
//    bottom/right zero padding at every concatenation, and its Conv -> ReLU -> BN order and
//    BN + ReLU on the logits are not followed: the paper's network keeps 32x32 with no strides
//    or pooling, and its logits are linear.
// He (fan-out) initialisation. About 4.2G multiply-adds per image (every weight is applied at
// all 1024 positions).
// Parameters (10 classes): 4,120,990 = 4,119,228 conv + 1,272 BN + 490 linear.
// width_scale (not the paper's) multiplies every N, for the one-epoch training check.
#include "cnnzoo/models/nas_cifar.hpp"

#include "cnnzoo/nn/init.hpp"
#include "cnnzoo/nn/layers.hpp"
#include "cnnzoo/ops/activation.hpp"
#include "cnnzoo/ops/pool.hpp"
#include "cnnzoo/ops/shape.hpp"
#include "models/paper.hpp"
#include "models/papers.hpp"

namespace cnnzoo::models {

namespace {

using namespace cnnzoo::nn;

struct LayerSpec {
  int64_t filter_height, filter_width, num_filters;
  std::vector<int> inputs;  // 1-based layer numbers; 0 is the image
};

// Figure 7, bottom to top.
const std::vector<LayerSpec>& figure7() {
  static const std::vector<LayerSpec> layers = {
      {3, 3, 36, {0}},                             // 1
      {3, 3, 48, {1}},                             // 2
      {3, 3, 36, {1, 2}},                          // 3
      {5, 5, 36, {1, 2, 3}},                       // 4
      {3, 7, 48, {3, 4}},                          // 5
      {7, 7, 48, {2, 3, 4, 5}},                    // 6
      {7, 7, 48, {2, 3, 4, 5, 6}},                 // 7
      {7, 3, 36, {1, 6, 7}},                       // 8
      {7, 1, 36, {1, 5, 6, 8}},                    // 9
      {7, 7, 36, {1, 3, 4, 5, 6, 7, 8, 9}},        // 10
      {5, 7, 36, {1, 2, 5, 6, 7, 8, 9, 10}},       // 11
      {7, 7, 48, {1, 2, 3, 4, 6, 11}},             // 12
      {7, 5, 48, {1, 3, 6, 7, 8, 9, 10, 11, 12}},  // 13
      {7, 5, 48, {3, 7, 12, 13}},                  // 14
      {7, 5, 48, {7, 11, 12, 13, 14}},             // 15
  };
  return layers;
}

// conv FHxFW (stride 1, 'same') -> BN -> ReLU.
class SearchedLayer : public Module {
 public:
  // out: the layer's N, or N times the width_scale option.
  SearchedLayer(int64_t in, int64_t out, const LayerSpec& s) {
    conv = register_module(
        "conv", std::make_shared<Conv2d>(
                    Conv2dOptions(in, out, Size2(s.filter_height, s.filter_width))
                        .padding(Padding2d((s.filter_height - 1) / 2, (s.filter_width - 1) / 2))
                        .bias(false)));
    bn = register_module("bn", std::make_shared<BatchNorm2d>(out));
  }
  Var forward(const Var& x) override { return nn::conv_bn_relu(*conv, *bn, x); }
  std::string type_name() const override { return "SearchedLayer"; }
  std::shared_ptr<Conv2d> conv;
  std::shared_ptr<BatchNorm2d> bn;
};

class NASNetworkA : public Module {
 public:
  NASNetworkA(int64_t in_channels, int64_t num_classes, double width_scale) : spec_(figure7()) {
    std::vector<int64_t> width = {in_channels};  // width[l]: channels out of layer l (0: image)
    std::vector<bool> consumed(spec_.size() + 1, false);
    for (size_t l = 1; l <= spec_.size(); ++l) {
      int64_t in = 0;
      for (int j : spec_[l - 1].inputs) {
        check(j >= 0 && static_cast<size_t>(j) < l, "nas-cifar: bad input table");
        in += width[j];
        consumed[j] = true;
      }
      const int64_t out = scale_width(spec_[l - 1].num_filters, width_scale);
      layers_.push_back(register_module("layer" + std::to_string(l),
                                        std::make_shared<SearchedLayer>(in, out, spec_[l - 1])));
      width.push_back(out);
    }
    int64_t features = 0;
    for (size_t l = 1; l <= spec_.size(); ++l)
      if (!consumed[l]) {
        outputs_.push_back(static_cast<int>(l));
        features += width[l];
      }
    fc = register_module("fc", std::make_shared<Linear>(features, num_classes));
    init::kaiming_normal<Conv2d>(*this, init::FanMode::FanOut, "relu", init::Bias::Keep);
  }

  Var forward(const Var& x) override {
    std::vector<Var> out = {x};
    for (size_t l = 1; l <= spec_.size(); ++l)
      out.push_back(layers_[l - 1]->forward(gather(out, spec_[l - 1].inputs)));
    return fc->forward(flatten(global_avg_pool2d(gather(out, outputs_))));
  }
  std::string type_name() const override { return "NASNetworkA"; }

  std::shared_ptr<Linear> fc;

 private:
  static Var gather(const std::vector<Var>& out, const std::vector<int>& which) {
    if (which.size() == 1) return out[which[0]];
    std::vector<Var> xs;
    for (int j : which) xs.push_back(out[j]);
    return concat(xs);
  }
  const std::vector<LayerSpec>& spec_;
  std::vector<std::shared_ptr<SearchedLayer>> layers_;
  std::vector<int> outputs_;  // layers whose output feeds the classifier
};

}  // namespace

nn::ModulePtr build_nas_cifar(const ModelSpec& spec, const NASCifarConfig& config) {
  return std::make_shared<NASNetworkA>(spec.in_channels, spec.num_classes, config.width_scale);
}

std::vector<ModelInfo> nas_cifar_models() {
  using C = NASCifarConfig;
  const auto options =
      Options<C>().real("width_scale", &C::width_scale, 0.01, 16.0, "every layer's filters");
  return {model_row(Paper{"Neural Architecture Search with Reinforcement Learning", "Zoph and Le",
                          2016, "1611.01578", "nas_cifar"},
                    "nas-cifar", cifar_input(), "5.50", options, C{}, build_nas_cifar)};
}

}  // namespace cnnzoo::models
