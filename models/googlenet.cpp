// GoogLeNet (Inception v1) as torchvision builds it: Szegedy et al., "Going Deeper with
// Convolutions" (2014, arXiv:1409.4842), with batch normalisation in every convolution.
//
// The module table (Table 1 of the paper: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool
// proj) and the two auxiliary classifiers on 4a and 4d are the paper's. Where torchvision's
// network differs from the paper, `googlenet` follows torchvision so its weights load key for
// key and give the same logits:
//  * every convolution is conv (no bias) -> BatchNorm (eps 0.001) -> ReLU, and there is no
//    local response normalisation (the BN-era reimplementation);
//  * the "5x5" branch uses a 3x3 convolution (torchvision's long-standing deviation, kept
//    because the pretrained weights have 3x3 kernels there);
//  * max pools use ceil mode as in Caffe, the pool after 4e is 2x2/2, dropout before the
//    classifier is 0.2 (paper 0.4);
//  * the auxiliary heads pool adaptively to 4x4 (paper: 5x5/3 average pool, which gives 4x4
//    at 224x224), then 1x1 conv 128 -> fc 1024 -> ReLU -> dropout 0.7 -> fc classes.
// The auxiliary heads run only in training; the paper weighs their losses 0.3 (the training
// recipe's auxiliary_loss_weight). Parameters: 13,004,888 with the auxiliary heads, 6,624,904
// without (torchvision's numbers; the paper quotes neither).
//
// googlenet-cifar runs the same nine Inception modules on 32x32 images. The ImageNet stem
// (7x7/2 conv, 3x3/2 max pool, 1x1, 3x3, 3x3/2 max pool) shrinks 224 to 28 before 3a; a
// 32x32 image cannot lose a factor of 8 before the first module, so the stem keeps its three
// convolutions but conv1 becomes 3x3 stride 1 and both stem pools go: 3a/3b run at 32x32,
// 4a-4e at 16x16 and 5a/5b at 8x8 after 3x3/2 ceil-mode max pools (the paper's pool, also
// after 4e where torchvision has 2x2). Free of torchvision's weights, the module's 5x5 branch
// is a real 5x5 convolution again and the dropout before the classifier is the paper's 0.4.
// BN stays in every convolution; He (fan-out) initialisation. The auxiliary classifiers are
// off by default (aux_logits=true builds them on 4a and 4d, 16x16 maps pooled to 4x4): they
// were the paper's remedy for vanishing gradients in a 22-layer network without BN, and would
// add 4.4M parameters to a 6M one.
// Parameters (10 classes): googlenet-cifar 5,983,402 (10,333,886 with aux_logits).
// width_scale (not the paper's) multiplies every width of the stem and the modules, for the
// one-epoch training check (bench/train_one_epoch.sh).
#include "cnnzoo/models/googlenet.hpp"

#include "cnnzoo/nn/init.hpp"
#include "cnnzoo/ops/activation.hpp"
#include "cnnzoo/ops/pool.hpp"
#include "cnnzoo/ops/shape.hpp"
#include "models/paper.hpp"
#include "models/papers.hpp"

