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
// 5x5 768, fc) runs only in training, with loss weight 0.4 (the TF-slim recipe's); label
// smoothing 0.1 belongs to the training recipe (trainer option), not to the model.
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

#include <functional>

#include "cnnzoo/nn/init.hpp"
#include "cnnzoo/nn/layers.hpp"
#include "cnnzoo/ops/activation.hpp"
#include "cnnzoo/ops/pool.hpp"
#include "cnnzoo/ops/shape.hpp"

namespace cnnzoo::models::imagenet {

namespace {

using namespace cnnzoo::nn;

// conv -> BN -> ReLU with kernel and padding given as (h, w) for the factorised 1xn / nx1.
class BasicConv2d : public Module {
 public:
  BasicConv2d(int64_t in, int64_t out, Size2 kernel, int64_t stride = 1, Size2 padding = 0) {
    Conv2dParams o;
    o.stride = stride;
    o.padding = Padding2d(padding.h, padding.w);
    o.bias = false;
    conv = register_module("conv", std::make_shared<Conv2d>(in, out, kernel, o));
    BatchNormOptions b = BatchNormOptions().eps(1e-3);
    bn = register_module("bn", std::make_shared<BatchNorm2d>(out, b));
  }
  Var forward(const Var& x) override { return nn::conv_bn_relu(*conv, *bn, x); }
  std::string type_name() const override { return "BasicConv2d"; }
  std::shared_ptr<Conv2d> conv;
  std::shared_ptr<BatchNorm2d> bn;
};

using ConvPtr = std::shared_ptr<BasicConv2d>;

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

// A reference width -> the width built: identity, or inception-v3-cifar's width_scale.
using Width = std::function<int64_t(int64_t)>;
int64_t reference_width(int64_t c) {
  return c;
}

// Base with a helper that creates and registers a BasicConv2d in one line; `out` is the
// module's output width.
class Mixed : public Module {
 public:
  int64_t out = 0;

