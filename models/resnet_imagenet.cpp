// ImageNet ResNets as torchvision builds them: He et al., "Deep Residual Learning for Image
// Recognition" (2015, arXiv:1512.03385), and the two variants torchvision builds from the same
// bottleneck block: wide ResNet-50-2 (Zagoruyko & Komodakis, arXiv:1605.07146) and ResNeXt
// (Xie et al., arXiv:1611.05431). One file for all three because they share the block.
//
// Paper Table 1: 7x7/2 conv 64, 3x3/2 max pool, four stages conv2_x..conv5_x of 64, 128, 256,
// 512 planes (x4 channels out of a bottleneck), global average pool, fc. Shortcuts are the
// paper's option B: identity, and a 1x1 projection (+BN) where the shape changes. The stride
// of a downsampling block sits on its 3x3 convolution (torchvision's "ResNet v1.5"; the paper
// puts it on the first 1x1 of a bottleneck), which is also where ResNeXt puts it.
//  * wide_resnet50_2: the bottleneck's inner 1x1/3x3 width doubled (widening factor 2).
//  * resnext50_32x4d / resnext101_32x8d: cardinality 32 grouped 3x3 convolution, bottleneck
//    width 4 / 8 per group (inner width = planes / 64 * bottleneck width * cardinality).
// Parameters (torchvision's, to the element): resnet18 11,689,512; resnet34 21,797,672;
// resnet50 25,557,032; resnet101 44,549,160; resnet152 60,192,808; wide_resnet50_2 68,883,240;
// resnext50_32x4d 25,028,904; resnext101_32x8d 88,791,336.
#include "cnnzoo/models/resnet_imagenet.hpp"

#include "cnnzoo/models/resnet_blocks.hpp"

#include "cnnzoo/nn/init.hpp"
#include "cnnzoo/nn/layers.hpp"
#include "cnnzoo/ops/activation.hpp"
#include "cnnzoo/ops/arith.hpp"
#include "cnnzoo/ops/shape.hpp"
#include "models/paper.hpp"
#include "models/papers.hpp"

namespace cnnzoo::models::imagenet {

namespace {

using namespace cnnzoo::nn;

struct Config {
  bool bottleneck;
  std::vector<int64_t> blocks;  // blocks per stage
  int64_t cardinality = 1;
  int64_t bottleneck_width = 64;  // channels per group of the 3x3 at 64 planes
};

// Residual block base: the last BN of the residual branch (zero_init_residual) and the
// shortcut.
class Block : public Module {
 public:
  virtual std::shared_ptr<BatchNorm2d> last_bn() const = 0;
};

// Two 3x3 convolutions (resnet18/34).
class BasicBlock : public Block {
 public:
  static constexpr int64_t expansion = 1;
  BasicBlock(int64_t in, int64_t planes, int64_t stride, std::shared_ptr<Sequential> downsample) {
    conv1 = register_module("conv1", conv3x3(in, planes, stride));
    bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(planes));
    relu = register_module("relu", std::make_shared<ReLU>());
    conv2 = register_module("conv2", conv3x3(planes, planes));
    bn2 = register_module("bn2", std::make_shared<BatchNorm2d>(planes));
    if (downsample) this->downsample = register_module("downsample", std::move(downsample));
  }
  Var forward(const Var& x) override {
    Var out = relu->forward(nn::conv_bn(*conv1, *bn1, x));
    out = nn::conv_bn(*conv2, *bn2, out);
    return relu->forward(add(out, downsample ? downsample->forward(x) : x));
  }
  std::shared_ptr<BatchNorm2d> last_bn() const override { return bn2; }
  std::string type_name() const override { return "BasicBlock"; }
  std::shared_ptr<Conv2d> conv1, conv2;
  std::shared_ptr<BatchNorm2d> bn1, bn2;
  std::shared_ptr<ReLU> relu;
  std::shared_ptr<Sequential> downsample;
};

// 1x1 reduce -> 3x3 (strided, grouped for ResNeXt) -> 1x1 expand x4.
class Bottleneck : public Block {
 public:
  static constexpr int64_t expansion = 4;
  Bottleneck(int64_t in, int64_t planes, int64_t stride, std::shared_ptr<Sequential> downsample,
             int64_t cardinality, int64_t bottleneck_width) {
    int64_t width = planes * bottleneck_width / 64 * cardinality;
    conv1 = register_module("conv1", conv1x1(in, width));
    bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(width));
    conv2 = register_module("conv2", conv3x3(width, width, stride, cardinality));
    bn2 = register_module("bn2", std::make_shared<BatchNorm2d>(width));
    conv3 = register_module("conv3", conv1x1(width, planes * expansion));
    bn3 = register_module("bn3", std::make_shared<BatchNorm2d>(planes * expansion));
    relu = register_module("relu", std::make_shared<ReLU>());
    if (downsample) this->downsample = register_module("downsample", std::move(downsample));
  }
  Var forward(const Var& x) override {
    Var out = relu->forward(nn::conv_bn(*conv1, *bn1, x));
    out = relu->forward(nn::conv_bn(*conv2, *bn2, out));
    out = nn::conv_bn(*conv3, *bn3, out);
    return relu->forward(add(out, downsample ? downsample->forward(x) : x));
  }
  std::shared_ptr<BatchNorm2d> last_bn() const override { return bn3; }
  std::string type_name() const override { return "Bottleneck"; }
  std::shared_ptr<Conv2d> conv1, conv2, conv3;
  std::shared_ptr<BatchNorm2d> bn1, bn2, bn3;
  std::shared_ptr<ReLU> relu;
  std::shared_ptr<Sequential> downsample;
};

