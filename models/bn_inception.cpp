// BN-Inception ("Inception v2"): Ioffe & Szegedy, "Batch Normalization: Accelerating Deep
// Network Training by Reducing Internal Covariate Shift" (2015, arXiv:1502.03167).
//
// The network of the paper's Figure 5 (GoogLeNet with batch normalisation after every
// convolution, each 5x5 replaced by two stacked 3x3, 28x28 modules 3a/3b/3c, 14x14 modules
// 4a-4e, 7x7 modules 5a/5b, stride-2 modules 3c and 4e with a max-pool pass-through):
//
//   stem   7x7/2 conv 64, 3x3/2 max pool, 1x1 conv 64, 3x3 conv 192, 3x3/2 max pool
//          module  #1x1  #3x3r #3x3  #d3x3r #d3x3  pool+proj       out
//          3a       64    64    64    64     96    avg + 32        256
//          3b       64    64    96    64     96    avg + 64        320
//          3c (/2)   0   128   160    64     96    max pass       576
//          4a      224    64    96    96    128    avg + 128       576
//          4b      192    96   128    96    128    avg + 128       576
//          4c      160   128   160   128    160    avg + 128       608
//          4d       96   128   192   160    192    avg + 128       608
//          4e (/2)   0   128   192   192    256    max pass      1056
//          5a      352   192   320   160    224    avg + 128      1024
//          5b      352   192   320   192    224    max + 128      1024
//   head   global average pool, fc (no dropout: the paper removed it)
//
// Choices where the figure is ambiguous:
//  * Widths follow the per-branch columns. With them 4c and 4d output 608 channels and 4e
//    1056, where the figure's depth column says 576 throughout; the branch columns are the
//    figure's actual specification and what the common reimplementations (the Caffe
//    BN-Inception behind ~11.3M) use. TF-slim's inception_v2 instead shrinks the 4c/4d
//    pool projections to 96 to reach 576 (11,194,984 parameters with this file's counting).
//  * Every convolution is conv (no bias) -> BN -> ReLU, the stem too; the first conv sees the
//    raw image (no BN/ReLU on the input).
//  * Stride-2 modules use 3x3/2 convolutions with padding 1 and a 3x3/2 max pool with
//    padding 1, so the branches agree on every input size (28 -> 14 -> 7 at 224). The stem
//    pools are 3x3/2 with padding 1 (112 -> 56 -> 28).
//  * In-module 3x3/1 average pools pad by 1 and count the padding (Caffe and PyTorch's
//    default; TF "SAME" pooling would exclude it).
//  * The 5b pool branch is a max pool, as the figure says (GoogLeNet's choice for its last
//    module kept).
//
// bn-inception-cifar (32x32): the stem's two stride-2 stages exist to shrink 224x224 to the
// 28x28 grid of the first modules. On a 32x32 image the stem keeps the grid instead: a 3x3/1
// conv 64 replaces the 7x7/2 (nothing to shrink, and a 7x7 filter would cover half the
// image), and both stem max pools are dropped. Modules 3a-3c then run at 32x32, 4a-4e at
// 16x16 and 5a/5b at 8x8, the same grid ratios as 28/14/7 on ImageNet. The module table is
// unchanged.
//
// Parameters (conv weights, BN gamma/beta, fc with bias): bn-inception 11,285,224 for 1000
// classes, 0.1% from the ~11.3M of the common reimplementations (giving every convolution a
// bias as well, as the Caffe BN-Inception does, makes it 11,295,240; the paper quotes no
// total). bn-inception-cifar 10,262,794 for 10 classes. Its width_scale option (not the
// paper's) multiplies every width, for the one-epoch training check.
#include "cnnzoo/models/bn_inception.hpp"

#include "cnnzoo/nn/init.hpp"
#include "cnnzoo/ops/pool.hpp"
#include "cnnzoo/ops/shape.hpp"
#include "models/paper.hpp"
#include "models/papers.hpp"