 protected:
  ConvPtr conv(const std::string& name, int64_t in, int64_t out, Size2 kernel, int64_t stride = 1,
               Size2 padding = 0) {
    return register_module(name, std::make_shared<BasicConv2d>(in, out, kernel, stride, padding));
  }
};

// 35x35 module (Fig. 5 with the reference's 5x5 branch): 64 + 64 + 96 + pool_features.
class InceptionA : public Mixed {
 public:
  InceptionA(int64_t in, int64_t pool_features, const Width& w = reference_width) {
    branch1x1 = conv("branch1x1", in, w(64), 1);
    branch5x5_1 = conv("branch5x5_1", in, w(48), 1);
    branch5x5_2 = conv("branch5x5_2", w(48), w(64), 5, 1, 2);
    branch3x3dbl_1 = conv("branch3x3dbl_1", in, w(64), 1);
    branch3x3dbl_2 = conv("branch3x3dbl_2", w(64), w(96), 3, 1, 1);
    branch3x3dbl_3 = conv("branch3x3dbl_3", w(96), w(96), 3, 1, 1);
    branch_pool = conv("branch_pool", in, w(pool_features), 1);
    out = w(64) + w(64) + w(96) + w(pool_features);
  }
  Var forward(const Var& x) override {
    Var b5 = branch5x5_2->forward(branch5x5_1->forward(x));
    Var b3 = branch3x3dbl_3->forward(branch3x3dbl_2->forward(branch3x3dbl_1->forward(x)));
    Var bp = branch_pool->forward(avg_pool_3x3_same(x));
    return concat(std::vector<Var>{branch1x1->forward(x), b5, b3, bp});
  }
  std::string type_name() const override { return "InceptionA"; }
  ConvPtr branch1x1, branch5x5_1, branch5x5_2, branch3x3dbl_1, branch3x3dbl_2, branch3x3dbl_3,
      branch_pool;
};

// Grid reduction 35 -> 17 (Fig. 10): 384 + 96 + in channels.
class InceptionB : public Mixed {
 public:
  explicit InceptionB(int64_t in, const Width& w = reference_width) {
    branch3x3 = conv("branch3x3", in, w(384), 3, 2);
    branch3x3dbl_1 = conv("branch3x3dbl_1", in, w(64), 1);
    branch3x3dbl_2 = conv("branch3x3dbl_2", w(64), w(96), 3, 1, 1);
    branch3x3dbl_3 = conv("branch3x3dbl_3", w(96), w(96), 3, 2);
    out = w(384) + w(96) + in;
  }
  Var forward(const Var& x) override {
    Var b3 = branch3x3dbl_3->forward(branch3x3dbl_2->forward(branch3x3dbl_1->forward(x)));
    return concat(std::vector<Var>{branch3x3->forward(x), b3, max_pool_3x3_s2(x)});
  }
  std::string type_name() const override { return "InceptionB"; }
  ConvPtr branch3x3, branch3x3dbl_1, branch3x3dbl_2, branch3x3dbl_3;
};

// 17x17 module with 7x7 convolutions factorised into 1x7 and 7x1 (Fig. 6): 4 x 192 channels.
class InceptionC : public Mixed {
 public:
  InceptionC(int64_t in, int64_t c7_reference, const Width& w = reference_width) {
    const int64_t c7 = w(c7_reference), c192 = w(192);
    branch1x1 = conv("branch1x1", in, c192, 1);
    branch7x7_1 = conv("branch7x7_1", in, c7, 1);
    branch7x7_2 = conv("branch7x7_2", c7, c7, {1, 7}, 1, {0, 3});
    branch7x7_3 = conv("branch7x7_3", c7, c192, {7, 1}, 1, {3, 0});
    branch7x7dbl_1 = conv("branch7x7dbl_1", in, c7, 1);
    branch7x7dbl_2 = conv("branch7x7dbl_2", c7, c7, {7, 1}, 1, {3, 0});
    branch7x7dbl_3 = conv("branch7x7dbl_3", c7, c7, {1, 7}, 1, {0, 3});
    branch7x7dbl_4 = conv("branch7x7dbl_4", c7, c7, {7, 1}, 1, {3, 0});
    branch7x7dbl_5 = conv("branch7x7dbl_5", c7, c192, {1, 7}, 1, {0, 3});
    branch_pool = conv("branch_pool", in, c192, 1);
    out = 4 * c192;
  }
  Var forward(const Var& x) override {
    Var b7 = branch7x7_3->forward(branch7x7_2->forward(branch7x7_1->forward(x)));
    Var bd = branch7x7dbl_1->forward(x);
    bd = branch7x7dbl_3->forward(branch7x7dbl_2->forward(bd));
    bd = branch7x7dbl_5->forward(branch7x7dbl_4->forward(bd));
    Var bp = branch_pool->forward(avg_pool_3x3_same(x));
    return concat(std::vector<Var>{branch1x1->forward(x), b7, bd, bp});
  }
  std::string type_name() const override { return "InceptionC"; }
  ConvPtr branch1x1, branch7x7_1, branch7x7_2, branch7x7_3, branch7x7dbl_1, branch7x7dbl_2,
      branch7x7dbl_3, branch7x7dbl_4, branch7x7dbl_5, branch_pool;
};

// Grid reduction 17 -> 8: 320 + 192 + in channels.
class InceptionD : public Mixed {
 public:
  explicit InceptionD(int64_t in, const Width& w = reference_width) {
    const int64_t c192 = w(192);
    branch3x3_1 = conv("branch3x3_1", in, c192, 1);
    branch3x3_2 = conv("branch3x3_2", c192, w(320), 3, 2);
    branch7x7x3_1 = conv("branch7x7x3_1", in, c192, 1);
    branch7x7x3_2 = conv("branch7x7x3_2", c192, c192, {1, 7}, 1, {0, 3});
    branch7x7x3_3 = conv("branch7x7x3_3", c192, c192, {7, 1}, 1, {3, 0});
    branch7x7x3_4 = conv("branch7x7x3_4", c192, c192, 3, 2);
    out = w(320) + c192 + in;
  }
  Var forward(const Var& x) override {
    Var b3 = branch3x3_2->forward(branch3x3_1->forward(x));
    Var b7 = branch7x7x3_2->forward(branch7x7x3_1->forward(x));
    b7 = branch7x7x3_4->forward(branch7x7x3_3->forward(b7));
    return concat(std::vector<Var>{b3, b7, max_pool_3x3_s2(x)});
  }
  std::string type_name() const override { return "InceptionD"; }
  ConvPtr branch3x3_1, branch3x3_2, branch7x7x3_1, branch7x7x3_2, branch7x7x3_3, branch7x7x3_4;
};

// 8x8 module with expanded filter banks (Fig. 7): 320 + 2x384 + 2x384 + 192 = 2048 channels.
class InceptionE : public Mixed {
 public:
  explicit InceptionE(int64_t in, const Width& w = reference_width) {
    const int64_t c384 = w(384);
    branch1x1 = conv("branch1x1", in, w(320), 1);
    branch3x3_1 = conv("branch3x3_1", in, c384, 1);
    branch3x3_2a = conv("branch3x3_2a", c384, c384, {1, 3}, 1, {0, 1});
    branch3x3_2b = conv("branch3x3_2b", c384, c384, {3, 1}, 1, {1, 0});
    branch3x3dbl_1 = conv("branch3x3dbl_1", in, w(448), 1);
    branch3x3dbl_2 = conv("branch3x3dbl_2", w(448), c384, 3, 1, 1);
    branch3x3dbl_3a = conv("branch3x3dbl_3a", c384, c384, {1, 3}, 1, {0, 1});
    branch3x3dbl_3b = conv("branch3x3dbl_3b", c384, c384, {3, 1}, 1, {1, 0});
    branch_pool = conv("branch_pool", in, w(192), 1);
    out = w(320) + 4 * c384 + w(192);
  }
  Var forward(const Var& x) override {
    Var b3 = branch3x3_1->forward(x);
    Var bd = branch3x3dbl_2->forward(branch3x3dbl_1->forward(x));
    Var bp = branch_pool->forward(avg_pool_3x3_same(x));
    return concat(std::vector<Var>{branch1x1->forward(x), branch3x3_2a->forward(b3),
                                   branch3x3_2b->forward(b3), branch3x3dbl_3a->forward(bd),
                                   branch3x3dbl_3b->forward(bd), bp});
  }
  std::string type_name() const override { return "InceptionE"; }
  ConvPtr branch1x1, branch3x3_1, branch3x3_2a, branch3x3_2b, branch3x3dbl_1, branch3x3dbl_2,
      branch3x3dbl_3a, branch3x3dbl_3b, branch_pool;
};

// Auxiliary classifier on the 17x17 grid: 5x5/3 average pool -> 1x1 128 -> 5x5 768 -> fc.
class InceptionAux : public Mixed {
 public:
  InceptionAux(int64_t in, int64_t num_classes) {
    conv0 = conv("conv0", in, 128, 1);
    conv1 = conv("conv1", 128, 768, 5);
    fc = register_module("fc", std::make_shared<Linear>(768, num_classes));
  }
  Var forward(const Var& x) override {
    Pool2dOptions o;
    o.kernel_size = 5;
    o.stride = 3;
    Var h = conv1->forward(conv0->forward(avg_pool2d(x, o)));
    return fc->forward(flatten(adaptive_avg_pool2d(h, Size2(1))));
  }
  std::string type_name() const override { return "InceptionAux"; }
  ConvPtr conv0, conv1;
  std::shared_ptr<Linear> fc;
};

class Inception3 : public Mixed {
 public:
  Inception3(int64_t in_channels, int64_t num_classes, bool aux_logits, double drop_rate) {
    Conv2d_1a_3x3 = conv("Conv2d_1a_3x3", in_channels, 32, 3, 2);
    Conv2d_2a_3x3 = conv("Conv2d_2a_3x3", 32, 32, 3);
    Conv2d_2b_3x3 = conv("Conv2d_2b_3x3", 32, 64, 3, 1, 1);
    maxpool1 = register_module("maxpool1", std::make_shared<MaxPool2d>(3, 2));
    Conv2d_3b_1x1 = conv("Conv2d_3b_1x1", 64, 80, 1);
    Conv2d_4a_3x3 = conv("Conv2d_4a_3x3", 80, 192, 3);
    maxpool2 = register_module("maxpool2", std::make_shared<MaxPool2d>(3, 2));
    Mixed_5b = register_module("Mixed_5b", std::make_shared<InceptionA>(192, 32));
    Mixed_5c = register_module("Mixed_5c", std::make_shared<InceptionA>(256, 64));
    Mixed_5d = register_module("Mixed_5d", std::make_shared<InceptionA>(288, 64));
    Mixed_6a = register_module("Mixed_6a", std::make_shared<InceptionB>(288));
    Mixed_6b = register_module("Mixed_6b", std::make_shared<InceptionC>(768, 128));
    Mixed_6c = register_module("Mixed_6c", std::make_shared<InceptionC>(768, 160));
    Mixed_6d = register_module("Mixed_6d", std::make_shared<InceptionC>(768, 160));
    Mixed_6e = register_module("Mixed_6e", std::make_shared<InceptionC>(768, 192));
    if (aux_logits)
      AuxLogits = register_module("AuxLogits", std::make_shared<InceptionAux>(768, num_classes));
    Mixed_7a = register_module("Mixed_7a", std::make_shared<InceptionD>(768));
    Mixed_7b = register_module("Mixed_7b", std::make_shared<InceptionE>(1280));
    Mixed_7c = register_module("Mixed_7c", std::make_shared<InceptionE>(2048));
    avgpool = register_module("avgpool", std::make_shared<AdaptiveAvgPool2d>(1));
    dropout = register_module("dropout", std::make_shared<Dropout>(drop_rate));
    fc = register_module("fc", std::make_shared<Linear>(2048, num_classes));
    // torchvision's initialisation: N(0, 0.1) truncated at +-2 (never reached) for
    // convolutions and fc, N(0, 0.01) for the auxiliary 5x5 and N(0, 0.001) for its fc;
    // biases keep PyTorch's default.
    apply([](Module& m) {
      if (auto* c = dynamic_cast<Conv2d*>(&m)) init::normal(c->weight.value(), 0.0, 0.1);
      if (auto* l = dynamic_cast<Linear*>(&m)) init::normal(l->weight.value(), 0.0, 0.1);
    });
    if (AuxLogits) {
      init::normal(AuxLogits->conv1->conv->weight.value(), 0.0, 0.01);
      init::normal(AuxLogits->fc->weight.value(), 0.0, 0.001);
    }
  }

