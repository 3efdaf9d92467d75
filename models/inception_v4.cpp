// Inception-v4 and Inception-ResNet-v2: Szegedy, Ioffe, Vanhoucke & Alemi, "Inception-v4,
// Inception-ResNet and the Impact of Residual Connections on Learning" (2016,
// arXiv:1602.07261).
//
// Both networks are built as the authors' TF-slim reference (tensorflow/models,
// research/slim/nets/inception_v4.py and inception_resnet_v2.py) builds them, which is what
// the published ~42.7M / ~55.8M counts and the released weights describe. Where the paper's
// figures disagree with that reference, the reference wins:
//
// Inception-v4 (paper Figures 3-9, 4/7/3 modules): the figures and TF-slim agree on every
// width. TF-slim orders the factorised convolutions differently in two places (Inception-B
// branch 2 starts 7x1 where Figure 5 starts 1x7; Inception-C branch 2 is 3x1 448 -> 1x3 512
// where Figure 6 draws 1x3 448 -> 3x1 512); the reference order is used (same parameters).
//   stem      3x3/2 32 V, 3x3 32 V, 3x3 64, {3x3/2 max V | 3x3/2 96 V},
//             {1x1 64 -> 3x3 96 V | 1x1 64 -> 1x7 64 -> 7x1 64 -> 3x3 96 V},
//             {3x3/2 192 V | 3x3/2 max V}                      -> 35x35x384
//   4 x Inception-A  (96 | 64->96 | 64->96->96 | avg->96)        -> 384
//   Reduction-A (k, l, m, n) = (192, 224, 256, 384)              -> 17x17x1024
//   7 x Inception-B  (384 | 192->224->256 | 192->192->224->224->256 | avg->128) -> 1024
//   Reduction-B  (192->192/2 | 256->1x7 256->7x1 320->320/2 | max) -> 8x8x1536
//   3 x Inception-C  (256 | 384->{256,256} | 384->448->512->{256,256} | avg->256) -> 1536
//   average pool, dropout (keep 0.8), fc
// Inception-ResNet-v2: the paper's figures are inconsistent (Figure 15 gives 5/10/5 blocks
// on the Inception-v4 stem, Figure 16's IR-A restores 384 channels, the IR-B and IR-C
// figures draw 1154 and 2048 outputs that Reduction-A/B cannot produce). TF-slim's network,
// whose weights were released, is self-consistent and is the one built here:
//   stem      3x3/2 32 V, 3x3 32 V, 3x3 64, 3x3/2 max V, 1x1 80, 3x3 192 V, 3x3/2 max V,
//             Mixed_5b {1x1 96 | 1x1 48 -> 5x5 64 | 1x1 64 -> 3x3 96 -> 3x3 96 |
//             avg -> 1x1 64}                                     -> 35x35x320
//   10 x Block35 (IR-A, scale 0.17): {32 | 32->32 | 32->48->64} -> 1x1 320
//   Reduction-A (k, l, m, n) = (256, 256, 384, 384)              -> 17x17x1088
//   20 x Block17 (IR-B, scale 0.10): {192 | 128->1x7 160->7x1 192} -> 1x1 1088
//   Mixed_7a {256->384/2 | 256->288/2 | 256->288->320/2 | max}  -> 8x8x2080
//   10 x Block8 (IR-C, scale 0.20; the 10th with scale 1 and no ReLU):
//        {192 | 192->1x3 224->3x1 256} -> 1x1 2080
//   1x1 conv 1536, average pool, dropout (keep 0.8), fc
// Each residual branch ends in a linear 1x1 convolution with a bias and no BN (the paper:
// BN only on top of the traditional layers, not the summations); its output is scaled, added
// to the input and passed through ReLU. The residual scales 0.17/0.10/0.20 are TF-slim's
// (the paper only says 0.1-0.3).
// Common to both: every other convolution is conv (no bias) -> BN (eps 0.001, TF-slim's) ->
// ReLU; "V" (valid) convolutions and pools have no padding, the others pad to keep the size
// ("same"); in-module 3x3/1 average pools exclude the padding from the count, as TF "SAME"
// pooling does. No auxiliary head (the paper describes none for these networks; TF-slim's
// is optional). He initialisation (fan-out) for convolutions, zero biases, BN 1/0.
// Parameters for 1000 classes: inception-v4 42,679,816; inception-resnet-v2 55,843,464
// (the ~42.7M and ~55.8M usually quoted; BN counted with gamma and beta).
#include "cnnzoo/models/inception_v4.hpp"

