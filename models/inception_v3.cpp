// Inception v3 as torchvision builds it: Szegedy et al., "Rethinking the Inception
// Architecture for Computer Vision" (2015, arXiv:1512.00567).
//
// The layout is the TensorFlow reference (which torchvision ported, module names included)
// rather than the paper's Table 1, which it refines: stem 3x3/2 32, 3x3 32, 3x3 64 (padded),
// max pool, 1x1 80, 3x3 192, max pool -> 35x35x192; three 35x35 modules (Mixed_5b/c/d, Fig. 5
// but with a real 5x5 branch), grid reduction Mixed_6a, four 17x17 modules with factorised 7x7
// convolutions (Mixed_6b-e, Fig. 6, n = 7), grid reduction Mixed_7a, two 8x8 modules with
// expanded 1x3/3x1 filter banks (Mixed_7b/c, Fig. 7), global average pool, dropout, fc.
// Every convolution is conv (no bias) -> BatchNorm (eps 0.001) -> ReLU; in-module average
// pools count the padding (PyTorch's default), as torchvision does.
// The auxiliary classifier on the 17x17 grid (after Mixed_6e: 5x5/3 average pool, 1x1 128,
// 5x5 768, fc) runs only in training; its loss weight 0.4 (the TF-slim recipe's) and label
// smoothing 0.1 belong to the training recipe, not to the model.
// Parameters (exact, as torchvision): 27,161,264 with the auxiliary head, 23,834,568 without.
//
// inception-v3-cifar runs the same eleven modules (Mixed_5b-7c, reference widths) on 32x32
// images. The ImageNet stem divides 299 by 8.5 before Mixed_5b (two stride-2 steps, two max
// pools); here its five convolutions keep their widths but run at stride 1 with 'same'
// padding and without the pools, so the 35x35 modules see a 32x32 map (the recommendation of
// models-spec.md for CIFAR-native Inception). The two grid reductions are unchanged
// (valid 3x3/2), giving 32 -> 15 -> 7 where ImageNet has 35 -> 17 -> 8. There is no
// auxiliary classifier: on a 15x15 grid its 5x5/3 pool and valid 5x5 convolution leave
// nothing, and the BN network trains without it. Dropout before the classifier is the
// reference's 0.2 (keep probability 0.8; torchvision uses 0.5); He (fan-out) initialisation.
// This is a heavy CIFAR model: about 3.4G multiply-adds per image, like WRN-28-10.
// Parameters (10 classes): 21,806,058 (torchvision's 23,834,568 without the auxiliary head,
// minus 2048 x 990 + 990 for the smaller classifier). Its width_scale option (not the
// paper's) multiplies every width, for the one-epoch training check.
#include "cnnzoo/models/inception_v3.hpp"

#include "cnnzoo/nn/init.hpp"
#include "cnnzoo/ops/activation.hpp"
#include "cnnzoo/ops/pool.hpp"
#include "cnnzoo/ops/shape.hpp"
#include "models/paper.hpp"
#include "models/papers.hpp"