  Var forward(const Var& x) override {
    bool with_aux = is_training() && AuxLogits;
    if (with_aux) aux_.clear();
    Var h = Conv2d_2b_3x3->forward(Conv2d_2a_3x3->forward(Conv2d_1a_3x3->forward(x)));
    h = maxpool1->forward(h);
    h = maxpool2->forward(Conv2d_4a_3x3->forward(Conv2d_3b_1x1->forward(h)));
    h = Mixed_5d->forward(Mixed_5c->forward(Mixed_5b->forward(h)));
    h = Mixed_6a->forward(h);
    h = Mixed_6e->forward(Mixed_6d->forward(Mixed_6c->forward(Mixed_6b->forward(h))));
    if (with_aux) aux_.push_back(AuxLogits->forward(h));
    h = Mixed_7c->forward(Mixed_7b->forward(Mixed_7a->forward(h)));
    return fc->forward(flatten(dropout->forward(avgpool->forward(h))));
  }

  std::vector<Var> take_auxiliary_logits() override {
    std::vector<Var> out;
    out.swap(aux_);
    return out;
  }
  std::string type_name() const override { return "Inception3"; }

  ConvPtr Conv2d_1a_3x3, Conv2d_2a_3x3, Conv2d_2b_3x3, Conv2d_3b_1x1, Conv2d_4a_3x3;
  std::shared_ptr<MaxPool2d> maxpool1, maxpool2;
  std::shared_ptr<InceptionA> Mixed_5b, Mixed_5c, Mixed_5d;
  std::shared_ptr<InceptionB> Mixed_6a;
  std::shared_ptr<InceptionC> Mixed_6b, Mixed_6c, Mixed_6d, Mixed_6e;
  std::shared_ptr<InceptionAux> AuxLogits;
  std::shared_ptr<InceptionD> Mixed_7a;
  std::shared_ptr<InceptionE> Mixed_7b, Mixed_7c;
  std::shared_ptr<AdaptiveAvgPool2d> avgpool;
  std::shared_ptr<Dropout> dropout;
  std::shared_ptr<Linear> fc;

