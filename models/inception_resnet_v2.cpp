// Inception-ResNet-v2: Szegedy, Ioffe, Vanhoucke & Alemi, "Inception-v4, Inception-ResNet and
// the Impact of Residual Connections on Learning" (2016, arXiv:1602.07261), on the units and
// branch modules of inception_v4.cpp (conv -> BN eps 0.001 -> ReLU, TF-slim's "same" and
// "valid" convolutions; He fan-out init).
//
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
// Parameters for 1000 classes: 55,843,464 (the ~55.8M usually quoted).
#include "cnnzoo/models/inception_resnet_v2.hpp"

#include "cnnzoo/ops/activation.hpp"
#include "cnnzoo/ops/arith.hpp"
#include "cnnzoo/ops/shape.hpp"

namespace cnnzoo::models {

InceptionResNetBlock::InceptionResNetBlock(std::string type, double residual_scale, bool activate)
    : residual_scale(residual_scale), activate(activate), type_(std::move(type)) {}

Var InceptionResNetBlock::forward(const Var& x) {
  std::vector<Var> out;
  for (auto& b : branches_) out.push_back(b->forward(x));
  Var h = add(x, scale(up->forward(concat(out)), residual_scale));
  return activate ? relu(h) : h;
}

void InceptionResNetBlock::branch(nn::ModulePtr m) {
  register_module("branch" + std::to_string(branches_.size()), m);
  branches_.push_back(std::move(m));
}

void InceptionResNetBlock::up_projection(int64_t in, int64_t out) {
  up = register_module("up", std::make_shared<nn::Conv2d>(nn::Conv2dOptions(in, out, 1)));
}

Block35::Block35(double s) : InceptionResNetBlock("Block35", s, true) {
  branch(same_unit(320, 32, 1));
  branch(chain({same_unit(320, 32, 1), same_unit(32, 32, 3)}));
  branch(chain({same_unit(320, 32, 1), same_unit(32, 48, 3), same_unit(48, 64, 3)}));
  up_projection(128, 320);
}

Block17::Block17(double s) : InceptionResNetBlock("Block17", s, true) {
  branch(same_unit(1088, 192, 1));
  branch(
      chain({same_unit(1088, 128, 1), same_unit(128, 160, {1, 7}), same_unit(160, 192, {7, 1})}));
  up_projection(384, 1088);
}

Block8::Block8(double s, bool activate) : InceptionResNetBlock("Block8", s, activate) {
  branch(same_unit(2080, 192, 1));
  branch(
      chain({same_unit(2080, 192, 1), same_unit(192, 224, {1, 3}), same_unit(224, 256, {3, 1})}));
  up_projection(448, 2080);
}

namespace {

// TF-slim's Mixed_5b: an Inception-v3 35x35 module taking the stem to 320 channels.
nn::ModulePtr mixed_5b() {
  auto m = std::make_shared<InceptionBranches>("Mixed5b");
  m->branch(same_unit(192, 96, 1))
      .branch(chain({same_unit(192, 48, 1), same_unit(48, 64, 5)}))
      .branch(chain({same_unit(192, 64, 1), same_unit(64, 96, 3), same_unit(96, 96, 3)}))
      .branch(same_unit(192, 64, 1), /*avg_pool_first=*/true);
  return m;
}

// TF-slim's Mixed_7a: 17 -> 8 reduction, 384 + 288 + 320 + 1088 = 2080 channels.
nn::ModulePtr mixed_7a() {
  auto m = std::make_shared<InceptionBranches>("Mixed7a");
  m->branch(chain({same_unit(1088, 256, 1), valid_unit(256, 384, 3, 2)}))
      .branch(chain({same_unit(1088, 256, 1), valid_unit(256, 288, 3, 2)}))
      .branch(chain({same_unit(1088, 256, 1), same_unit(256, 288, 3), valid_unit(288, 320, 3, 2)}))
      .max_pool_branch();
  return m;
}

class InceptionResNetV2 : public InceptionNet {
 public:
  InceptionResNetV2(int64_t in_channels, int64_t num_classes, double drop_rate)
      : InceptionNet("InceptionResNetV2") {
    auto stem = std::make_shared<nn::Sequential>();
    stem->push_back("conv1a", valid_unit(in_channels, 32, 3, 2));  // 299 -> 149
    stem->push_back("conv2a", valid_unit(32, 32, 3));              // -> 147
    stem->push_back("conv2b", same_unit(32, 64, 3));
    stem->push_back("pool3a", std::make_shared<nn::MaxPool2d>(3, 2));  // -> 73
    stem->push_back("conv3b", same_unit(64, 80, 1));
    stem->push_back("conv4a", valid_unit(80, 192, 3));                 // -> 71
    stem->push_back("pool5a", std::make_shared<nn::MaxPool2d>(3, 2));  // -> 35
    stem->push_back("mixed5b", mixed_5b());                            // 320 channels
    stage("stem", stem);
    stage("inception_resnet_a", repeat<Block35>(10, 0.17));
    stage("reduction_a", std::make_shared<ReductionA>(320, 256, 256, 384, 384));
    stage("inception_resnet_b", repeat<Block17>(20, 0.10));
    stage("reduction_b", mixed_7a());
    auto c = repeat<Block8>(9, 0.20, true);
    c->push_back(std::make_shared<Block8>(1.0, false));  // last block: no scale, no ReLU
    stage("inception_resnet_c", c);
    stage("conv7b", same_unit(2080, 1536, 1));
    head(1536, num_classes, drop_rate);
  }
};

}  // namespace

nn::ModulePtr build_inception_resnet_v2(const ModelSpec& spec, const InceptionV4Config& config) {
  return std::make_shared<InceptionResNetV2>(spec.in_channels, spec.num_classes, config.drop_rate);
}

}  // namespace cnnzoo::models
