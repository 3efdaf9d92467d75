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
// Common to both: every other convolution is conv (no bias) -> BN (eps 0.001, TF-slim's) ->
// ReLU; "V" (valid) convolutions and pools have no padding, the others pad to keep the size
// ("same"); in-module 3x3/1 average pools exclude the padding from the count, as TF "SAME"
// pooling does. No auxiliary head (the paper describes none for these networks; TF-slim's
// is optional). He initialisation (fan-out) for convolutions, zero biases, BN 1/0.
// Parameters for 1000 classes: inception-v4 42,679,816 (the ~42.7M usually quoted; BN
// counted with gamma and beta). Inception-ResNet-v2: inception_resnet_v2.cpp.
#include "cnnzoo/models/inception_v4.hpp"

#include "cnnzoo/models/inception_resnet_v2.hpp"

#include "cnnzoo/nn/init.hpp"
#include "cnnzoo/ops/pool.hpp"
#include "cnnzoo/ops/shape.hpp"
#include "models/paper.hpp"
#include "models/papers.hpp"

namespace cnnzoo::models {

// ---- units and branch modules (shared with Inception-ResNet-v2) ------------------------------

nn::ModulePtr same_unit(int64_t in, int64_t out, Size2 k) {
  return std::make_shared<nn::ConvBnAct>(
      nn::ConvBnActOptions(in, out, k).padding(Padding2d(k.h / 2, k.w / 2)).eps(1e-3));
}

nn::ModulePtr valid_unit(int64_t in, int64_t out, int64_t k, int64_t stride) {
  return std::make_shared<nn::ConvBnAct>(nn::ConvBnActOptions(in, out, k).stride(stride).eps(1e-3));
}

std::shared_ptr<nn::Sequential> chain(std::vector<nn::ModulePtr> units) {
  return std::make_shared<nn::Sequential>(std::move(units));
}

namespace {

Var max_pool_3x3_s2(const Var& x) {
  Pool2dOptions o;
  o.kernel_size = 3;
  o.stride = 2;
  return max_pool2d(x, o);
}

Var avg_pool_3x3_same(const Var& x) {
  Pool2dOptions o;
  o.kernel_size = 3;
  o.stride = 1;
  o.padding = 1;
  o.count_include_pad = false;
  return avg_pool2d(x, o);
}

}  // namespace

Var InceptionBranches::forward(const Var& x) {
  std::vector<Var> out;
  for (size_t i = 0; i < branches_.size(); ++i) {
    if (!branches_[i])
      out.push_back(max_pool_3x3_s2(x));
    else
      out.push_back(branches_[i]->forward(avg_first_[i] ? avg_pool_3x3_same(x) : x));
  }
  return concat(out);
}

InceptionBranches& InceptionBranches::branch(nn::ModulePtr m, bool avg_pool_first) {
  register_module("branch" + std::to_string(branches_.size()), m);
  branches_.push_back(std::move(m));
  avg_first_.push_back(avg_pool_first);
  return *this;
}

InceptionBranches& InceptionBranches::max_pool_branch() {
  branches_.push_back(nullptr);
  avg_first_.push_back(false);
  return *this;
}

ReductionA::ReductionA(int64_t in, int64_t k, int64_t l, int64_t m, int64_t n)
    : InceptionBranches("ReductionA") {
  branch(valid_unit(in, n, 3, 2));
  branch(chain({same_unit(in, k, 1), same_unit(k, l, 3), valid_unit(l, m, 3, 2)}));
  max_pool_branch();
}

Var InceptionNet::forward(const Var& x) {
  Var h = x;
  for (auto& s : stages_) h = s->forward(h);
  return fc->forward(dropout->forward(flatten(global_avg_pool2d(h))));
}

void InceptionNet::stage(const std::string& name, nn::ModulePtr m) {
  stages_.push_back(register_module(name, m));
}

void InceptionNet::head(int64_t channels, int64_t num_classes, double drop_rate) {
  dropout = register_module("dropout", std::make_shared<nn::Dropout>(drop_rate));
  fc = register_module("fc", std::make_shared<nn::Linear>(channels, num_classes));
  nn::init::kaiming_normal<nn::Conv2d>(*this, nn::init::FanMode::FanOut);
}

// ---- Inception-v4 ---------------------------------------------------------------------------

namespace {

// Figure 3: the stem's three branching steps (147 -> 73 -> 71 -> 35).
class Mixed3a : public InceptionBranches {
 public:
  Mixed3a() : InceptionBranches("Mixed3a") {
    max_pool_branch();
    branch(valid_unit(64, 96, 3, 2));
  }
};

class Mixed4a : public InceptionBranches {
 public:
  Mixed4a() : InceptionBranches("Mixed4a") {
    branch(chain({same_unit(160, 64, 1), valid_unit(64, 96, 3)}));
    branch(chain({same_unit(160, 64, 1), same_unit(64, 64, {1, 7}), same_unit(64, 64, {7, 1}),
                  valid_unit(64, 96, 3)}));
  }
};

class Mixed5a : public InceptionBranches {
 public:
  Mixed5a() : InceptionBranches("Mixed5a") {
    branch(valid_unit(192, 192, 3, 2));
    max_pool_branch();
  }
};

// Figure 4: 35x35 module, 4 x 96 = 384 channels.
class InceptionA : public InceptionBranches {
 public:
  InceptionA() : InceptionBranches("InceptionA") {
    branch(same_unit(384, 96, 1));
    branch(chain({same_unit(384, 64, 1), same_unit(64, 96, 3)}));
    branch(chain({same_unit(384, 64, 1), same_unit(64, 96, 3), same_unit(96, 96, 3)}));
    branch(same_unit(384, 96, 1), /*avg_pool_first=*/true);
  }
};

// Figure 5: 17x17 module, 384 + 256 + 256 + 128 = 1024 channels.
class InceptionB : public InceptionBranches {
 public:
  InceptionB() : InceptionBranches("InceptionB") {
    branch(same_unit(1024, 384, 1));
    branch(
        chain({same_unit(1024, 192, 1), same_unit(192, 224, {1, 7}), same_unit(224, 256, {7, 1})}));
    branch(chain({same_unit(1024, 192, 1), same_unit(192, 192, {7, 1}), same_unit(192, 224, {1, 7}),
                  same_unit(224, 224, {7, 1}), same_unit(224, 256, {1, 7})}));
    branch(same_unit(1024, 128, 1), /*avg_pool_first=*/true);
  }
};

// Figure 8: 17 -> 8 grid reduction, 192 + 320 + 1024 = 1536 channels.
class ReductionB : public InceptionBranches {
 public:
  ReductionB() : InceptionBranches("ReductionB") {
    branch(chain({same_unit(1024, 192, 1), valid_unit(192, 192, 3, 2)}));
    branch(chain({same_unit(1024, 256, 1), same_unit(256, 256, {1, 7}), same_unit(256, 320, {7, 1}),
                  valid_unit(320, 320, 3, 2)}));
    max_pool_branch();
  }
};

// Figure 6: 8x8 module whose two inner branches split into parallel 1x3 and 3x1 filters;
// 256 + 2 x 256 + 2 x 256 + 256 = 1536 channels.
class InceptionC : public nn::Module {
 public:
  InceptionC() {
    branch0 = register_module("branch0", same_unit(1536, 256, 1));
    branch1_0 = register_module("branch1_0", same_unit(1536, 384, 1));
    branch1_1a = register_module("branch1_1a", same_unit(384, 256, {1, 3}));
    branch1_1b = register_module("branch1_1b", same_unit(384, 256, {3, 1}));
    branch2_0 = register_module(
        "branch2_0",
        chain({same_unit(1536, 384, 1), same_unit(384, 448, {3, 1}), same_unit(448, 512, {1, 3})}));
    branch2_1a = register_module("branch2_1a", same_unit(512, 256, {1, 3}));
    branch2_1b = register_module("branch2_1b", same_unit(512, 256, {3, 1}));
    branch3 = register_module("branch3", same_unit(1536, 256, 1));
  }
  Var forward(const Var& x) override {
    Var b1 = branch1_0->forward(x);
    Var b2 = branch2_0->forward(x);
    return concat(std::vector<Var>{
        branch0->forward(x), branch1_1a->forward(b1), branch1_1b->forward(b1),
        branch2_1a->forward(b2), branch2_1b->forward(b2), branch3->forward(avg_pool_3x3_same(x))});
  }
  std::string type_name() const override { return "InceptionC"; }
  nn::ModulePtr branch0, branch1_0, branch1_1a, branch1_1b, branch2_0, branch2_1a, branch2_1b,
      branch3;
};

class InceptionV4 : public InceptionNet {
 public:
  InceptionV4(int64_t in_channels, int64_t num_classes, double drop_rate)
      : InceptionNet("InceptionV4") {
    auto stem = std::make_shared<nn::Sequential>();
    stem->push_back("conv1a", valid_unit(in_channels, 32, 3, 2));  // 299 -> 149
    stem->push_back("conv2a", valid_unit(32, 32, 3));              // -> 147
    stem->push_back("conv2b", same_unit(32, 64, 3));
    stem->push_back("mixed3a", std::make_shared<Mixed3a>());  // -> 73, 160
    stem->push_back("mixed4a", std::make_shared<Mixed4a>());  // -> 71, 192
    stem->push_back("mixed5a", std::make_shared<Mixed5a>());  // -> 35, 384
    stage("stem", stem);
    stage("inception_a", repeat<InceptionA>(4));
    stage("reduction_a", std::make_shared<ReductionA>(384, 192, 224, 256, 384));
    stage("inception_b", repeat<InceptionB>(7));
    stage("reduction_b", std::make_shared<ReductionB>());
    stage("inception_c", repeat<InceptionC>(3));
    head(1536, num_classes, drop_rate);
  }
};

}  // namespace

nn::ModulePtr build_inception_v4(const ModelSpec& spec, const InceptionV4Config& config) {
  return std::make_shared<InceptionV4>(spec.in_channels, spec.num_classes, config.drop_rate);
}

std::vector<ModelInfo> inception_v4_models() {
  using C = InceptionV4Config;
  const Paper paper{
      "Inception-v4, Inception-ResNet and the Impact of Residual Connections on Learning",
      "Szegedy et al.", 2016, "1602.07261", "inception_v4"};
  const auto options =
      Options<C>().real("drop_rate", &C::drop_rate, 0.0, 0.99, "dropout before the fc");
  // Inception-ResNet-v2 (inception_resnet_v2.cpp) is the same paper's second network.
  return {
      model_row(paper, "inception-v4", imagenet_input(299), "", options, C{}, build_inception_v4),
      model_row(paper, "inception-resnet-v2", imagenet_input(299), "", options, C{},
                build_inception_resnet_v2)};
}

}  // namespace cnnzoo::models
