// The Inception family's distinctive behaviours: an Inception module's output is its branches
// concatenated in order; GoogLeNet's auxiliary heads (one class for both stems) run only in
// training; BN-Inception's stride-2 modules pass their input's max pool through; the
// Inception-ResNet-v2 blocks add a scaled residual, the last one unscaled and without ReLU.
#include <gtest/gtest.h>

#include "cnnzoo/models/bn_inception.hpp"
#include "cnnzoo/models/googlenet.hpp"
#include "cnnzoo/models/inception_resnet_v2.hpp"
#include "cnnzoo/models/inception_v3.hpp"
#include "cnnzoo/ops/activation.hpp"
#include "cnnzoo/ops/arith.hpp"
#include "cnnzoo/ops/pool.hpp"
#include "cnnzoo/ops/shape.hpp"
#include "cnnzoo/random.hpp"
#include "models/model_test.hpp"

using namespace cnnzoo;
using namespace cnnzoo::models;
using cnnzoo::testing::input_tensor;
using cnnzoo::testing::module_at;

namespace {

void expect_equal(const Tensor& a, const Tensor& b, double tol, const std::string& what) {
  ASSERT_EQ(a.shape(), b.shape()) << what;
  for (int64_t i = 0; i < a.numel(); ++i) ASSERT_NEAR(a[i], b[i], tol) << what << " at " << i;
}

Tensor run(nn::Module& m, const Tensor& x) {
  NoGradGuard no_grad;
  return m.forward(Var(x)).value();
}

}  // namespace

TEST(InceptionFamily, GoogLeNetModuleIsItsBranchesConcatenatedInOrder) {
  manual_seed(1);
  Inception m(8, 4, 3, 5, 2, 3, 6, /*kernel5x5=*/5);
  m.eval();
  EXPECT_EQ(m.out_channels(), 4 + 5 + 3 + 6);
  Tensor x = input_tensor({2, 8, 6, 6}, 3);
  Tensor want = run(m, x);
  std::vector<Var> parts;
  for (nn::Module* b : std::vector<nn::Module*>{m.branch1.get(), m.branch2.get(),
                                                m.branch3.get(), m.branch4.get()})
    parts.push_back(Var(run(*b, x)));
  expect_equal(want, concat(parts).value(), 0.0, "Inception = concat(branches)");
  // The "5x5" branch is a real 5x5 in the CIFAR form, torchvision's 3x3 otherwise.
  auto& k5 = dynamic_cast<nn::ConvBnAct&>((*m.branch3)[1]);
  EXPECT_EQ(k5.conv->kernel_size, Size2(5));
}

TEST(InceptionFamily, GoogLeNetAuxiliaryHeadsOnlyInTrainingForBothStems) {
  for (const char* name : {"googlenet", "googlenet-cifar"}) {
    SCOPED_TRACE(name);
    manual_seed(2);
    std::map<std::string, std::string> options = {{"aux_logits", "true"}};
    if (std::string(name) == "googlenet-cifar") options["width_scale"] = "0.25";
    auto model = cnnzoo::testing::build(name, 10, options);
    auto* g = dynamic_cast<GoogLeNet*>(model.get());
    ASSERT_NE(g, nullptr) << "both forms are one class";
    ASSERT_TRUE(g->aux1 && g->aux2);
    EXPECT_EQ(g->aux1->type_name(), "InceptionAux");
    const int64_t size = std::string(name) == "googlenet" ? 96 : 32;
    Tensor x = input_tensor({2, 3, size, size}, 4);
    g->train();
    g->forward(Var(x));
    auto aux = g->take_auxiliary_logits();
    ASSERT_EQ(aux.size(), 2u);
    EXPECT_EQ(aux[0].shape(), (Shape{2, 10}));
    EXPECT_TRUE(g->take_auxiliary_logits().empty()) << "taken once";
    g->eval();
    run(*g, x);
    EXPECT_TRUE(g->take_auxiliary_logits().empty()) << "no auxiliary logits in eval mode";
  }
  // The ImageNet stem pools twice, the CIFAR stem not at all.
  auto imagenet = cnnzoo::testing::build("googlenet");
  auto cifar = cnnzoo::testing::build("googlenet-cifar", 10, {{"width_scale", "0.25"}});
  EXPECT_TRUE(dynamic_cast<GoogLeNet&>(*imagenet).maxpool1);
  EXPECT_FALSE(dynamic_cast<GoogLeNet&>(*cifar).maxpool1);
  EXPECT_FALSE(dynamic_cast<GoogLeNet&>(*cifar).maxpool2);
}

