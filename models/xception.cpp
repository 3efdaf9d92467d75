// Xception: Chollet, "Xception: Deep Learning with Depthwise Separable Convolutions" (2016,
// arXiv:1610.02357).
//
// Figure 5 of the paper (36 convolutional layers in 14 modules, all but the first and last
// with linear residual connections):
//   entry flow   3x3/2 conv 32 V, 3x3 conv 64 V (ReLU after each)
//                block 1: SepConv 128, ReLU, SepConv 128, 3x3/2 max pool  + 1x1/2 conv 128
//                block 2: ReLU, SepConv 256, ReLU, SepConv 256, max pool  + 1x1/2 conv 256
//                block 3: ReLU, SepConv 728, ReLU, SepConv 728, max pool  + 1x1/2 conv 728
//   middle flow  8 x [ReLU, SepConv 728] x 3 + identity                    (19x19x728)
//   exit flow    ReLU, SepConv 728, ReLU, SepConv 1024, max pool + 1x1/2 conv 1024
//                SepConv 1536, ReLU, SepConv 2048, ReLU, global average pool
//   head         dropout 0.5 (the paper's ImageNet setting), fc (no hidden fc layers)
// A separable convolution is a 3x3 depthwise convolution (groups = channels) followed by a
// 1x1 pointwise convolution with no nonlinearity and no BN between them (Section 4: the
// absence of an intermediate activation trained best); batch normalisation follows every
// convolution and every separable convolution (Section 4.1), none has a bias. Block 1 has no
// ReLU before its first SepConv because the stem's conv already ends in one. The 1x1/2
// shortcut convolutions are followed by BN. Padding: "V" convs are unpadded (299 -> 149 ->
// 147), separable convolutions and the 3x3/2 max pools pad by 1 (147 -> 74 -> 37 -> 19 ->
// 10), matching the Keras reference's shapes.
// Initialisation: He (fan-out) for the regular and pointwise convolutions; He fan-in for the
// depthwise ones, whose fan-in (9 taps) is the true number of inputs per output (fan-out of
// a depthwise weight would count all C channels and start it ~C times too small).
//
// xception-cifar (32x32, spec section 2.20(b)): the entry flow's downsampling is there to
// take 299x299 to 19x19 before the middle flow. On CIFAR the first conv has stride 1, both
// stem convs pad by 1 (32x32 kept), and entry block 1 runs at stride 1 (no max pool, its
// shortcut a 1x1/1 conv since the width still changes 64 -> 128). Blocks 2 and 3 halve the
// grid, so the middle flow runs at 8x8 and the exit flow ends at 4x4. Every layer keeps its
// width, so only the classifier's size differs from the ImageNet network.
//
// Parameters: xception 22,855,952 for 1000 classes, exactly the paper's Table 3;
// xception-cifar 20,827,442 for 10 classes. Its width_scale option (not the paper's)
// multiplies every width, for the one-epoch training check.
#include "cnnzoo/models/xception.hpp"

#include "cnnzoo/nn/init.hpp"
#include "cnnzoo/nn/layers.hpp"
#include "cnnzoo/ops/activation.hpp"
#include "cnnzoo/ops/arith.hpp"
#include "cnnzoo/ops/pool.hpp"
#include "cnnzoo/ops/shape.hpp"
#include "models/paper.hpp"
#include "models/papers.hpp"

namespace cnnzoo::models {

SeparableConv2d::SeparableConv2d(int64_t in_channels, int64_t out_channels) {
  depthwise = register_module("depthwise", nn::conv3x3(in_channels, in_channels, 1, in_channels));
  pointwise = register_module("pointwise", nn::conv1x1(in_channels, out_channels));
}

Var SeparableConv2d::forward(const Var& x) {
  return pointwise->forward(depthwise->forward(x));
}

namespace {

using namespace cnnzoo::nn;

// [ReLU] -> SepConv -> BN: one unit of the figure.
class SepConvBN : public Module {
 public:
  SepConvBN(int64_t in, int64_t out, bool relu_first) : relu_first_(relu_first) {
    sepconv = register_module("sepconv", std::make_shared<SeparableConv2d>(in, out));
    bn = register_module("bn", std::make_shared<BatchNorm2d>(out));
  }
  Var forward(const Var& x) override {
    return bn->forward(sepconv->forward(relu_first_ ? relu(x) : x));
  }
  std::string type_name() const override { return "SepConvBN"; }
  std::shared_ptr<SeparableConv2d> sepconv;
  std::shared_ptr<BatchNorm2d> bn;

