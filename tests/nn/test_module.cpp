// Module naming, state dicts, train/eval propagation, layer set-up and initialisation.
#include <gtest/gtest.h>

#include <cmath>

#include "cnnzoo/nn/init.hpp"
#include "cnnzoo/nn/layers.hpp"
#include "cnnzoo/nn/profile.hpp"

using namespace cnnzoo;
using namespace cnnzoo::nn;

namespace {
struct Block : Module {
  std::shared_ptr<Conv2d> conv1;
  std::shared_ptr<BatchNorm2d> bn1;
  Block() {
    Conv2dParams o;
    o.padding = 1;
    o.bias = false;
    conv1 = register_module("conv1", std::make_shared<Conv2d>(4, 4, 3, o));
    bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(4));
  }
  Var forward(const Var& x) override { return bn1->forward(conv1->forward(x)); }
};
struct Net : Module {
  std::shared_ptr<Sequential> layer1;
  std::shared_ptr<Linear> fc;
  Net() {
    layer1 = register_module("layer1", std::make_shared<Sequential>());
    layer1->push_back(std::make_shared<Block>());
    layer1->push_back(std::make_shared<Block>());
    fc = register_module("fc", std::make_shared<Linear>(4, 3));
  }
  Var forward(const Var& x) override { return fc->forward(x); }
};
}  // namespace

TEST(Module, DottedNamesLikePyTorch) {
  Net net;
  std::vector<std::string> names;
  for (auto& [n, t] : net.state_dict()) names.push_back(n);
  std::vector<std::string> expected = {"layer1.0.conv1.weight",
                                       "layer1.0.bn1.weight",
                                       "layer1.0.bn1.bias",
                                       "layer1.0.bn1.running_mean",
                                       "layer1.0.bn1.running_var",
                                       "layer1.0.bn1.num_batches_tracked",
                                       "layer1.1.conv1.weight",
                                       "layer1.1.bn1.weight",
                                       "layer1.1.bn1.bias",
                                       "layer1.1.bn1.running_mean",
                                       "layer1.1.bn1.running_var",
                                       "layer1.1.bn1.num_batches_tracked",
                                       "fc.weight",
                                       "fc.bias"};
  EXPECT_EQ(names, expected);
  EXPECT_EQ(net.named_parameters().size(), 8u);
  EXPECT_EQ(net.num_parameters(), 2 * (4 * 4 * 9 + 8) + 4 * 3 + 3);
}

TEST(Module, TrainEvalPropagates) {
  Net net;
  net.eval();
  for (auto& [n, m] : net.named_modules()) EXPECT_FALSE(m->is_training()) << n;
  net.train();
  for (auto& [n, m] : net.named_modules()) EXPECT_TRUE(m->is_training()) << n;
}

TEST(Module, LoadStateDictCopiesAndValidates) {
  Net a, b;
  b.load_state_dict(a.state_dict());
  auto sa = a.state_dict(), sb = b.state_dict();
  for (size_t i = 0; i < sa.size(); ++i) {
    ASSERT_EQ(sa[i].first, sb[i].first);
    for (int64_t k = 0; k < sa[i].second.numel(); ++k) ASSERT_EQ(sa[i].second[k], sb[i].second[k]);
    EXPECT_FALSE(sa[i].second.same_storage(sb[i].second));
  }
  auto bad = a.state_dict();
  bad[0].second = Tensor::zeros({1, 2});
  EXPECT_THROW(b.load_state_dict(bad), Error);
  auto missing = a.state_dict();
  missing.pop_back();
  EXPECT_THROW(b.load_state_dict(missing), Error);
  EXPECT_NO_THROW(b.load_state_dict(missing, /*strict=*/false));
  auto extra = a.state_dict();
  extra.emplace_back("nonexistent.weight", Tensor::zeros({1}));
  EXPECT_THROW(b.load_state_dict(extra), Error);
}

TEST(Module, DuplicateAndInvalidNamesRejected) {
  struct M : Module {
    Var forward(const Var& x) override { return x; }
    void add(const std::string& n) { register_parameter(n, Tensor::zeros({1})); }
  } m;
  m.add("w");
  EXPECT_THROW(m.add("w"), Error);
  EXPECT_THROW(m.add("a.b"), Error);
}

TEST(Layers, PyTorchDefaultInitBounds) {
  Conv2d conv(16, 32, 3);
  double bound = 1.0 / std::sqrt(16.0 * 9.0);
  for (float v : conv.weight.value()) ASSERT_LE(std::abs(v), bound + 1e-7);
  ASSERT_TRUE(conv.bias.defined());
  for (float v : conv.bias.value()) ASSERT_LE(std::abs(v), bound + 1e-7);
  BatchNorm2d bn(8);
  for (float v : bn.weight.value()) EXPECT_EQ(v, 1.f);
  for (float v : bn.running_var) EXPECT_EQ(v, 1.f);
  EXPECT_THROW(Conv2d(3, 8, 3,
                      [] {
                        Conv2dParams o;
                        o.groups = 2;
                        return o;
                      }()),
               Error);
}

TEST(Init, KaimingNormalStd) {
  Tensor w = Tensor::empty({256, 64, 3, 3});
  init::kaiming_normal(w, init::FanMode::FanOut);
  double s = 0, s2 = 0;
  for (float v : w) s += v, s2 += double(v) * v;
  double n = w.numel(), mean = s / n, var = s2 / n - mean * mean;
  EXPECT_NEAR(mean, 0.0, 0.002);
  EXPECT_NEAR(std::sqrt(var), std::sqrt(2.0 / (256 * 9)), 0.002);
}

TEST(Init, XavierUniformBound) {
  Tensor w = Tensor::empty({100, 50});
  init::xavier_uniform(w);
  double bound = std::sqrt(6.0 / 150.0), mx = 0;
  for (float v : w) mx = std::max(mx, double(std::abs(v)));
  EXPECT_LE(mx, bound);
  EXPECT_GT(mx, 0.95 * bound);
}

TEST(Profile, RecordsConvAndLinearMacs) {
  Net net;
  net.eval();
  NoGradGuard ng;
  ProfileScope scope;
  Var x(Tensor::zeros({2, 4, 5, 5}));
  net.layer1->forward(x);
  ASSERT_EQ(scope.records().size(), 4u);
  EXPECT_EQ(scope.records()[0].macs, 2 * 4 * 5 * 5 * 4 * 9);
  EXPECT_EQ(scope.records()[0].output, (Shape{2, 4, 5, 5}));
  EXPECT_EQ(scope.records()[1].macs, 0);
}
