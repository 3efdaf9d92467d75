// SE-ResNet: Hu, Shen & Sun, "Squeeze-and-Excitation Networks" (2017, arXiv:1709.01507).
//
// SE-ResNet-50 of the paper's Table 1: ResNet-50 (7x7/2 conv 64, 3x3/2 max pool, bottleneck
// stages of 3/4/6/3 blocks at 64/128/256/512 planes x 4, global average pool, fc) with a
// squeeze-and-excitation block on the residual branch of every bottleneck, before the
// addition (Figure 3):
//   s = sigmoid(fc2(ReLU(fc1(global_avg_pool(u))))),  fc1: C -> C/r, fc2: C/r -> C,
//   out = ReLU(u * s + shortcut(x)),  reduction ratio r = 16 (option se_reduction).
// The SE fcs have biases, as in the authors' released models. Shortcuts are identity or a
// 1x1 projection + BN where the shape changes (ResNet option B). The downsampling stride
// sits on the first 1x1 convolution of the block, where the paper's ResNet and the authors'
// released SE-ResNet-50 put it (torchvision's "v1.5" moves it to the 3x3; same parameters).
// He initialisation (fan-out) for convolutions; BN 1/0; fcs keep the default.
// Parameters: ResNet-50's 25,557,032 plus 2 * C * C/r + C/r + C per block,
// i.e. 3 x 8,464 + 4 x 33,312 + 6 x 132,160 + 3 x 526,464 = 2,530,992, giving 28,088,024
// for 1000 classes and r = 16: the ~28.1M quoted for SE-ResNet-50 (the paper's Section 4:
// ~2.5M on top of ResNet-50's ~25M, a ~10% increase).
#include "cnnzoo/models/se_resnet.hpp"

#include "cnnzoo/nn/init.hpp"
#include "cnnzoo/nn/layers.hpp"
#include "cnnzoo/ops/activation.hpp"
#include "cnnzoo/ops/arith.hpp"
#include "cnnzoo/ops/pool.hpp"
#include "cnnzoo/ops/shape.hpp"
#include "models/paper.hpp"
#include "models/papers.hpp"

namespace cnnzoo::models {

namespace {

using namespace cnnzoo::nn;

// Squeeze (global average pool) and excitation (bottleneck of two fcs, sigmoid gate), then
// channel-wise rescaling of the input.
class SEModule : public Module {
 public:
  SEModule(int64_t channels, int64_t reduction) {
    check(reduction >= 1 && channels % reduction == 0,
          "se_reduction must divide the channel count " + std::to_string(channels));
    fc1 = register_module("fc1", std::make_shared<Linear>(channels, channels / reduction));
    fc2 = register_module("fc2", std::make_shared<Linear>(channels / reduction, channels));
  }
  Var forward(const Var& u) override {
    Var s = flatten(global_avg_pool2d(u));
    s = sigmoid(fc2->forward(relu(fc1->forward(s))));
    return mul_channel(u, s);
  }
  std::string type_name() const override { return "SEModule"; }
  std::shared_ptr<Linear> fc1, fc2;
};

class SEBottleneck : public Module {
 public:
  static constexpr int64_t expansion = 4;
  SEBottleneck(int64_t in, int64_t planes, int64_t stride, int64_t reduction) {
    const int64_t out = planes * expansion;
    conv1 = register_module("conv1", conv1x1(in, planes, stride));
    bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(planes));
    conv2 = register_module("conv2", conv3x3(planes, planes));
    bn2 = register_module("bn2", std::make_shared<BatchNorm2d>(planes));
    conv3 = register_module("conv3", conv1x1(planes, out));
    bn3 = register_module("bn3", std::make_shared<BatchNorm2d>(out));
    se = register_module("se", std::make_shared<SEModule>(out, reduction));
    if (stride != 1 || in != out) {
      downsample = register_module("downsample", std::make_shared<Sequential>());
      downsample->push_back(conv1x1(in, out, stride));
      downsample->push_back(std::make_shared<BatchNorm2d>(out));
    }
  }
  Var forward(const Var& x) override {
    Var h = nn::conv_bn_relu(*conv1, *bn1, x);
    h = nn::conv_bn_relu(*conv2, *bn2, h);
    h = se->forward(nn::conv_bn(*conv3, *bn3, h));
    return relu(add(h, downsample ? downsample->forward(x) : x));
  }
  std::string type_name() const override { return "SEBottleneck"; }
  std::shared_ptr<Conv2d> conv1, conv2, conv3;
  std::shared_ptr<BatchNorm2d> bn1, bn2, bn3;
  std::shared_ptr<SEModule> se;
  std::shared_ptr<Sequential> downsample;
};

class SEResNet : public Module {
 public:
  SEResNet(const std::vector<int64_t>& blocks, int64_t in_channels, int64_t num_classes,
           int64_t reduction) {
    conv1 = register_module(
        "conv1", std::make_shared<Conv2d>(
                     Conv2dOptions(in_channels, 64, 7).stride(2).padding(3).bias(false)));
    bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(64));
    maxpool = register_module("maxpool", std::make_shared<MaxPool2d>(3, 2, 1));
    int64_t in = 64;
    for (size_t i = 0; i < blocks.size(); ++i) {
      const int64_t planes = 64 << i;
      auto stage = std::make_shared<Sequential>();
      for (int64_t b = 0; b < blocks[i]; ++b) {
        const int64_t stride = (i > 0 && b == 0) ? 2 : 1;
        stage->push_back(std::make_shared<SEBottleneck>(in, planes, stride, reduction));
        in = planes * SEBottleneck::expansion;
      }
      layers.push_back(register_module("layer" + std::to_string(i + 1), stage));
    }
    fc = register_module("fc", std::make_shared<Linear>(in, num_classes));
    init::kaiming_normal<Conv2d>(*this, init::FanMode::FanOut, "relu", init::Bias::Keep);
  }
  Var forward(const Var& x) override {
    Var h = maxpool->forward(nn::conv_bn_relu(*conv1, *bn1, x));
    for (auto& layer : layers) h = layer->forward(h);
    return fc->forward(flatten(global_avg_pool2d(h)));
  }
  std::string type_name() const override { return "SEResNet"; }

  std::shared_ptr<Conv2d> conv1;
  std::shared_ptr<BatchNorm2d> bn1;
  std::shared_ptr<MaxPool2d> maxpool;
  std::vector<std::shared_ptr<Sequential>> layers;
  std::shared_ptr<Linear> fc;
};

}  // namespace

nn::ModulePtr build_se_resnet(const ModelSpec& spec, const SEResNetConfig& config) {
  return std::make_shared<SEResNet>(std::vector<int64_t>{3, 4, 6, 3}, spec.in_channels,
                                    spec.num_classes, config.se_reduction);
}

std::vector<ModelInfo> se_resnet_models() {
  using C = SEResNetConfig;
  const auto options = Options<C>().integer("se_reduction", &C::se_reduction, 1, 1024, "r");
  return {model_row(
      Paper{"Squeeze-and-Excitation Networks", "Hu et al.", 2017, "1709.01507", "se_resnet"},
      "se-resnet50", imagenet_input(), "", options, C{}, build_se_resnet)};
}

}  // namespace cnnzoo::models