#include "cnnzoo/nn/init.hpp"
#include "cnnzoo/nn/layers.hpp"
#include "cnnzoo/ops/activation.hpp"
#include "cnnzoo/ops/arith.hpp"
#include "cnnzoo/ops/pool.hpp"
#include "cnnzoo/ops/shape.hpp"

namespace cnnzoo::models {

namespace {

using namespace cnnzoo::nn;

// conv (no bias) -> BN (eps 0.001) -> ReLU; kernel and padding as (h, w) for 1xn / nx1.
class BasicConv2d : public Module {
 public:
  BasicConv2d(int64_t in, int64_t out, Size2 kernel, int64_t stride, Padding2d padding) {
    Conv2dParams o;
    o.stride = stride;
    o.padding = padding;
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

// "same" convolution (stride 1, output size = input size) with a (h, w) kernel.
ModulePtr same(int64_t in, int64_t out, Size2 k) {
  return std::make_shared<BasicConv2d>(in, out, k, 1, Padding2d(k.h / 2, k.w / 2));
}
// "valid" convolution (no padding).
ModulePtr valid(int64_t in, int64_t out, int64_t k, int64_t stride = 1) {
  return std::make_shared<BasicConv2d>(in, out, k, stride, 0);
}

// A chain of convolutions as one named branch.
std::shared_ptr<Sequential> chain(std::vector<ModulePtr> convs) {
  return std::make_shared<Sequential>(std::move(convs));
}

Var max_pool_3x3_s2(const Var& x) {
  Pool2dOptions o;
  o.kernel_size = 3;
  o.stride = 2;
  return max_pool2d(x, o);
}

// 3x3/1 "same" average pool without counting the padding (TF-slim).
Var avg_pool_3x3_same(const Var& x) {
  Pool2dOptions o;
  o.kernel_size = 3;
  o.stride = 1;
  o.padding = 1;
  o.count_include_pad = false;
  return avg_pool2d(x, o);
}

// Parallel branches concatenated along channels; a null branch is the 3x3/2 max pool
// pass-through of the reduction modules, an avg_pool branch starts with the "same" average
// pool.
class Mixed : public Module {
 public:
  Var forward(const Var& x) override {
    std::vector<Var> out;
    for (size_t i = 0; i < branches_.size(); ++i) {
      if (!branches_[i])
        out.push_back(max_pool_3x3_s2(x));
      else
        out.push_back(branches_[i]->forward(avg_first_[i] ? avg_pool_3x3_same(x) : x));
    }
    return concat(out);
  }
  std::string type_name() const override { return type_; }

 protected:
  explicit Mixed(std::string type) : type_(std::move(type)) {}
  void branch(ModulePtr m, bool avg_pool_first = false) {
    register_module("branch" + std::to_string(branches_.size()), m);
    branches_.push_back(std::move(m));
    avg_first_.push_back(avg_pool_first);
  }
  void max_pool_branch() {
    branches_.push_back(nullptr);
    avg_first_.push_back(false);
  }

 private:
  std::string type_;
  std::vector<ModulePtr> branches_;
  std::vector<bool> avg_first_;
};

// ---- Inception-v4 -------------------------------------------------------------------------

// Figure 3: the stem's three branching steps (147 -> 73 -> 71 -> 35).
class Mixed3a : public Mixed {
 public:
  Mixed3a() : Mixed("Mixed3a") {
    max_pool_branch();
    branch(valid(64, 96, 3, 2));
  }
};

class Mixed4a : public Mixed {
 public:
  Mixed4a() : Mixed("Mixed4a") {
    branch(chain({same(160, 64, 1), valid(64, 96, 3)}));
    branch(chain({same(160, 64, 1), same(64, 64, {1, 7}), same(64, 64, {7, 1}), valid(64, 96, 3)}));
  }
};

class Mixed5a : public Mixed {
 public:
  Mixed5a() : Mixed("Mixed5a") {
    branch(valid(192, 192, 3, 2));
    max_pool_branch();
  }
};

// Figure 4: 35x35 module, 4 x 96 = 384 channels.
class InceptionA : public Mixed {
 public:
  InceptionA() : Mixed("InceptionA") {
    branch(same(384, 96, 1));
    branch(chain({same(384, 64, 1), same(64, 96, 3)}));
    branch(chain({same(384, 64, 1), same(64, 96, 3), same(96, 96, 3)}));
    branch(same(384, 96, 1), /*avg_pool_first=*/true);
  }
};

// Figure 7: 35 -> 17 grid reduction with filter counts (k, l, m, n); out = in + m + n.
class ReductionA : public Mixed {
 public:
  ReductionA(int64_t in, int64_t k, int64_t l, int64_t m, int64_t n) : Mixed("ReductionA") {
    branch(valid(in, n, 3, 2));
    branch(chain({same(in, k, 1), same(k, l, 3), valid(l, m, 3, 2)}));
    max_pool_branch();
  }
};

// Figure 5: 17x17 module, 384 + 256 + 256 + 128 = 1024 channels.
class InceptionB : public Mixed {
 public:
  InceptionB() : Mixed("InceptionB") {
    branch(same(1024, 384, 1));
    branch(chain({same(1024, 192, 1), same(192, 224, {1, 7}), same(224, 256, {7, 1})}));
    branch(chain({same(1024, 192, 1), same(192, 192, {7, 1}), same(192, 224, {1, 7}),
                  same(224, 224, {7, 1}), same(224, 256, {1, 7})}));
    branch(same(1024, 128, 1), /*avg_pool_first=*/true);
  }
};

// Figure 8: 17 -> 8 grid reduction, 192 + 320 + 1024 = 1536 channels.
class ReductionB : public Mixed {
 public:
  ReductionB() : Mixed("ReductionB") {
    branch(chain({same(1024, 192, 1), valid(192, 192, 3, 2)}));
    branch(chain({same(1024, 256, 1), same(256, 256, {1, 7}), same(256, 320, {7, 1}),
                  valid(320, 320, 3, 2)}));
    max_pool_branch();
  }
};

// Figure 6: 8x8 module whose two inner branches split into parallel 1x3 and 3x1 filters;
// 256 + 2 x 256 + 2 x 256 + 256 = 1536 channels.
class InceptionC : public Module {
 public:
  InceptionC() {
    branch0 = register_module("branch0", same(1536, 256, 1));
    branch1_0 = register_module("branch1_0", same(1536, 384, 1));
    branch1_1a = register_module("branch1_1a", same(384, 256, {1, 3}));
    branch1_1b = register_module("branch1_1b", same(384, 256, {3, 1}));
    branch2_0 = register_module(
        "branch2_0", chain({same(1536, 384, 1), same(384, 448, {3, 1}), same(448, 512, {1, 3})}));
    branch2_1a = register_module("branch2_1a", same(512, 256, {1, 3}));
    branch2_1b = register_module("branch2_1b", same(512, 256, {3, 1}));
    branch3 = register_module("branch3", same(1536, 256, 1));
  }
  Var forward(const Var& x) override {
    Var b1 = branch1_0->forward(x);
    Var b2 = branch2_0->forward(x);
    return concat(std::vector<Var>{
        branch0->forward(x), branch1_1a->forward(b1), branch1_1b->forward(b1),
        branch2_1a->forward(b2), branch2_1b->forward(b2), branch3->forward(avg_pool_3x3_same(x))});
  }
  std::string type_name() const override { return "InceptionC"; }
  ModulePtr branch0, branch1_0, branch1_1a, branch1_1b, branch2_0, branch2_1a, branch2_1b, branch3;
};

// ---- Inception-ResNet-v2 ------------------------------------------------------------------

// TF-slim's Mixed_5b: an Inception-v3 35x35 module taking the stem to 320 channels.
class Mixed5b : public Mixed {
 public:
  Mixed5b() : Mixed("Mixed5b") {
    branch(same(192, 96, 1));
    branch(chain({same(192, 48, 1), same(48, 64, 5)}));
    branch(chain({same(192, 64, 1), same(64, 96, 3), same(96, 96, 3)}));
    branch(same(192, 64, 1), /*avg_pool_first=*/true);
  }
};

// TF-slim's Mixed_7a: 17 -> 8 reduction, 384 + 288 + 320 + 1088 = 2080 channels.
class Mixed7a : public Mixed {
 public:
  Mixed7a() : Mixed("Mixed7a") {
    branch(chain({same(1088, 256, 1), valid(256, 384, 3, 2)}));
    branch(chain({same(1088, 256, 1), valid(256, 288, 3, 2)}));
    branch(chain({same(1088, 256, 1), same(256, 288, 3), valid(288, 320, 3, 2)}));
    max_pool_branch();
  }
};

// Inception-ResNet block: x + scale * up(concat(branches(x))), then ReLU (Figure 20 shows the
// scaling). `up` is a linear 1x1 convolution with a bias restoring the input width.
class InceptionResNetBlock : public Module {
 public:
  Var forward(const Var& x) override {
    std::vector<Var> out;
    for (auto& b : branches_) out.push_back(b->forward(x));
    Var h = add(x, scale(up->forward(concat(out)), residual_scale_));
    return activate_ ? relu(h) : h;
  }
  std::string type_name() const override { return type_; }
  std::shared_ptr<Conv2d> up;

 protected:
  InceptionResNetBlock(std::string type, double residual_scale, bool activate)
      : type_(std::move(type)), residual_scale_(residual_scale), activate_(activate) {}
  void branch(ModulePtr m) {
    register_module("branch" + std::to_string(branches_.size()), m);
    branches_.push_back(std::move(m));
  }
  void up_projection(int64_t in, int64_t out) {
    up = register_module("up", std::make_shared<Conv2d>(in, out, 1));
  }

 private:
  std::string type_;
  double residual_scale_;
  bool activate_;
  std::vector<ModulePtr> branches_;
};

// IR-A at 35x35 (TF-slim block35).
class Block35 : public InceptionResNetBlock {
 public:
  explicit Block35(double s) : InceptionResNetBlock("Block35", s, true) {
    branch(same(320, 32, 1));
    branch(chain({same(320, 32, 1), same(32, 32, 3)}));
    branch(chain({same(320, 32, 1), same(32, 48, 3), same(48, 64, 3)}));
    up_projection(128, 320);
  }
};

// IR-B at 17x17 (TF-slim block17).
class Block17 : public InceptionResNetBlock {
 public:
  explicit Block17(double s) : InceptionResNetBlock("Block17", s, true) {
    branch(same(1088, 192, 1));
    branch(chain({same(1088, 128, 1), same(128, 160, {1, 7}), same(160, 192, {7, 1})}));
    up_projection(384, 1088);
  }
};

// IR-C at 8x8 (TF-slim block8).
class Block8 : public InceptionResNetBlock {
 public:
  Block8(double s, bool activate) : InceptionResNetBlock("Block8", s, activate) {
    branch(same(2080, 192, 1));
    branch(chain({same(2080, 192, 1), same(192, 224, {1, 3}), same(224, 256, {3, 1})}));
    up_projection(448, 2080);
  }
};

// ---- the networks ---------------------------------------------------------------------------

template <class Block, class... Args>
std::shared_ptr<Sequential> repeat(int n, Args... args) {
  auto seq = std::make_shared<Sequential>();
  for (int i = 0; i < n; ++i) seq->push_back(std::make_shared<Block>(args...));
  return seq;
}

// Shared head and initialisation: global average pool, dropout, fc.
class InceptionNet : public Module {
 public:
  Var forward(const Var& x) override {
    Var h = x;
    for (auto& s : stages_) h = s->forward(h);
    return fc->forward(dropout->forward(flatten(global_avg_pool2d(h))));
  }
  std::string type_name() const override { return type_; }
  std::shared_ptr<Dropout> dropout;
  std::shared_ptr<Linear> fc;

 protected:
  explicit InceptionNet(std::string type) : type_(std::move(type)) {}
  void stage(const std::string& name, ModulePtr m) { stages_.push_back(register_module(name, m)); }
  void head(int64_t channels, int64_t num_classes, double drop_rate) {
    dropout = register_module("dropout", std::make_shared<Dropout>(drop_rate));
    fc = register_module("fc", std::make_shared<Linear>(channels, num_classes));
    apply([](Module& m) {
      if (auto* c = dynamic_cast<Conv2d*>(&m)) {
        init::kaiming_normal(c->weight.value(), init::FanMode::FanOut);
        if (c->bias.defined()) init::constant(c->bias.value(), 0.0);
      }
    });
  }

 private:
  std::string type_;
  std::vector<ModulePtr> stages_;
};

std::shared_ptr<Sequential> v4_stem(int64_t in_channels) {
  auto s = std::make_shared<Sequential>();
  s->push_back("conv1a", valid(in_channels, 32, 3, 2));  // 299 -> 149
  s->push_back("conv2a", valid(32, 32, 3));              // -> 147
  s->push_back("conv2b", same(32, 64, 3));
  s->push_back("mixed3a", std::make_shared<Mixed3a>());  // -> 73, 160
  s->push_back("mixed4a", std::make_shared<Mixed4a>());  // -> 71, 192
  s->push_back("mixed5a", std::make_shared<Mixed5a>());  // -> 35, 384
  return s;
}

class InceptionV4 : public InceptionNet {
 public:
  InceptionV4(int64_t in_channels, int64_t num_classes, double drop_rate)
      : InceptionNet("InceptionV4") {
    stage("stem", v4_stem(in_channels));
    stage("inception_a", repeat<InceptionA>(4));
    stage("reduction_a", std::make_shared<ReductionA>(384, 192, 224, 256, 384));
    stage("inception_b", repeat<InceptionB>(7));
    stage("reduction_b", std::make_shared<ReductionB>());
    stage("inception_c", repeat<InceptionC>(3));
    head(1536, num_classes, drop_rate);
  }
};

std::shared_ptr<Sequential> ir_v2_stem(int64_t in_channels) {
  auto s = std::make_shared<Sequential>();
  s->push_back("conv1a", valid(in_channels, 32, 3, 2));  // 299 -> 149
  s->push_back("conv2a", valid(32, 32, 3));              // -> 147
  s->push_back("conv2b", same(32, 64, 3));
  s->push_back("pool3a", std::make_shared<MaxPool2d>(3, 2));  // -> 73
  s->push_back("conv3b", same(64, 80, 1));
  s->push_back("conv4a", valid(80, 192, 3));                  // -> 71
  s->push_back("pool5a", std::make_shared<MaxPool2d>(3, 2));  // -> 35
  s->push_back("mixed5b", std::make_shared<Mixed5b>());       // 320 channels
  return s;
}

class InceptionResNetV2 : public InceptionNet {
 public:
  InceptionResNetV2(int64_t in_channels, int64_t num_classes, double drop_rate)
      : InceptionNet("InceptionResNetV2") {
    stage("stem", ir_v2_stem(in_channels));
    stage("inception_resnet_a", repeat<Block35>(10, 0.17));
    stage("reduction_a", std::make_shared<ReductionA>(320, 256, 256, 384, 384));
    stage("inception_resnet_b", repeat<Block17>(20, 0.10));
    stage("reduction_b", std::make_shared<Mixed7a>());
    auto c = repeat<Block8>(9, 0.20, true);
    c->push_back(std::make_shared<Block8>(1.0, false));  // last block: no scale, no ReLU
    stage("inception_resnet_c", c);
    stage("conv7b", same(2080, 1536, 1));
    head(1536, num_classes, drop_rate);
  }
};

}  // namespace

nn::ModulePtr inception_v4(const ModelSpec& spec) {
  return std::make_shared<InceptionV4>(spec.in_channels, spec.num_classes,
                                       spec.get_double("drop_rate", 0.2));
}

nn::ModulePtr inception_resnet_v2(const ModelSpec& spec) {
  return std::make_shared<InceptionResNetV2>(spec.in_channels, spec.num_classes,
                                             spec.get_double("drop_rate", 0.2));
}

}  // namespace cnnzoo::models
