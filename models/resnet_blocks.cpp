// Shared residual building blocks (He et al. 2015, arXiv 1512.03385).
#include "cnnzoo/models/resnet_blocks.hpp"

#include "cnnzoo/nn/init.hpp"
#include "cnnzoo/ops/activation.hpp"
#include "cnnzoo/ops/arith.hpp"
#include "cnnzoo/ops/pool.hpp"
#include "cnnzoo/ops/shape.hpp"

namespace cnnzoo::models {

// ---- shortcuts ---------------------------------------------------------------------------

ZeroPadShortcut::ZeroPadShortcut(int64_t in_channels, int64_t out_channels, int64_t stride,
                                 Subsample subsample)
    : in_channels(in_channels), out_channels(out_channels), stride(stride), subsample(subsample) {
  check(out_channels >= in_channels && stride >= 1,
        "ZeroPadShortcut: needs out_channels >= in_channels and stride >= 1");
}

Var ZeroPadShortcut::forward(const Var& x) {
  check(x.dim() == 4 && x.size(1) == in_channels, "ZeroPadShortcut: expected [N, " +
                                                      std::to_string(in_channels) +
                                                      ", H, W], got " + shape_str(x.shape()));
  Var y = x;
  if (stride > 1) {
    Pool2dOptions o;
    o.kernel_size = subsample == Subsample::Pick ? Size2(1) : Size2(stride);
    o.stride = stride;
    y = avg_pool2d(y, o);
  }
  if (out_channels > in_channels) y = pad_channels(y, 0, out_channels - in_channels);
  return y;
}

std::string ZeroPadShortcut::extra_repr() const {
  return std::to_string(in_channels) + ", " + std::to_string(out_channels) +
         ", stride=" + std::to_string(stride) +
         (subsample == Subsample::Pick ? ", subsample" : ", avg_pool");
}

std::shared_ptr<nn::Sequential> projection_shortcut(int64_t in_channels, int64_t out_channels,
                                                    int64_t stride) {
  auto s = std::make_shared<nn::Sequential>();
  s->push_back(conv1x1(in_channels, out_channels, stride));
  s->push_back(std::make_shared<nn::BatchNorm2d>(out_channels));
  return s;
}

nn::ModulePtr make_shortcut(ShortcutType type, int64_t in_channels, int64_t out_channels,
                            int64_t stride) {
  bool changes = stride != 1 || in_channels != out_channels;
  if (type == ShortcutType::C || (type == ShortcutType::B && changes))
    return projection_shortcut(in_channels, out_channels, stride);
  if (type == ShortcutType::A && changes)
    return std::make_shared<ZeroPadShortcut>(in_channels, out_channels, stride);
  return nullptr;
}

// ---- BasicBlock --------------------------------------------------------------------------

BasicBlock::BasicBlock(int64_t in_channels, int64_t out_channels, int64_t stride,
                       nn::ModulePtr downsample_)
    : downsample(std::move(downsample_)) {
  check(downsample || (stride == 1 && in_channels == out_channels),
        "BasicBlock: a block that changes shape needs a shortcut module");
  conv1 = register_module("conv1", conv3x3(in_channels, out_channels, stride));
  bn1 = register_module("bn1", std::make_shared<nn::BatchNorm2d>(out_channels));
  conv2 = register_module("conv2", conv3x3(out_channels, out_channels));
  bn2 = register_module("bn2", std::make_shared<nn::BatchNorm2d>(out_channels));
  if (downsample) register_module("downsample", downsample);
}

Var BasicBlock::residual(const Var& x) {
  return nn::conv_bn(*conv2, *bn2, nn::conv_bn_relu(*conv1, *bn1, x));
}

Var BasicBlock::shortcut(const Var& x) {
  return downsample ? downsample->forward(x) : x;
}

Var BasicBlock::forward(const Var& x) {
  return relu(add(residual(x), shortcut(x)));
}

// ---- stages and the CIFAR body -----------------------------------------------------------

std::shared_ptr<nn::Sequential> make_stage(int64_t in_channels, int64_t out_channels, int64_t n,
                                           int64_t stride, int64_t first_index,
                                           const BlockFactory& block) {
  auto stage = std::make_shared<nn::Sequential>();
  for (int64_t i = 0; i < n; ++i)
    stage->push_back(block(i == 0 ? in_channels : out_channels, out_channels, i == 0 ? stride : 1,
                           first_index + i));
  return stage;
}

CifarResNet::CifarResNet(int64_t in_channels, std::array<int64_t, 3> w, int64_t n,
                         int64_t num_classes, const BlockFactory& block) {
  conv1 = register_module("conv1", conv3x3(in_channels, w[0]));
  bn1 = register_module("bn1", std::make_shared<nn::BatchNorm2d>(w[0]));
  layer1 = register_module("layer1", make_stage(w[0], w[0], n, 1, 1, block));
  layer2 = register_module("layer2", make_stage(w[0], w[1], n, 2, n + 1, block));
  layer3 = register_module("layer3", make_stage(w[1], w[2], n, 2, 2 * n + 1, block));
  fc = register_module("fc", std::make_shared<nn::Linear>(w[2], num_classes));
  init_he(*this);
}

Var CifarResNet::forward(const Var& x) {
  Var h = nn::conv_bn_relu(*conv1, *bn1, x);
  h = layer3->forward(layer2->forward(layer1->forward(h)));
  return fc->forward(global_pool(h));
}

// ---- helpers -----------------------------------------------------------------------------

void init_he(nn::Module& model) {
  nn::init::kaiming_normal<nn::Conv2d>(model, nn::init::FanMode::FanOut);
  nn::init::batchnorm(model);
}

Var global_pool(const Var& x) {
  return flatten(global_avg_pool2d(x));
}

int64_t blocks_per_stage(const ModelSpec& spec, int64_t depth, int64_t layers_per_block,
                         int64_t extra_layers) {
  int64_t per_stage = 3 * layers_per_block;
  check(depth > extra_layers && (depth - extra_layers) % per_stage == 0,
        spec.name + ": depth=" + std::to_string(depth) + " is not of the form " +
            std::to_string(per_stage) + "n+" + std::to_string(extra_layers));
  return (depth - extra_layers) / per_stage;
}

}  // namespace cnnzoo::models