 private:
  bool relu_first_;
};

// Residual module: a chain of SepConvBN units (+ 3x3/2 max pool when strided) added to the
// input, or to a 1x1 conv + BN projection of it when the shape changes.
class Block : public Module {
 public:
  Block(int64_t in, const std::vector<int64_t>& widths, int64_t stride, bool relu_first) {
    residual = register_module("residual", std::make_shared<Sequential>());
    int64_t c = in;
    for (size_t i = 0; i < widths.size(); ++i) {
      residual->push_back(std::make_shared<SepConvBN>(c, widths[i], i > 0 || relu_first));
      c = widths[i];
    }
    if (stride != 1) residual->push_back(std::make_shared<MaxPool2d>(3, stride, 1));
    if (stride != 1 || c != in) {
      shortcut = register_module("shortcut", std::make_shared<Sequential>());
      shortcut->push_back(conv1x1(in, c, stride));
      shortcut->push_back(std::make_shared<BatchNorm2d>(c));
    }
  }
  Var forward(const Var& x) override {
    return add(residual->forward(x), shortcut ? shortcut->forward(x) : x);
  }
  std::string type_name() const override { return "Block"; }
  std::shared_ptr<Sequential> residual, shortcut;
};

class Xception : public Module {
 public:
  Xception(int64_t in_channels, int64_t num_classes, bool cifar, double drop_rate,
           double width_scale) {
    auto w = [width_scale](int64_t c) { return scale_width(c, width_scale); };
    // Entry flow.
    const int64_t stem_stride = cifar ? 1 : 2, stem_pad = cifar ? 1 : 0;
    conv1 = register_module("conv1", std::make_shared<Conv2d>(Conv2dOptions(in_channels, w(32), 3)
                                                                  .stride(stem_stride)
                                                                  .padding(stem_pad)
                                                                  .bias(false)));
    bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(w(32)));
    conv2 = register_module(
        "conv2",
        std::make_shared<Conv2d>(Conv2dOptions(w(32), w(64), 3).padding(stem_pad).bias(false)));
    bn2 = register_module("bn2", std::make_shared<BatchNorm2d>(w(64)));
    blocks = register_module("blocks", std::make_shared<Sequential>());
    int64_t c = w(64);
    auto block = [&](std::vector<int64_t> widths, int64_t stride, bool relu_first) {
      for (int64_t& width : widths) width = w(width);
      blocks->push_back(std::make_shared<Block>(c, widths, stride, relu_first));
      c = widths.back();
    };
    block({128, 128}, cifar ? 1 : 2, /*relu_first=*/false);
    block({256, 256}, 2, true);
    block({728, 728}, 2, true);
    // Middle flow.
    for (int i = 0; i < 8; ++i) block({728, 728, 728}, 1, true);
    // Exit flow.
    block({728, 1024}, 2, true);
    conv3 = register_module("conv3", std::make_shared<SepConvBN>(c, w(1536), false));
    conv4 = register_module("conv4", std::make_shared<SepConvBN>(w(1536), w(2048), false));
    dropout = register_module("dropout", std::make_shared<Dropout>(drop_rate));
    fc = register_module("fc", std::make_shared<Linear>(w(2048), num_classes));
    // A depthwise conv's fan-out is its kernel area alone: it takes fan-in instead.
    init::for_each<Conv2d>(*this, [](Conv2d& c) {
      const bool depthwise = c.options.groups == c.in_channels && c.in_channels > 1;
      init::kaiming_normal(c.weight.value(),
                           depthwise ? init::FanMode::FanIn : init::FanMode::FanOut);
    });
  }
  Var forward(const Var& x) override {
    Var h = nn::conv_bn_relu(*conv1, *bn1, x);
    h = nn::conv_bn_relu(*conv2, *bn2, h);
    h = blocks->forward(h);
    h = relu(conv3->forward(h));
    h = relu(conv4->forward(h));
    return fc->forward(dropout->forward(flatten(global_avg_pool2d(h))));
  }
  std::string type_name() const override { return "Xception"; }

  std::shared_ptr<Conv2d> conv1, conv2;
  std::shared_ptr<BatchNorm2d> bn1, bn2;
  std::shared_ptr<Sequential> blocks;
  std::shared_ptr<SepConvBN> conv3, conv4;
  std::shared_ptr<Dropout> dropout;
  std::shared_ptr<Linear> fc;
};

}  // namespace

nn::ModulePtr build_xception(const ModelSpec& spec, const XceptionConfig& c) {
  return std::make_shared<Xception>(spec.in_channels, spec.num_classes, c.cifar_stem, c.drop_rate,
                                    c.width_scale);
}

std::vector<ModelInfo> xception_models() {
  using C = XceptionConfig;
  const Paper paper{"Xception: Deep Learning with Depthwise Separable Convolutions", "Chollet",
                    2016, "1610.02357", "xception"};
  auto options = Options<C>().real("drop_rate", &C::drop_rate, 0.0, 0.99, "dropout before the fc");
  const auto imagenet_options = options;
  options.real("width_scale", &C::width_scale, 0.01, 16.0, "every width (not the paper's)");
  return {
      model_row(paper, "xception", imagenet_input(299), "", imagenet_options, C{}, build_xception),
      model_row(paper, "xception-cifar", cifar_input(), "", options, C{true, 0.5, 1.0},
                build_xception)};
}

}  // namespace cnnzoo::models