namespace cnnzoo::models {

namespace {

using nn::ConvBnAct;

std::shared_ptr<ConvBnAct> conv_bn_relu(int64_t in, int64_t out, int64_t kernel, int64_t stride = 1,
                                        int64_t padding = 0) {
  return std::make_shared<ConvBnAct>(
      nn::ConvBnActOptions(in, out, kernel).stride(stride).padding(padding).eps(1e-3));
}

std::shared_ptr<nn::MaxPool2d> ceil_pool(int64_t kernel, int64_t stride, int64_t padding = 0) {
  return std::make_shared<nn::MaxPool2d>(kernel, stride, padding, /*ceil_mode=*/true);
}

}  // namespace

Inception::Inception(int64_t in, int64_t ch1x1, int64_t ch3x3red, int64_t ch3x3, int64_t ch5x5red,
                     int64_t ch5x5, int64_t pool_proj, int64_t kernel5x5)
    : out_channels_(ch1x1 + ch3x3 + ch5x5 + pool_proj) {
  branch1 = register_module("branch1", conv_bn_relu(in, ch1x1, 1));
  branch2 = register_module("branch2", std::make_shared<nn::Sequential>());
  branch2->push_back(conv_bn_relu(in, ch3x3red, 1));
  branch2->push_back(conv_bn_relu(ch3x3red, ch3x3, 3, 1, 1));
  branch3 = register_module("branch3", std::make_shared<nn::Sequential>());
  branch3->push_back(conv_bn_relu(in, ch5x5red, 1));
  branch3->push_back(conv_bn_relu(ch5x5red, ch5x5, kernel5x5, 1, kernel5x5 / 2));
  branch4 = register_module("branch4", std::make_shared<nn::Sequential>());
  branch4->push_back(ceil_pool(3, 1, 1));
  branch4->push_back(conv_bn_relu(in, pool_proj, 1));
}

Var Inception::forward(const Var& x) {
  return concat(std::vector<Var>{branch1->forward(x), branch2->forward(x), branch3->forward(x),
                                 branch4->forward(x)});
}

InceptionAux::InceptionAux(int64_t in, int64_t num_classes, double drop_rate) {
  conv = register_module("conv", conv_bn_relu(in, 128, 1));
  fc1 = register_module("fc1", std::make_shared<nn::Linear>(128 * 4 * 4, 1024));
  fc2 = register_module("fc2", std::make_shared<nn::Linear>(1024, num_classes));
  dropout = register_module("dropout", std::make_shared<nn::Dropout>(drop_rate));
}

Var InceptionAux::forward(const Var& x) {
  Var h = flatten(conv->forward(adaptive_avg_pool2d(x, Size2(4))));
  return fc2->forward(dropout->forward(relu(fc1->forward(h))));
}

GoogLeNet::GoogLeNet(int64_t in_channels, int64_t num_classes, const GoogLeNetConfig& config) {
  const bool cifar = config.cifar_stem;
  auto w = [&config](int64_t c) { return scale_width(c, config.width_scale); };
  if (cifar) {
    conv1 = register_module("conv1", conv_bn_relu(in_channels, w(64), 3, 1, 1));
  } else {  // the paper's stem, without LRN
    conv1 = register_module("conv1", conv_bn_relu(in_channels, 64, 7, 2, 3));
    maxpool1 = register_module("maxpool1", ceil_pool(3, 2));
  }
  conv2 = register_module("conv2", conv_bn_relu(w(64), w(64), 1));
  conv3 = register_module("conv3", conv_bn_relu(w(64), w(192), 3, 1, 1));
  if (!cifar) maxpool2 = register_module("maxpool2", ceil_pool(3, 2));
  // Table 1: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj.
  int64_t c = w(192);
  auto inception = [&](const char* name, int64_t a, int64_t b, int64_t d3, int64_t d, int64_t d5,
                       int64_t f) {
    auto m = register_module(
        name, std::make_shared<Inception>(c, w(a), w(b), w(d3), w(d), w(d5), w(f), cifar ? 5 : 3));
    c = m->out_channels();
    return m;
  };
  inception3a = inception("inception3a", 64, 96, 128, 16, 32, 32);
  inception3b = inception("inception3b", 128, 128, 192, 32, 96, 64);
  maxpool3 = register_module("maxpool3", ceil_pool(3, 2));
  inception4a = inception("inception4a", 192, 96, 208, 16, 48, 64);
  const int64_t aux1_in = c;
  inception4b = inception("inception4b", 160, 112, 224, 24, 64, 64);
  inception4c = inception("inception4c", 128, 128, 256, 24, 64, 64);
  inception4d = inception("inception4d", 112, 144, 288, 32, 64, 64);
  const int64_t aux2_in = c;
  inception4e = inception("inception4e", 256, 160, 320, 32, 128, 128);
  maxpool4 = register_module("maxpool4", cifar ? ceil_pool(3, 2) : ceil_pool(2, 2));
  inception5a = inception("inception5a", 256, 160, 320, 32, 128, 128);
  inception5b = inception("inception5b", 384, 192, 384, 48, 128, 128);
  if (config.aux_logits) {
    aux1 = register_module(
        "aux1", std::make_shared<InceptionAux>(aux1_in, num_classes, config.aux_drop_rate));
    aux2 = register_module(
        "aux2", std::make_shared<InceptionAux>(aux2_in, num_classes, config.aux_drop_rate));
  }
  avgpool = register_module("avgpool", std::make_shared<nn::AdaptiveAvgPool2d>(1));
  dropout = register_module("dropout", std::make_shared<nn::Dropout>(config.drop_rate));
  fc = register_module("fc", std::make_shared<nn::Linear>(c, num_classes));
  if (cifar) {
    nn::init::kaiming_normal<nn::Conv2d>(*this, nn::init::FanMode::FanOut, "relu",
                                         nn::init::Bias::Keep);
  } else {
    // torchvision's: N(0, 0.01) truncated at +-2 (never reached at this standard deviation)
    // for every conv and linear weight; biases keep PyTorch's default.
    nn::init::normal<nn::Conv2d>(*this, 0.0, 0.01, nn::init::Bias::Keep);
    nn::init::normal<nn::Linear>(*this, 0.0, 0.01, nn::init::Bias::Keep);
  }
}

Var GoogLeNet::forward(const Var& x) {
  const bool with_aux = is_training() && aux1;
  if (with_aux) aux_.clear();
  Var h = conv1->forward(x);
  if (maxpool1) h = maxpool1->forward(h);
  h = conv3->forward(conv2->forward(h));
  if (maxpool2) h = maxpool2->forward(h);
  h = maxpool3->forward(inception3b->forward(inception3a->forward(h)));
  h = inception4a->forward(h);
  if (with_aux) aux_.push_back(aux1->forward(h));
  h = inception4d->forward(inception4c->forward(inception4b->forward(h)));
  if (with_aux) aux_.push_back(aux2->forward(h));
  h = maxpool4->forward(inception4e->forward(h));
  h = inception5b->forward(inception5a->forward(h));
  return fc->forward(dropout->forward(flatten(avgpool->forward(h))));
}

std::vector<Var> GoogLeNet::take_auxiliary_logits() {
  std::vector<Var> out;
  out.swap(aux_);
  return out;
}

nn::ModulePtr build_googlenet(const ModelSpec& spec, const GoogLeNetConfig& config) {
  return std::make_shared<GoogLeNet>(spec.in_channels, spec.num_classes, config);
}

std::vector<ModelInfo> googlenet_models() {
  using C = GoogLeNetConfig;
  const Paper paper{"Going Deeper with Convolutions", "Szegedy et al.", 2014, "1409.4842",
                    "googlenet"};
  auto options = Options<C>()
                     .flag("aux_logits", &C::aux_logits, "the two auxiliary classifiers")
                     .real("drop_rate", &C::drop_rate, 0.0, 0.99, "dropout before the fc")
                     .real("aux_drop_rate", &C::aux_drop_rate, 0.0, 0.99,
                           "dropout in the auxiliary classifiers");
  const auto imagenet_options = options;
  options.real("width_scale", &C::width_scale, 0.01, 16.0, "every width (not the paper's)");
  return {
      model_row(paper, "googlenet", imagenet_input(), "", imagenet_options, C{}, build_googlenet),
      model_row(paper, "googlenet-cifar", cifar_input(), "", options, C{true, false, 0.4, 0.7, 1.0},
                build_googlenet)};
}

}  // namespace cnnzoo::models