namespace cnnzoo::models {

using nn::ConvBnAct;
using nn::ConvBnActOptions;

int64_t BNInceptionModuleSpec::out(int64_t in) const {
  return ch1x1 + ch3x3 + dbl3x3 + (pool_proj ? pool_proj : in);
}

BNInceptionModule::BNInceptionModule(int64_t in, const BNInceptionModuleSpec& s) : spec(s) {
  auto conv = [this](const std::string& name, int64_t i, int64_t o, int64_t k, int64_t stride = 1) {
    return register_module(
        name, std::make_shared<ConvBnAct>(ConvBnActOptions(i, o, k).stride(stride).padding(k / 2)));
  };
  if (s.ch1x1) branch1x1 = conv("branch1x1", in, s.ch1x1, 1);
  branch3x3_1 = conv("branch3x3_1", in, s.ch3x3red, 1);
  branch3x3_2 = conv("branch3x3_2", s.ch3x3red, s.ch3x3, 3, s.stride);
  branch3x3dbl_1 = conv("branch3x3dbl_1", in, s.dbl3x3red, 1);
  branch3x3dbl_2 = conv("branch3x3dbl_2", s.dbl3x3red, s.dbl3x3, 3);
  branch3x3dbl_3 = conv("branch3x3dbl_3", s.dbl3x3, s.dbl3x3, 3, s.stride);
  if (s.pool_proj) branch_pool = conv("branch_pool", in, s.pool_proj, 1);
}

Var BNInceptionModule::forward(const Var& x) {
  std::vector<Var> out;
  if (branch1x1) out.push_back(branch1x1->forward(x));
  out.push_back(branch3x3_2->forward(branch3x3_1->forward(x)));
  out.push_back(branch3x3dbl_3->forward(branch3x3dbl_2->forward(branch3x3dbl_1->forward(x))));
  Pool2dOptions o;
  o.kernel_size = 3;
  o.stride = spec.stride;
  o.padding = 1;
  Var p = spec.max_pool ? max_pool2d(x, o) : avg_pool2d(x, o);
  out.push_back(branch_pool ? branch_pool->forward(p) : p);
  return concat(out);
}

namespace {

// Figure 5, in order: #1x1, #3x3 reduce, #3x3, double #3x3 reduce, double #3x3, max pool?,
// pool projection (0: pass-through), stride.
const std::pair<const char*, BNInceptionModuleSpec> kModules[] = {
    {"inception_3a", {64, 64, 64, 64, 96, false, 32, 1}},
    {"inception_3b", {64, 64, 96, 64, 96, false, 64, 1}},
    {"inception_3c", {0, 128, 160, 64, 96, true, 0, 2}},
    {"inception_4a", {224, 64, 96, 96, 128, false, 128, 1}},
    {"inception_4b", {192, 96, 128, 96, 128, false, 128, 1}},
    {"inception_4c", {160, 128, 160, 128, 160, false, 128, 1}},
    {"inception_4d", {96, 128, 192, 160, 192, false, 128, 1}},
    {"inception_4e", {0, 128, 192, 192, 256, true, 0, 2}},
    {"inception_5a", {352, 192, 320, 160, 224, false, 128, 1}},
    {"inception_5b", {352, 192, 320, 192, 224, true, 128, 1}},
};

}  // namespace

BNInception::BNInception(int64_t in_channels, int64_t num_classes, const BNInceptionConfig& c) {
  auto w = [&c](int64_t ch) { return ch ? scale_width(ch, c.width_scale) : 0; };
  auto unit = [](int64_t i, int64_t o, int64_t k, int64_t stride, int64_t padding) {
    return std::make_shared<ConvBnAct>(ConvBnActOptions(i, o, k).stride(stride).padding(padding));
  };
  stem = register_module("stem", std::make_shared<nn::Sequential>());
  if (c.cifar_stem) {
    stem->push_back("conv1", unit(in_channels, w(64), 3, 1, 1));
  } else {
    stem->push_back("conv1", unit(in_channels, w(64), 7, 2, 3));
    stem->push_back("pool1", std::make_shared<nn::MaxPool2d>(3, 2, 1));
  }
  stem->push_back("conv2_reduce", unit(w(64), w(64), 1, 1, 0));
  stem->push_back("conv2", unit(w(64), w(192), 3, 1, 1));
  if (!c.cifar_stem) stem->push_back("pool2", std::make_shared<nn::MaxPool2d>(3, 2, 1));
  inception = register_module("inception", std::make_shared<nn::Sequential>());
  int64_t ch = w(192);
  for (const auto& [name, row] : kModules) {
    BNInceptionModuleSpec s{w(row.ch1x1),  w(row.ch3x3red), w(row.ch3x3),     w(row.dbl3x3red),
                            w(row.dbl3x3), row.max_pool,    w(row.pool_proj), row.stride};
    inception->push_back(name, std::make_shared<BNInceptionModule>(ch, s));
    ch = s.out(ch);
  }
  avgpool = register_module("avgpool", std::make_shared<nn::AdaptiveAvgPool2d>(1));
  dropout = register_module("dropout", std::make_shared<nn::Dropout>(c.drop_rate));
  fc = register_module("fc", std::make_shared<nn::Linear>(ch, num_classes));
  // He initialisation (fan-out) for the convolutions; fc keeps the default; BN 1/0.
  nn::init::kaiming_normal<nn::Conv2d>(*this, nn::init::FanMode::FanOut);
}

Var BNInception::forward(const Var& x) {
  Var h = inception->forward(stem->forward(x));
  return fc->forward(dropout->forward(flatten(avgpool->forward(h))));
}

nn::ModulePtr build_bn_inception(const ModelSpec& spec, const BNInceptionConfig& config) {
  return std::make_shared<BNInception>(spec.in_channels, spec.num_classes, config);
}

std::vector<ModelInfo> bn_inception_models() {
  using C = BNInceptionConfig;
  const Paper paper{
      "Batch Normalization: Accelerating Deep Network Training by Reducing Internal Covariate "
      "Shift",
      "Ioffe and Szegedy", 2015, "1502.03167", "bn_inception"};
  auto options = Options<C>().real("drop_rate", &C::drop_rate, 0.0, 0.99,
                                   "dropout before the fc (0: the paper removed it)");
  const auto imagenet_options = options;
  options.real("width_scale", &C::width_scale, 0.01, 16.0, "every width (not the paper's)");
  return {model_row(paper, "bn-inception", imagenet_input(), "", imagenet_options, C{},
                    build_bn_inception),
          model_row(paper, "bn-inception-cifar", cifar_input(), "", options, C{true, 0.0, 1.0},
                    build_bn_inception)};
}

}  // namespace cnnzoo::models