 private:
  // Set only by a training-mode forward (see Module::take_auxiliary_logits).
  std::vector<Var> aux_;
};

// The eleven modules on 32x32 inputs (see the top of the file).
class Inception3Cifar : public Mixed {
 public:
  explicit Inception3Cifar(const ModelSpec& spec) {
    Width w = [&spec](int64_t c) { return spec.scale_width(c); };
    Conv2d_1a_3x3 = conv("Conv2d_1a_3x3", spec.in_channels, w(32), 3, 1, 1);
    Conv2d_2a_3x3 = conv("Conv2d_2a_3x3", w(32), w(32), 3, 1, 1);
    Conv2d_2b_3x3 = conv("Conv2d_2b_3x3", w(32), w(64), 3, 1, 1);
    Conv2d_3b_1x1 = conv("Conv2d_3b_1x1", w(64), w(80), 1);
    Conv2d_4a_3x3 = conv("Conv2d_4a_3x3", w(80), w(192), 3, 1, 1);
    auto mixed = [this](const char* name, auto module) {
      return register_module(name, std::move(module));
    };
    using std::make_shared;
    Mixed_5b = mixed("Mixed_5b", make_shared<InceptionA>(w(192), 32, w));  // 32x32
    Mixed_5c = mixed("Mixed_5c", make_shared<InceptionA>(Mixed_5b->out, 64, w));
    Mixed_5d = mixed("Mixed_5d", make_shared<InceptionA>(Mixed_5c->out, 64, w));
    Mixed_6a = mixed("Mixed_6a", make_shared<InceptionB>(Mixed_5d->out, w));  // -> 15x15
    Mixed_6b = mixed("Mixed_6b", make_shared<InceptionC>(Mixed_6a->out, 128, w));
    Mixed_6c = mixed("Mixed_6c", make_shared<InceptionC>(Mixed_6b->out, 160, w));
    Mixed_6d = mixed("Mixed_6d", make_shared<InceptionC>(Mixed_6c->out, 160, w));
    Mixed_6e = mixed("Mixed_6e", make_shared<InceptionC>(Mixed_6d->out, 192, w));
    Mixed_7a = mixed("Mixed_7a", make_shared<InceptionD>(Mixed_6e->out, w));  // -> 7x7
    Mixed_7b = mixed("Mixed_7b", make_shared<InceptionE>(Mixed_7a->out, w));
    Mixed_7c = mixed("Mixed_7c", make_shared<InceptionE>(Mixed_7b->out, w));
    avgpool = register_module("avgpool", std::make_shared<AdaptiveAvgPool2d>(1));
    dropout =
        register_module("dropout", std::make_shared<Dropout>(spec.get_double("drop_rate", 0.2)));
    fc = register_module("fc", std::make_shared<Linear>(Mixed_7c->out, spec.num_classes));
    apply([](Module& m) {
      if (auto* c = dynamic_cast<Conv2d*>(&m))
        init::kaiming_normal(c->weight.value(), init::FanMode::FanOut);
    });
  }