namespace cnnzoo::models {

using nn::ConvBnActOptions;

namespace {

Var avg_pool_3x3_same(const Var& x) {
  Pool2dOptions o;
  o.kernel_size = 3;
  o.stride = 1;
  o.padding = 1;
  return avg_pool2d(x, o);
}

Var max_pool_3x3_s2(const Var& x) {
  Pool2dOptions o;
  o.kernel_size = 3;
  o.stride = 2;
  return max_pool2d(x, o);
}

}  // namespace

UnitPtr InceptionV3Module::conv(const std::string& name, ConvBnActOptions options) {
  return register_module(name, std::make_shared<nn::ConvBnAct>(options.eps(1e-3)));
}

InceptionA::InceptionA(int64_t in, int64_t pool_features, const Width& w) {
  branch1x1 = conv("branch1x1", ConvBnActOptions(in, w(64), 1));
  branch5x5_1 = conv("branch5x5_1", ConvBnActOptions(in, w(48), 1));
  branch5x5_2 = conv("branch5x5_2", ConvBnActOptions(w(48), w(64), 5).padding(2));
  branch3x3dbl_1 = conv("branch3x3dbl_1", ConvBnActOptions(in, w(64), 1));
  branch3x3dbl_2 = conv("branch3x3dbl_2", ConvBnActOptions(w(64), w(96), 3).padding(1));
  branch3x3dbl_3 = conv("branch3x3dbl_3", ConvBnActOptions(w(96), w(96), 3).padding(1));
  branch_pool = conv("branch_pool", ConvBnActOptions(in, w(pool_features), 1));
  out_channels = w(64) + w(64) + w(96) + w(pool_features);
}

Var InceptionA::forward(const Var& x) {
  Var b5 = branch5x5_2->forward(branch5x5_1->forward(x));
  Var b3 = branch3x3dbl_3->forward(branch3x3dbl_2->forward(branch3x3dbl_1->forward(x)));
  Var bp = branch_pool->forward(avg_pool_3x3_same(x));
  return concat(std::vector<Var>{branch1x1->forward(x), b5, b3, bp});
}

InceptionB::InceptionB(int64_t in, const Width& w) {
  branch3x3 = conv("branch3x3", ConvBnActOptions(in, w(384), 3).stride(2));
  branch3x3dbl_1 = conv("branch3x3dbl_1", ConvBnActOptions(in, w(64), 1));
  branch3x3dbl_2 = conv("branch3x3dbl_2", ConvBnActOptions(w(64), w(96), 3).padding(1));
  branch3x3dbl_3 = conv("branch3x3dbl_3", ConvBnActOptions(w(96), w(96), 3).stride(2));
  out_channels = w(384) + w(96) + in;
}

Var InceptionB::forward(const Var& x) {
  Var b3 = branch3x3dbl_3->forward(branch3x3dbl_2->forward(branch3x3dbl_1->forward(x)));
  return concat(std::vector<Var>{branch3x3->forward(x), b3, max_pool_3x3_s2(x)});
}

InceptionC::InceptionC(int64_t in, int64_t channels_7x7, const Width& w) {
  const int64_t c7 = w(channels_7x7), c192 = w(192);
  const Size2 k1x7(1, 7), k7x1(7, 1);
  const Padding2d p1x7(0, 3), p7x1(3, 0);
  branch1x1 = conv("branch1x1", ConvBnActOptions(in, c192, 1));
  branch7x7_1 = conv("branch7x7_1", ConvBnActOptions(in, c7, 1));
  branch7x7_2 = conv("branch7x7_2", ConvBnActOptions(c7, c7, k1x7).padding(p1x7));
  branch7x7_3 = conv("branch7x7_3", ConvBnActOptions(c7, c192, k7x1).padding(p7x1));
  branch7x7dbl_1 = conv("branch7x7dbl_1", ConvBnActOptions(in, c7, 1));
  branch7x7dbl_2 = conv("branch7x7dbl_2", ConvBnActOptions(c7, c7, k7x1).padding(p7x1));
  branch7x7dbl_3 = conv("branch7x7dbl_3", ConvBnActOptions(c7, c7, k1x7).padding(p1x7));
  branch7x7dbl_4 = conv("branch7x7dbl_4", ConvBnActOptions(c7, c7, k7x1).padding(p7x1));
  branch7x7dbl_5 = conv("branch7x7dbl_5", ConvBnActOptions(c7, c192, k1x7).padding(p1x7));
  branch_pool = conv("branch_pool", ConvBnActOptions(in, c192, 1));
  out_channels = 4 * c192;
}

Var InceptionC::forward(const Var& x) {
  Var b7 = branch7x7_3->forward(branch7x7_2->forward(branch7x7_1->forward(x)));
  Var bd = branch7x7dbl_1->forward(x);
  bd = branch7x7dbl_3->forward(branch7x7dbl_2->forward(bd));
  bd = branch7x7dbl_5->forward(branch7x7dbl_4->forward(bd));
  Var bp = branch_pool->forward(avg_pool_3x3_same(x));
  return concat(std::vector<Var>{branch1x1->forward(x), b7, bd, bp});
}

InceptionD::InceptionD(int64_t in, const Width& w) {
  const int64_t c192 = w(192);
  branch3x3_1 = conv("branch3x3_1", ConvBnActOptions(in, c192, 1));
  branch3x3_2 = conv("branch3x3_2", ConvBnActOptions(c192, w(320), 3).stride(2));
  branch7x7x3_1 = conv("branch7x7x3_1", ConvBnActOptions(in, c192, 1));
  branch7x7x3_2 = conv("branch7x7x3_2", ConvBnActOptions(c192, c192, {1, 7}).padding({0, 3}));
  branch7x7x3_3 = conv("branch7x7x3_3", ConvBnActOptions(c192, c192, {7, 1}).padding({3, 0}));
  branch7x7x3_4 = conv("branch7x7x3_4", ConvBnActOptions(c192, c192, 3).stride(2));
  out_channels = w(320) + c192 + in;
}

Var InceptionD::forward(const Var& x) {
  Var b3 = branch3x3_2->forward(branch3x3_1->forward(x));
  Var b7 = branch7x7x3_2->forward(branch7x7x3_1->forward(x));
  b7 = branch7x7x3_4->forward(branch7x7x3_3->forward(b7));
  return concat(std::vector<Var>{b3, b7, max_pool_3x3_s2(x)});
}

InceptionE::InceptionE(int64_t in, const Width& w) {
  const int64_t c384 = w(384);
  branch1x1 = conv("branch1x1", ConvBnActOptions(in, w(320), 1));
  branch3x3_1 = conv("branch3x3_1", ConvBnActOptions(in, c384, 1));
  branch3x3_2a = conv("branch3x3_2a", ConvBnActOptions(c384, c384, {1, 3}).padding({0, 1}));
  branch3x3_2b = conv("branch3x3_2b", ConvBnActOptions(c384, c384, {3, 1}).padding({1, 0}));
  branch3x3dbl_1 = conv("branch3x3dbl_1", ConvBnActOptions(in, w(448), 1));
  branch3x3dbl_2 = conv("branch3x3dbl_2", ConvBnActOptions(w(448), c384, 3).padding(1));
  branch3x3dbl_3a = conv("branch3x3dbl_3a", ConvBnActOptions(c384, c384, {1, 3}).padding({0, 1}));
  branch3x3dbl_3b = conv("branch3x3dbl_3b", ConvBnActOptions(c384, c384, {3, 1}).padding({1, 0}));
  branch_pool = conv("branch_pool", ConvBnActOptions(in, w(192), 1));
  out_channels = w(320) + 4 * c384 + w(192);
}

Var InceptionE::forward(const Var& x) {
  Var b3 = branch3x3_1->forward(x);
  Var bd = branch3x3dbl_2->forward(branch3x3dbl_1->forward(x));
  Var bp = branch_pool->forward(avg_pool_3x3_same(x));
  return concat(std::vector<Var>{branch1x1->forward(x), branch3x3_2a->forward(b3),
                                 branch3x3_2b->forward(b3), branch3x3dbl_3a->forward(bd),
                                 branch3x3dbl_3b->forward(bd), bp});
}

InceptionV3Aux::InceptionV3Aux(int64_t in, int64_t num_classes) {
  conv0 = conv("conv0", ConvBnActOptions(in, 128, 1));
  conv1 = conv("conv1", ConvBnActOptions(128, 768, 5));
  fc = register_module("fc", std::make_shared<nn::Linear>(768, num_classes));
}

Var InceptionV3Aux::forward(const Var& x) {
  Pool2dOptions o;
  o.kernel_size = 5;
  o.stride = 3;
  Var h = conv1->forward(conv0->forward(avg_pool2d(x, o)));
  return fc->forward(flatten(adaptive_avg_pool2d(h, Size2(1))));
}

Inception3::Inception3(int64_t in_channels, int64_t num_classes, const InceptionV3Config& c) {
  const Width w = [&c](int64_t ch) { return scale_width(ch, c.width_scale); };
  // The 299x299 stem: 3x3/2, 3x3, 3x3 'same', max pool, 1x1, 3x3, max pool; the CIFAR stem:
  // the same convs at stride 1, 'same', without the pools.
  const int64_t s = c.cifar_stem ? 1 : 2, p = c.cifar_stem ? 1 : 0;
  Conv2d_1a_3x3 =
      conv("Conv2d_1a_3x3", ConvBnActOptions(in_channels, w(32), 3).stride(s).padding(p));
  Conv2d_2a_3x3 = conv("Conv2d_2a_3x3", ConvBnActOptions(w(32), w(32), 3).padding(p));
  Conv2d_2b_3x3 = conv("Conv2d_2b_3x3", ConvBnActOptions(w(32), w(64), 3).padding(1));
  if (!c.cifar_stem) maxpool1 = register_module("maxpool1", std::make_shared<nn::MaxPool2d>(3, 2));
  Conv2d_3b_1x1 = conv("Conv2d_3b_1x1", ConvBnActOptions(w(64), w(80), 1));
  Conv2d_4a_3x3 = conv("Conv2d_4a_3x3", ConvBnActOptions(w(80), w(192), 3).padding(p));
  if (!c.cifar_stem) maxpool2 = register_module("maxpool2", std::make_shared<nn::MaxPool2d>(3, 2));
  auto mixed = [this](const char* name, auto module) { return register_module(name, module); };
  using std::make_shared;
  Mixed_5b = mixed("Mixed_5b", make_shared<InceptionA>(w(192), 32, w));
  Mixed_5c = mixed("Mixed_5c", make_shared<InceptionA>(Mixed_5b->out_channels, 64, w));
  Mixed_5d = mixed("Mixed_5d", make_shared<InceptionA>(Mixed_5c->out_channels, 64, w));
  Mixed_6a = mixed("Mixed_6a", make_shared<InceptionB>(Mixed_5d->out_channels, w));
  Mixed_6b = mixed("Mixed_6b", make_shared<InceptionC>(Mixed_6a->out_channels, 128, w));
  Mixed_6c = mixed("Mixed_6c", make_shared<InceptionC>(Mixed_6b->out_channels, 160, w));
  Mixed_6d = mixed("Mixed_6d", make_shared<InceptionC>(Mixed_6c->out_channels, 160, w));
  Mixed_6e = mixed("Mixed_6e", make_shared<InceptionC>(Mixed_6d->out_channels, 192, w));
  if (c.aux_logits)
    AuxLogits =
        mixed("AuxLogits", make_shared<InceptionV3Aux>(Mixed_6e->out_channels, num_classes));
  Mixed_7a = mixed("Mixed_7a", make_shared<InceptionD>(Mixed_6e->out_channels, w));
  Mixed_7b = mixed("Mixed_7b", make_shared<InceptionE>(Mixed_7a->out_channels, w));
  Mixed_7c = mixed("Mixed_7c", make_shared<InceptionE>(Mixed_7b->out_channels, w));
  avgpool = register_module("avgpool", make_shared<nn::AdaptiveAvgPool2d>(1));
  dropout = register_module("dropout", make_shared<nn::Dropout>(c.drop_rate));
  fc = register_module("fc", make_shared<nn::Linear>(Mixed_7c->out_channels, num_classes));
  using nn::init::Bias;
  if (c.cifar_stem) {
    nn::init::kaiming_normal<nn::Conv2d>(*this, nn::init::FanMode::FanOut, "relu", Bias::Keep);
  } else {
    // torchvision's: N(0, 0.1) truncated at +-2 (never reached) for convs and fc, N(0, 0.01)
    // for the auxiliary 5x5 and N(0, 0.001) for its fc; biases keep PyTorch's default.
    nn::init::normal<nn::Conv2d>(*this, 0.0, 0.1, Bias::Keep);
    nn::init::normal<nn::Linear>(*this, 0.0, 0.1, Bias::Keep);
    if (AuxLogits) {
      nn::init::normal<nn::Conv2d>(*AuxLogits->conv1, 0.0, 0.01, Bias::Keep);
      nn::init::normal<nn::Linear>(*AuxLogits->fc, 0.0, 0.001, Bias::Keep);
    }
  }
}

Var Inception3::forward(const Var& x) {
  const bool with_aux = is_training() && AuxLogits;
  if (with_aux) aux_.clear();
  Var h = Conv2d_2b_3x3->forward(Conv2d_2a_3x3->forward(Conv2d_1a_3x3->forward(x)));
  if (maxpool1) h = maxpool1->forward(h);
  h = Conv2d_4a_3x3->forward(Conv2d_3b_1x1->forward(h));
  if (maxpool2) h = maxpool2->forward(h);
  h = Mixed_5d->forward(Mixed_5c->forward(Mixed_5b->forward(h)));
  h = Mixed_6a->forward(h);
  h = Mixed_6e->forward(Mixed_6d->forward(Mixed_6c->forward(Mixed_6b->forward(h))));
  if (with_aux) aux_.push_back(AuxLogits->forward(h));
  h = Mixed_7c->forward(Mixed_7b->forward(Mixed_7a->forward(h)));
  return fc->forward(flatten(dropout->forward(avgpool->forward(h))));
}

std::vector<Var> Inception3::take_auxiliary_logits() {
  std::vector<Var> out;
  out.swap(aux_);
  return out;
}

nn::ModulePtr build_inception_v3(const ModelSpec& spec, const InceptionV3Config& config) {
  return std::make_shared<Inception3>(spec.in_channels, spec.num_classes, config);
}

std::vector<ModelInfo> inception_v3_models() {
  using C = InceptionV3Config;
  const Paper paper{"Rethinking the Inception Architecture for Computer Vision", "Szegedy et al.",
                    2015, "1512.00567", "inception_v3"};
  const auto imagenet_options =
      Options<C>()
          .flag("aux_logits", &C::aux_logits, "the auxiliary classifier on the 17x17 grid")
          .real("drop_rate", &C::drop_rate, 0.0, 0.99, "dropout before the fc");
  const auto cifar_options =
      Options<C>()
          .real("drop_rate", &C::drop_rate, 0.0, 0.99, "dropout before the fc")
          .real("width_scale", &C::width_scale, 0.01, 16.0, "every width (not the paper's)");
  return {model_row(paper, "inception_v3", imagenet_input(299), "", imagenet_options, C{},
                    build_inception_v3),
          model_row(paper, "inception-v3-cifar", cifar_input(), "", cifar_options,
                    C{true, false, 0.2, 1.0}, build_inception_v3)};
}

}  // namespace cnnzoo::models