class ResNet : public Module {
 public:
  ResNet(const Config& config, int64_t in_channels, int64_t num_classes, bool zero_init_residual)
      : config_(config) {
    conv1 = register_module(
        "conv1", std::make_shared<Conv2d>(
                     Conv2dOptions(in_channels, 64, 7).stride(2).padding(3).bias(false)));
    bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(64));
    relu = register_module("relu", std::make_shared<ReLU>());
    maxpool = register_module("maxpool", std::make_shared<MaxPool2d>(3, 2, 1));
    const int64_t planes[] = {64, 128, 256, 512};
    for (int i = 0; i < 4; ++i)
      layers[i] = register_module("layer" + std::to_string(i + 1),
                                  stage(planes[i], config.blocks[i], i == 0 ? 1 : 2));
    avgpool = register_module("avgpool", std::make_shared<AdaptiveAvgPool2d>(1));
    fc = register_module("fc", std::make_shared<Linear>(inplanes_, num_classes));
    // He initialisation (fan-out, as torchvision and fb.resnet.torch); fc keeps PyTorch's
    // default; BN gamma 1, beta 0 (or gamma 0 on each branch's last BN, Goyal et al. 2017).
    init::kaiming_normal<Conv2d>(*this, init::FanMode::FanOut, "relu", init::Bias::Keep);
    if (zero_init_residual)
      apply([](Module& m) {
        if (auto* b = dynamic_cast<Block*>(&m)) b->last_bn()->weight.value().zero();
      });
  }

  Var forward(const Var& x) override {
    Var h = maxpool->forward(relu->forward(nn::conv_bn(*conv1, *bn1, x)));
    for (auto& layer : layers) h = layer->forward(h);
    return fc->forward(flatten(avgpool->forward(h)));
  }
  std::string type_name() const override { return "ResNet"; }

  std::shared_ptr<Conv2d> conv1;
  std::shared_ptr<BatchNorm2d> bn1;
  std::shared_ptr<ReLU> relu;
  std::shared_ptr<MaxPool2d> maxpool;
  std::shared_ptr<Sequential> layers[4];
  std::shared_ptr<AdaptiveAvgPool2d> avgpool;
  std::shared_ptr<Linear> fc;

 private:
  // One stage (conv2_x..conv5_x): the first block changes stride/width, the rest repeat.
  std::shared_ptr<Sequential> stage(int64_t planes, int64_t blocks, int64_t stride) {
    auto seq = std::make_shared<Sequential>();
    int64_t expansion = config_.bottleneck ? Bottleneck::expansion : BasicBlock::expansion;
    for (int64_t b = 0; b < blocks; ++b) {
      int64_t s = b == 0 ? stride : 1;
      std::shared_ptr<Sequential> down;
      if (s != 1 || inplanes_ != planes * expansion)
        down = projection_shortcut(inplanes_, planes * expansion, s);  // option B
      if (config_.bottleneck)
        seq->push_back(std::make_shared<Bottleneck>(inplanes_, planes, s, down, config_.cardinality,
                                                    config_.bottleneck_width));
      else
        seq->push_back(std::make_shared<BasicBlock>(inplanes_, planes, s, down));
      inplanes_ = planes * expansion;
    }
    return seq;
  }

  Config config_;
  int64_t inplanes_ = 64;
};

Config config_of(const std::string& name) {
  if (name == "resnet18") return {false, {2, 2, 2, 2}};
  if (name == "resnet34") return {false, {3, 4, 6, 3}};
  if (name == "resnet50") return {true, {3, 4, 6, 3}};
  if (name == "resnet101") return {true, {3, 4, 23, 3}};
  if (name == "resnet152") return {true, {3, 8, 36, 3}};
  if (name == "wide_resnet50_2") return {true, {3, 4, 6, 3}, 1, 64 * 2};
  if (name == "resnext50_32x4d") return {true, {3, 4, 6, 3}, 32, 4};
  if (name == "resnext101_32x8d") return {true, {3, 4, 23, 3}, 32, 8};
  throw Error("resnet: unknown configuration '" + name + "'");
}

}  // namespace

nn::ModulePtr build_resnet(const ModelSpec& spec, const ResNetConfig& config) {
  return std::make_shared<ResNet>(config_of(spec.name), spec.in_channels, spec.num_classes,
                                  config.zero_init_residual);
}

}  // namespace cnnzoo::models::imagenet

namespace cnnzoo::models {

std::vector<ModelInfo> resnet_imagenet_models() {
  using C = imagenet::ResNetConfig;
  const auto options = Options<C>().flag("zero_init_residual", &C::zero_init_residual,
                                         "each block's last BN scale starts at 0");
  const Paper he{"Deep Residual Learning for Image Recognition", "He et al.", 2015, "1512.03385",
                 "resnet_imagenet"};
  const Paper wide{"Wide Residual Networks", "Zagoruyko and Komodakis", 2016, "1605.07146",
                   "resnet_imagenet"};
  const Paper xie{"Aggregated Residual Transformations for Deep Neural Networks", "Xie et al.",
                  2016, "1611.05431", "resnet_imagenet"};
  std::vector<ModelInfo> rows;
  for (const auto& [paper, name] :
       std::vector<std::pair<Paper, const char*>>{{he, "resnet18"},
                                                  {he, "resnet34"},
                                                  {he, "resnet50"},
                                                  {he, "resnet101"},
                                                  {he, "resnet152"},
                                                  {wide, "wide_resnet50_2"},
                                                  {xie, "resnext50_32x4d"},
                                                  {xie, "resnext101_32x8d"}})
    rows.push_back(
        model_row(paper, name, imagenet_input(), "", options, C{}, imagenet::build_resnet));
  return rows;
}

}  // namespace cnnzoo::models