  Var forward(const Var& x) override {
    Var h = Conv2d_2b_3x3->forward(Conv2d_2a_3x3->forward(Conv2d_1a_3x3->forward(x)));
    h = Conv2d_4a_3x3->forward(Conv2d_3b_1x1->forward(h));
    h = Mixed_5d->forward(Mixed_5c->forward(Mixed_5b->forward(h)));
    h = Mixed_6a->forward(h);
    h = Mixed_6e->forward(Mixed_6d->forward(Mixed_6c->forward(Mixed_6b->forward(h))));
    h = Mixed_7c->forward(Mixed_7b->forward(Mixed_7a->forward(h)));
    return fc->forward(flatten(dropout->forward(avgpool->forward(h))));
  }
  std::string type_name() const override { return "Inception3"; }

  ConvPtr Conv2d_1a_3x3, Conv2d_2a_3x3, Conv2d_2b_3x3, Conv2d_3b_1x1, Conv2d_4a_3x3;
  std::shared_ptr<InceptionA> Mixed_5b, Mixed_5c, Mixed_5d;
  std::shared_ptr<InceptionB> Mixed_6a;
  std::shared_ptr<InceptionC> Mixed_6b, Mixed_6c, Mixed_6d, Mixed_6e;
  std::shared_ptr<InceptionD> Mixed_7a;
  std::shared_ptr<InceptionE> Mixed_7b, Mixed_7c;
  std::shared_ptr<AdaptiveAvgPool2d> avgpool;
  std::shared_ptr<Dropout> dropout;
  std::shared_ptr<Linear> fc;
};

}  // namespace

nn::ModulePtr inception_v3(const ModelSpec& spec) {
  return std::make_shared<Inception3>(spec.in_channels, spec.num_classes,
                                      spec.get_bool("aux_logits", true),
                                      spec.get_double("drop_rate", 0.5));
}

}  // namespace cnnzoo::models::imagenet

namespace cnnzoo::models {

nn::ModulePtr inception_v3_cifar(const ModelSpec& spec) {
  return std::make_shared<imagenet::Inception3Cifar>(spec);
}

}  // namespace cnnzoo::models