TEST(InceptionFamily, BNInceptionStride2ModulesPassTheMaxPoolThrough) {
  manual_seed(3);
  auto model = cnnzoo::testing::build("bn-inception-cifar", 10, {{"width_scale", "0.125"}});
  model->eval();
  auto& net = dynamic_cast<BNInception&>(*model);
  int checked = 0;
  for (auto& [name, child] : net.inception->named_children()) {
    auto& m = dynamic_cast<BNInceptionModule&>(*child);
    if (m.spec.stride != 2) {
      EXPECT_TRUE(m.branch1x1 && m.branch_pool) << name;
      continue;
    }
    SCOPED_TRACE(name);  // 3c and 4e
    EXPECT_FALSE(m.branch1x1);
    EXPECT_FALSE(m.branch_pool);
    const int64_t in = m.branch3x3_1->conv->in_channels;
    Tensor x = input_tensor({2, in, 8, 8}, 5);
    Tensor y = run(m, x);
    Pool2dOptions o;
    o.kernel_size = 3;
    o.stride = 2;
    o.padding = 1;
    Tensor pooled = max_pool2d(Var(x), o).value();
    const int64_t c = y.size(1);
    expect_equal(slice(Var(y), 1, c - in, c).value(), pooled, 0.0, "the last channels");
    ++checked;
  }
  EXPECT_EQ(checked, 2);
}

TEST(InceptionFamily, InceptionResNetBlocksAddAScaledResidualAndTheLastIsLinear) {
  manual_seed(4);
  for (double s : {0.17, 1.0}) {
    Block35 block(s);
    block.eval();
    EXPECT_DOUBLE_EQ(block.residual_scale, s);
    Tensor x = input_tensor({1, 320, 5, 5}, 6);
    std::vector<Var> branches;
    for (const char* b : {"branch0", "branch1", "branch2"})
      branches.push_back(Var(run(module_at(block, b), x)));
    Tensor up = run(*block.up, concat(branches).value());
    Var want = relu(add(Var(x), scale(Var(up), s)));
    expect_equal(run(block, x), want.value(), 1e-5, "relu(x + s * up(concat(branches)))");
  }
  Block8 last(1.0, /*activate=*/false);
  last.eval();
  Tensor x = input_tensor({1, 2080, 3, 3}, 7);
  Tensor y = run(last, x);
  bool negative = false;
  for (float v : y) negative = negative || v < 0;
  EXPECT_TRUE(negative) << "no ReLU after the last block";
  // The network: 10 x 0.17, 20 x 0.10, 9 x 0.20 and a last unscaled block without ReLU.
  auto net = cnnzoo::testing::build("inception-resnet-v2");
  std::map<std::string, std::vector<std::pair<double, bool>>> seen;
  for (auto& [name, m] : net->named_modules())
    if (auto* b = dynamic_cast<InceptionResNetBlock*>(m))
      seen[b->type_name()].push_back({b->residual_scale, b->activate});
  ASSERT_EQ(seen["Block35"].size(), 10u);
  ASSERT_EQ(seen["Block17"].size(), 20u);
  ASSERT_EQ(seen["Block8"].size(), 10u);
  for (auto [scale_, act] : seen["Block35"]) EXPECT_TRUE(scale_ == 0.17 && act);
  for (auto [scale_, act] : seen["Block17"]) EXPECT_TRUE(scale_ == 0.10 && act);
  for (size_t i = 0; i < 9; ++i)
    EXPECT_TRUE(seen["Block8"][i].first == 0.20 && seen["Block8"][i].second);
  EXPECT_EQ(seen["Block8"][9], std::make_pair(1.0, false));
}

TEST(InceptionFamily, InceptionV3ModulesConcatenateTheirBranches) {
  manual_seed(5);
  InceptionV3Module::Width w = [](int64_t c) { return c / 16; };
  InceptionA a(8, 32, w);
  a.eval();
  Tensor x = input_tensor({1, 8, 7, 7}, 8);
  Tensor y = run(a, x);
  EXPECT_EQ(y.size(1), a.out_channels);
  // The first branch is the 1x1 unit on the input.
  expect_equal(slice(Var(y), 1, 0, 4).value(), run(*a.branch1x1, x), 0.0, "branch1x1 first");
  // The pool branch (last) starts with a 3x3 average that counts the padding.
  Pool2dOptions o;
  o.kernel_size = 3;
  o.stride = 1;
  o.padding = 1;
  Tensor bp = run(*a.branch_pool, avg_pool2d(Var(x), o).value());
  expect_equal(slice(Var(y), 1, y.size(1) - bp.size(1), y.size(1)).value(), bp, 0.0,
               "pool branch last");
}
