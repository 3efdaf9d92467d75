// SGD update rule (against hand-computed PyTorch semantics) and learning-rate schedules.
#include <gtest/gtest.h>

#include <cmath>

#include "cnnzoo/optim/schedule.hpp"
#include "cnnzoo/optim/sgd.hpp"

using namespace cnnzoo;
using namespace cnnzoo::optim;

namespace {
Var param(std::vector<float> v, Shape s) {
  return Var(Tensor::from_vector(s, v), true);
}
void set_grad(Var& p, std::vector<float> g) {
  p.grad() = Tensor::from_vector(p.shape(), g);
}
}  // namespace

TEST(SGD, PlainStep) {
  Var w = param({1.f, 2.f}, {2, 1});
  SGD opt({{"w", w}}, {.lr = 0.5});
  set_grad(w, {1.f, -2.f});
  opt.step();
  EXPECT_FLOAT_EQ(w.value()[0], 0.5f);
  EXPECT_FLOAT_EQ(w.value()[1], 3.f);
}

TEST(SGD, MomentumWeightDecayTwoSteps) {
  // PyTorch: d = g + wd*w; buf = d (first), then m*buf + d; w -= lr*buf.
  Var w = param({1.f}, {1, 1});
  SGD opt({{"w", w}}, {.lr = 0.1, .momentum = 0.9, .weight_decay = 0.01});
  set_grad(w, {1.f});
  opt.step();  // d = 1.01, buf = 1.01, w = 1 - 0.101 = 0.899
  EXPECT_NEAR(w.value()[0], 0.899, 1e-6);
  set_grad(w, {1.f});
  opt.step();  // d = 1 + 0.00899 = 1.00899, buf = 0.909 + 1.00899 = 1.91799, w = 0.899 - 0.191799
  EXPECT_NEAR(w.value()[0], 0.899 - 0.191799, 1e-6);
}

TEST(SGD, NesterovStep) {
  Var w = param({1.f}, {1, 1});
  SGD opt({{"w", w}}, {.lr = 0.1, .momentum = 0.9, .nesterov = true});
  set_grad(w, {2.f});
  opt.step();  // buf = 2, d = 2 + 0.9*2 = 3.8, w = 1 - 0.38
  EXPECT_NEAR(w.value()[0], 0.62, 1e-6);
  set_grad(w, {1.f});
  opt.step();  // buf = 1.8 + 1 = 2.8, d = 1 + 2.52 = 3.52, w = 0.62 - 0.352
  EXPECT_NEAR(w.value()[0], 0.268, 1e-6);
}

TEST(SGD, BiasAndBnExemptFromDecay) {
  Var w = param({1.f, 1.f}, {1, 2});
  Var b = param({1.f}, {1});
  SGD opt({{"w", w}, {"b", b}}, {.lr = 1.0, .weight_decay = 0.5, .decay_bn_and_bias = false});
  set_grad(w, {0.f, 0.f});
  set_grad(b, {0.f});
  opt.step();
  EXPECT_FLOAT_EQ(w.value()[0], 0.5f);
  EXPECT_FLOAT_EQ(b.value()[0], 1.0f);
}

TEST(SGD, NoGradMeansNoUpdateAndStateRoundTrip) {
  Var w = param({1.f}, {1, 1});
  SGD opt({{"w", w}}, {.lr = 0.1, .momentum = 0.9, .weight_decay = 0.1});
  opt.step();
  EXPECT_FLOAT_EQ(w.value()[0], 1.f);
  EXPECT_TRUE(opt.state_dict().empty());
  set_grad(w, {1.f});
  opt.step();
  auto st = opt.state_dict();
  ASSERT_EQ(st.size(), 1u);
  EXPECT_EQ(st[0].first, "w.momentum_buffer");
  SGD other({{"w", w}}, {.lr = 0.1, .momentum = 0.9});
  other.load_state_dict(st);
  EXPECT_FLOAT_EQ(other.state_dict()[0].second[0], st[0].second[0]);
  EXPECT_THROW(other.load_state_dict({{"x.momentum_buffer", Tensor::zeros({1, 1})}}), Error);
  EXPECT_THROW(other.load_state_dict({{"w.momentum_buffer", Tensor::zeros({2})}}), Error);
  EXPECT_THROW(SGD({{"w", w}}, {.lr = 0.1, .nesterov = true}), Error);
}

TEST(Schedule, MultiStep) {
  MultiStepLR s(0.1, {150, 225});
  EXPECT_DOUBLE_EQ(s.lr({149, 0, 10}), 0.1);
  EXPECT_NEAR(s.lr({150, 0, 10}), 0.01, 1e-12);
  EXPECT_NEAR(s.lr({299, 9, 10}), 0.001, 1e-12);
  auto st = MultiStepLR::every(1.0, 30, 100, 0.5);
  EXPECT_DOUBLE_EQ(st.lr({95, 0, 1}), 0.125);
}

TEST(Schedule, CosineEndpoints) {
  CosineLR c(0.1, 10);
  EXPECT_DOUBLE_EQ(c.lr({0, 0, 100}), 0.1);
  EXPECT_NEAR(c.lr({5, 0, 100}), 0.05, 1e-12);
  EXPECT_NEAR(c.lr({9, 99, 100}), 0.1 * 0.5 * (1 + std::cos(M_PI * 9.99 / 10)), 1e-12);
}

TEST(Schedule, WarmupThenCosine) {
  auto s = make_schedule("cosine", 0.1, 15, 1.0);
  // Warm-up: iteration k (1-based) of 100 gets k/100 of 0.1.
  EXPECT_NEAR(s->lr({0, 0, 100}), 0.001, 1e-12);
  EXPECT_NEAR(s->lr({0, 99, 100}), 0.1, 1e-12);
  // Cosine from epoch 1 (0.1) to epoch 15 (0).
  EXPECT_NEAR(s->lr({1, 0, 100}), 0.1, 1e-12);
  EXPECT_NEAR(s->lr({8, 0, 100}), 0.05, 1e-12);
  EXPECT_THROW(make_schedule("linear-ish", 0.1, 10), Error);
}

TEST(Schedule, OneCycleShape) {
  OneCycleLR s(1.0, 10);
  EXPECT_NEAR(s.lr({0, 0, 1}), 1.0 / 25, 1e-12);
  EXPECT_NEAR(s.lr({3, 0, 1}), 1.0, 1e-12);
  EXPECT_NEAR(s.lr({10, 0, 1}), 1e-4, 1e-12);
  EXPECT_LT(s.lr({6, 0, 1}), 1.0);
}
