// The non-torchvision ImageNet designs (ZFNet, BN-Inception, Inception-v4,
// Inception-ResNet-v2, Xception, PReLU-net model A, SE-ResNet-50) and the CIFAR versions of
// BN-Inception, Xception and PReLU-net: exact parameter counts (derived in each model
// file), within 2% of the papers' numbers where a paper gives one, output shapes, a
// full-size training step with a finite, non-zero gradient for every parameter, and the
// classifier following num_classes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "cnnzoo/models.hpp"
#include "cnnzoo/nn/module.hpp"
#include "cnnzoo/nn/summary.hpp"
#include "cnnzoo/ops/loss.hpp"

using namespace cnnzoo;

namespace {

struct Expected {
  const char* name;
  int64_t params;    // exact, at the registry's default classes (1000 ImageNet, 10 CIFAR)
  double reference;  // the paper's (or the usual reimplementation's) count; 0: none
  int64_t out_grid;  // side of the last feature map at the default input size
};

const Expected kModels[] = {
    {"zfnet", 62357608, 0, 6},
    {"bn-inception", 11285224, 11.3e6, 7},
    {"bn-inception-cifar", 10262794, 0, 8},
    {"inception-v4", 42679816, 42.7e6, 8},
    {"inception-resnet-v2", 55843464, 55.8e6, 8},
    {"xception", 22855952, 22855952, 10},
    {"xception-cifar", 20827442, 0, 4},
    {"prelu-net-a", 150646216, 0, 9},
    {"prelu-net-cifar", 43836234, 0, 4},
    {"se-resnet50", 28088024, 28.1e6, 7},
};

nn::ModulePtr build(const std::string& name, int64_t classes = -1,
                    std::map<std::string, std::string> options = {}) {
  models::ModelSpec spec;
  spec.name = name;
  spec.num_classes = classes;
  spec.options = std::move(options);
  return models::build_model(spec);
}

// Deterministic input in [-1, 1).
Tensor input_tensor(const Shape& shape, uint32_t seed) {
  Tensor x = Tensor::empty(shape);
  uint32_t s = seed * 2654435761u + 1;
  for (int64_t i = 0; i < x.numel(); ++i) {
    s = s * 1664525u + 1013904223u;
    x[i] = static_cast<float>(s >> 8) / 8388608.0f - 1.0f;
  }
  return x;
}

void check_spatial_pyramid_pool(nn::Module& model) {
  // prelu-net-a's SPP on a 9x9 grid (its size at 224x224): levels 6, 3, 2, 1, each the max
  // over bins [floor(i*9/n), ceil((i+1)*9/n)), flattened channel-major, finer levels first.
  nn::Module* spp = nullptr;
  for (auto& [name, m] : model.named_modules())
    if (name == "spp") spp = m;
  ASSERT_NE(spp, nullptr);
  Tensor x = input_tensor({1, 2, 9, 9}, 13);
  Var y = spp->forward(Var(x, false));
  ASSERT_EQ(y.shape(), (Shape{1, 2 * 50}));
  int64_t k = 0;
  for (int64_t n : {6, 3, 2, 1})
    for (int64_t c = 0; c < 2; ++c)
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < n; ++j, ++k) {
          float best = -1e30f;
          for (int64_t h = i * 9 / n; h < ((i + 1) * 9 + n - 1) / n; ++h)
            for (int64_t w = j * 9 / n; w < ((j + 1) * 9 + n - 1) / n; ++w)
              best = std::max(best, x[(c * 9 + h) * 9 + w]);
          EXPECT_EQ(y.value()[k], best)
              << "level " << n << " channel " << c << " bin " << i << "," << j;
        }
}

}  // namespace

class ZooModel : public ::testing::TestWithParam<Expected> {};

TEST_P(ZooModel, ParametersShapesAndTrainingStep) {
  const Expected& e = GetParam();
  const std::string name = e.name;
  const models::ModelInfo& info = models::find_model(name);
  const bool cifar = info.dataset == "cifar";
  EXPECT_EQ(info.num_classes, cifar ? 10 : 1000);
  EXPECT_EQ(info.input_size,
            cifar ? 32
            : (name == "inception-v4" || name == "inception-resnet-v2" || name == "xception")
                ? 299
                : 224);
  auto model = build(name);

  EXPECT_EQ(model->num_parameters(), e.params) << name;
  if (e.reference > 0)
    EXPECT_LE(std::abs(double(model->num_parameters()) - e.reference), 0.02 * e.reference)
        << name << ": more than 2% from the reference count";

  // The summary sees the same parameters, and the last feature map has the expected grid.
  const int64_t s = info.input_size;
  nn::ModelSummary sum = nn::summarize(*model, {3, s, s});
  EXPECT_EQ(sum.params, e.params);
  EXPECT_EQ(sum.output, (Shape{info.num_classes}));
  bool found_grid = false;
  for (const auto& l : sum.layers)
    if (l.output.size() == 3 && l.output[1] == e.out_grid && l.output[2] == e.out_grid)
      found_grid = true;
  EXPECT_TRUE(found_grid) << name << ": no " << e.out_grid << "x" << e.out_grid << " feature map";

  // One training step at full input size, batch 1: every parameter gets a finite gradient,
  // and none is identically zero.
  model->train();
  Var x(input_tensor({1, 3, s, s}, 3), false);
  Var logits = model->forward(x);
  ASSERT_EQ(logits.shape(), (Shape{1, info.num_classes}));
  Var loss = cross_entropy(logits, std::vector<int64_t>{7});
  ASSERT_TRUE(std::isfinite(loss.value().item())) << name;
  EXPECT_TRUE(model->take_auxiliary_logits().empty());
  backward(loss);
  for (auto& [pname, p] : model->named_parameters()) {
    ASSERT_TRUE(p.grad().defined()) << name << ": no gradient for " << pname;
    bool finite = true, nonzero = false;
    for (float g : p.grad()) {
      finite = finite && std::isfinite(g);
      nonzero = nonzero || g != 0.0f;
    }
    EXPECT_TRUE(finite) << name << ": non-finite gradient in " << pname;
    EXPECT_TRUE(nonzero) << name << ": all-zero gradient in " << pname;
  }
  if (name == "prelu-net-a") check_spatial_pyramid_pool(*model);
}

INSTANTIATE_TEST_SUITE_P(All, ZooModel, ::testing::ValuesIn(kModels),
                         [](const ::testing::TestParamInfo<Expected>& info) {
                           std::string n = info.param.name;
                           for (char& c : n)
                             if (c == '-') c = '_';
                           return n;
                         });

// `--classes N` for the CIFAR versions: 100 classes add 90 rows to the classifier and
// nothing else.
TEST(ZooExtra, CifarVersionsTakeTheClassCount) {
  for (const Expected& e : kModels) {
    if (models::find_model(e.name).dataset != "cifar") continue;
    auto m = build(e.name, 100);
    int64_t fc_in = 0;
    for (auto& [key, t] : m->state_dict())
      if (t.dim() == 2) fc_in = t.size(1);  // the last 2-d weight is the classifier
    EXPECT_EQ(m->num_parameters(), e.params + 90 * (fc_in + 1)) << e.name;
    m->eval();
    NoGradGuard no_grad;
    Var y = m->forward(Var(input_tensor({2, 3, 32, 32}, 5), false));
    EXPECT_EQ(y.shape(), (Shape{2, 100})) << e.name;
  }
}

TEST(ZooExtra, SEReductionOption) {
  // r = 8 doubles the SE hidden widths: 2 * C * C/r + C/r + C per block.
  auto m = build("se-resnet50", -1, {{"se_reduction", "8"}});
  int64_t se = 0;
  const int64_t blocks[] = {3, 4, 6, 3};
  for (int i = 0; i < 4; ++i) {
    int64_t c = 256 << i;
    se += blocks[i] * (2 * c * (c / 8) + c / 8 + c);
  }
  EXPECT_EQ(m->num_parameters(), 25557032 + se);
  EXPECT_THROW(build("se-resnet50", -1, {{"se_reduction", "7"}}), Error);
  EXPECT_THROW(build("xception", -1, {{"se_reduction", "8"}}), Error);
}

TEST(ZooExtra, DropRateOptionIsHonoured) {
  // drop_rate 0 makes training-mode forwards repeatable (batch statistics are deterministic);
  // the default (0.5) does not.
  Tensor x = input_tensor({2, 3, 32, 32}, 1);
  auto repeatable = [&](const std::map<std::string, std::string>& opts) {
    auto m = build("prelu-net-cifar", -1, opts);
    m->train();
    NoGradGuard no_grad;
    Var a = m->forward(Var(x, false)), b = m->forward(Var(x, false));
    for (int64_t i = 0; i < a.value().numel(); ++i)
      if (a.value()[i] != b.value()[i]) return false;
    return true;
  };
  EXPECT_TRUE(repeatable({{"drop_rate", "0"}}));
  EXPECT_FALSE(repeatable({}));
}

TEST(ZooExtra, PReLUNetBatchNormOption) {
  // The CIFAR version has BN by default (conv biases dropped); batch_norm=false is the
  // paper's BN-free network.
  auto with_bn = build("prelu-net-cifar");
  auto without = build("prelu-net-cifar", -1, {{"batch_norm", "false"}});
  EXPECT_EQ(without->num_parameters(), 43829738);
  int64_t bn_layers = 0, conv_biases = 0;
  for (auto& [key, t] : with_bn->state_dict()) {
    if (key.find("_bn.running_mean") != std::string::npos) ++bn_layers;
    if (key.find("conv") != std::string::npos && key.find(".bias") != std::string::npos &&
        key.find("_bn.") == std::string::npos)
      ++conv_biases;
  }
  EXPECT_EQ(bn_layers, 16);
  EXPECT_EQ(conv_biases, 0);
  for (auto& [key, t] : without->state_dict()) EXPECT_EQ(key.find("_bn."), std::string::npos);
}

TEST(ZooExtra, XceptionSeparableConvolutions) {
  // Every separable convolution is a depthwise conv (groups = channels) then a 1x1, with no
  // BN between them: the module's only parameters are the two weights.
  auto m = build("xception");
  int64_t depthwise = 0;
  for (auto& [key, t] : m->state_dict()) {
    if (key.find("sepconv.depthwise.weight") != std::string::npos) {
      ++depthwise;
      EXPECT_EQ(t.size(1), 1) << key;
      EXPECT_EQ(t.size(2), 3) << key;
    }
    EXPECT_EQ(key.find("sepconv.depthwise.bias"), std::string::npos) << key;
    EXPECT_EQ(key.find("sepconv.bn"), std::string::npos) << key;
  }
  EXPECT_EQ(depthwise, 2 + 2 + 2 + 8 * 3 + 2 + 2);  // entry, middle, exit flows
}
