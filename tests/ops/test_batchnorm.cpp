// Batch norm (train/eval, running statistics, affine or not) and local response norm:
// hand-computed cases, error cases and double-precision gradient checks.
#include <gtest/gtest.h>

#include <cmath>

#include "cnnzoo/ops/activation.hpp"
#include "cnnzoo/ops/batchnorm.hpp"
#include "cnnzoo/testing/gtest.hpp"

using namespace cnnzoo;
using cnnzoo::testing::gradcheck;
using cnnzoo::testing::GradcheckOptions;
using cnnzoo::testing::random_tensor;

namespace {

TensorD vals(Shape shape, const std::vector<double>& v) {
  return TensorD::from_vector(std::move(shape), v);
}

void expect_near_all(const TensorD& got, const std::vector<double>& want, double tol = 1e-12) {
  ASSERT_EQ(got.numel(), static_cast<int64_t>(want.size()));
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "element " << i;
}

}  // namespace

// ---- batch norm: forward and running statistics -------------------------------------------

TEST(BatchNorm, Train2dHandComputed) {
  // Channel 0 holds {1, 3}: mean 2, biased var 1. Channel 1 holds {2, 6}: mean 4, var 4.
  TensorD x = vals({2, 2}, {1, 2, 3, 6});
  VarD w(vals({2}, {2, 0.5})), b(vals({2}, {1, -1}));
  TensorD rm = vals({2}, {0, 1}), rv = vals({2}, {1, 1});
  VarD y = batch_norm(VarD(x), w, b, rm, rv, /*training=*/true, 0.1, /*eps=*/0.0);
  // Normalised: channel 0 {-1, 1}, channel 1 {-1, 1}; then * gamma + beta.
  expect_near_all(y.value(), {-1, -1.5, 3, -0.5});
  // running = 0.9 * running + 0.1 * batch, with the unbiased variance (n - 1 = 1):
  // channel 0: var 2, channel 1: var 8.
  expect_near_all(rm, {0.2, 1.3});
  expect_near_all(rv, {1.1, 1.7});
}

TEST(BatchNorm, Train4dRunningStatsAndEval) {
  // x [2, 2, 1, 2]. Channel 0: {0, 4, 4, 0}, mean 2, biased var 4, unbiased 16/3.
  // Channel 1: {3, 5, 3, 5}, mean 4, biased var 1, unbiased 4/3.
  TensorD x = vals({2, 2, 1, 2}, {0, 4, 3, 5, 4, 0, 3, 5});
  TensorD rm = vals({2}, {0, 0}), rv = vals({2}, {1, 1});
  VarD y = batch_norm(VarD(x), VarD(), VarD(), rm, rv, true, /*momentum=*/0.5, /*eps=*/0.0);
  expect_near_all(y.value(), {-1, 1, -1, 1, 1, -1, -1, 1});
  expect_near_all(rm, {1, 2});
  expect_near_all(rv, {0.5 + 0.5 * 16.0 / 3.0, 0.5 + 0.5 * 4.0 / 3.0});  // {19/6, 7/6}

  // Eval uses the running estimates and leaves them alone.
  TensorD x2 = vals({1, 2, 1, 2}, {1, 4, 2, 0});
  VarD w(vals({2}, {3, 1})), b(vals({2}, {0, 10}));
  VarD e = batch_norm(VarD(x2), w, b, rm, rv, false, 0.5, 0.0);
  const double s0 = std::sqrt(19.0 / 6.0), s1 = std::sqrt(7.0 / 6.0);
  expect_near_all(e.value(),
                  {3 * (1 - 1) / s0, 3 * (4 - 1) / s0, (2 - 2) / s1 + 10, (0 - 2) / s1 + 10});
  expect_near_all(rm, {1, 2});
  expect_near_all(rv, {19.0 / 6.0, 7.0 / 6.0});
}

TEST(BatchNorm, EpsEntersUnderTheSquareRoot) {
  TensorD x = vals({2, 1}, {1, 3});  // biased var 1
  VarD y = batch_norm(VarD(x), VarD(), VarD(), TensorD(), TensorD(), true, 0.1, 0.25);
  expect_near_all(y.value(), {-1 / std::sqrt(1.25), 1 / std::sqrt(1.25)});
}

TEST(BatchNorm, TrainingWithoutRunningStats) {
  Generator g(11);
  TensorD x = random_tensor({3, 4, 2, 3}, g);
  TensorD rm = TensorD::zeros({4}), rv = TensorD::ones({4});
  VarD a = batch_norm(VarD(x), VarD(), VarD(), rm, rv, true);
  VarD b = batch_norm(VarD(x), VarD(), VarD(), TensorD(), TensorD(), true);
  expect_near_all(b.value(), a.value().to_vector(), 0);
}

TEST(BatchNorm, NormalisedOutputHasZeroMeanUnitVariance) {
  Generator g(12);
  TensorD x = random_tensor({5, 3, 4, 4}, g, -2, 7);
  VarD y = batch_norm(VarD(x), VarD(), VarD(), TensorD(), TensorD(), true, 0.1, 0.0);
  for (int64_t c = 0; c < 3; ++c) {
    double s = 0, s2 = 0;
    for (int64_t n = 0; n < 5; ++n)
      for (int64_t i = 0; i < 16; ++i) {
        const double v = y.value()[(n * 3 + c) * 16 + i];
        s += v;
        s2 += v * v;
      }
    EXPECT_NEAR(s / 80, 0, 1e-12);
    EXPECT_NEAR(s2 / 80, 1, 1e-12);
  }
}

TEST(BatchNorm, FloatLargeMeanKeepsPrecision) {
  // mean 1000, std ~0.01: naive float sums of x^2 would lose the variance entirely.
  Generator g(13);
  TensorD xd = random_tensor({8, 2, 6, 6}, g, -0.02, 0.02);
  for (auto& v : xd) v += 1000;
  Tensor xf = tensor_cast<float>(xd);
  TensorD seed = random_tensor(xd.shape(), g);
  VarD x(tensor_cast<double>(xf), true);
  Var xv(xf, true);
  VarD exact = batch_norm(x, VarD(), VarD(), TensorD(), TensorD(), true, 0.1, 0.0);
  Var yf = batch_norm(xv, Var(), Var(), Tensor(), Tensor(), true, 0.1, 0.0);
  backward(exact, seed);
  backward(yf, tensor_cast<float>(seed));
  for (int64_t i = 0; i < xf.numel(); ++i) {
    ASSERT_NEAR(yf.value()[i], exact.value()[i], 2e-6) << i;
    // Gradients are ~1/std = 100 times larger than the seed.
    ASSERT_NEAR(xv.grad()[i], x.grad()[i], 2e-4) << i;
  }
}

TEST(BatchNorm, FloatMatchesDoubleForwardAndBackward) {
  Generator g(14);
  TensorD xd = random_tensor({4, 3, 5, 5}, g, -1, 3);
  TensorD wd = random_tensor({3}, g, 0.5, 1.5), bd = random_tensor({3}, g);
  TensorD seed = random_tensor({4, 3, 5, 5}, g);
  for (bool training : {true, false}) {
    TensorD rmd = vals({3}, {0.1, -0.2, 0.3}), rvd = vals({3}, {0.5, 1.0, 2.0});
    Tensor rmf = tensor_cast<float>(rmd), rvf = tensor_cast<float>(rvd);
    VarD x(xd.clone(), true), w(wd.clone(), true), b(bd.clone(), true);
    Var xf(tensor_cast<float>(xd), true), wf(tensor_cast<float>(wd), true),
        bf(tensor_cast<float>(bd), true);
    VarD y = batch_norm(x, w, b, rmd, rvd, training);
    Var yf = batch_norm(xf, wf, bf, rmf, rvf, training);
    backward(y, seed);
    backward(yf, tensor_cast<float>(seed));
    for (int64_t i = 0; i < y.value().numel(); ++i) {
      ASSERT_NEAR(yf.value()[i], y.value()[i], 1e-5);
      ASSERT_NEAR(xf.grad()[i], x.grad()[i], 1e-4);
    }
    for (int64_t c = 0; c < 3; ++c) {
      EXPECT_NEAR(wf.grad()[c], w.grad()[c], 1e-3);
      EXPECT_NEAR(bf.grad()[c], b.grad()[c], 1e-3);
      EXPECT_NEAR(rmf[c], rmd[c], 1e-6);
      EXPECT_NEAR(rvf[c], rvd[c], 1e-6);
    }
  }
}

TEST(BatchNorm, EvalBackwardIsAffine) {
  // In eval the statistics are constants: dx = dy * gamma / sqrt(running_var + eps).
  TensorD rm = vals({2}, {0.5, -1}), rv = vals({2}, {3, 0});
  VarD x(vals({1, 2}, {2, 7}), true), w(vals({2}, {2, 5}), true), b(vals({2}, {0, 0}), true);
  backward(batch_norm(x, w, b, rm, rv, false, 0.1, 1.0), vals({1, 2}, {1, 1}));
  expect_near_all(x.grad(), {2 / 2.0, 5 / 1.0});
  expect_near_all(w.grad(), {(2 - 0.5) / 2.0, (7 + 1) / 1.0});
  expect_near_all(b.grad(), {1, 1});
}

TEST(BatchNorm, Errors) {
  VarD x(TensorD::zeros({2, 3, 4, 4}));
  TensorD rm = TensorD::zeros({3}), rv = TensorD::ones({3});
  VarD w3(TensorD::ones({3})), w4(TensorD::ones({4}));
  EXPECT_THROW(batch_norm(VarD(TensorD::zeros({2, 3, 4})), VarD(), VarD(), rm, rv, true), Error);
  EXPECT_THROW(batch_norm(VarD(TensorD::zeros({6})), VarD(), VarD(), rm, rv, true), Error);
  EXPECT_THROW(batch_norm(x, w4, w3, rm, rv, true), Error);
  EXPECT_THROW(batch_norm(x, w3, w4, rm, rv, true), Error);
  EXPECT_THROW(batch_norm(x, w3, w3, TensorD::zeros({4}), rv, true), Error);
  EXPECT_THROW(batch_norm(x, w3, w3, rm, TensorD::ones({3, 1}), true), Error);
  EXPECT_THROW(batch_norm(x, w3, w3, rm, TensorD(), true), Error);
  EXPECT_THROW(batch_norm(x, w3, w3, TensorD(), TensorD(), false), Error);
  // One value per channel has no batch variance (PyTorch refuses too); eval is fine.
  EXPECT_THROW(batch_norm(VarD(TensorD::zeros({1, 3})), w3, w3, rm, rv, true), Error);
  EXPECT_NO_THROW(batch_norm(VarD(TensorD::zeros({1, 3})), w3, w3, rm, rv, false));
  EXPECT_THROW(batch_norm(x, w3, w3, rm, rv, true, 0.1, -1e-5), Error);
  EXPECT_THROW(batch_norm(x, w3, w3, rm, rv, true, 1.5), Error);
  // A failed call must not have touched the running statistics.
  EXPECT_EQ(rm.to_vector(), std::vector<double>(3, 0.0));
  EXPECT_EQ(rv.to_vector(), std::vector<double>(3, 1.0));
}

// ---- batch norm: gradient checks ----------------------------------------------------------

namespace {

// batch_norm, or batch_norm_relu when `relu` (the fused op, checked the same way).
VarD bn_op(bool relu, const VarD& x, const VarD& w, const VarD& b, TensorD rm, TensorD rv,
           bool training) {
  return (relu ? batch_norm_relu<double> : batch_norm<double>)(x, w, b, rm, rv, training, 0.1,
                                                               1e-5);
}

// Gradient check of batch_norm in training mode; weight/bias are inputs 1 and 2 when affine.
::testing::AssertionResult check_bn_train(const Shape& shape, bool affine, uint64_t seed,
                                          bool relu = false) {
  Generator g(seed);
  const int64_t c = shape[1];
  std::vector<TensorD> inputs{random_tensor(shape, g, -1, 2)};
  if (affine) {
    inputs.push_back(random_tensor({c}, g, 0.5, 1.5));
    inputs.push_back(random_tensor({c}, g));
  }
  return cnnzoo::testing::passed(gradcheck(
      [affine, c, relu](const std::vector<VarD>& v) {
        // Running statistics are updated but do not affect the training output.
        TensorD rm = TensorD::zeros({c}), rv = TensorD::ones({c});
        return bn_op(relu, v[0], affine ? v[1] : VarD(), affine ? v[2] : VarD(), rm, rv, true);
      },
      inputs));
}

::testing::AssertionResult check_bn_eval(const Shape& shape, bool affine, uint64_t seed,
                                         bool relu = false) {
  Generator g(seed);
  const int64_t c = shape[1];
  TensorD rm = random_tensor({c}, g), rv = random_tensor({c}, g, 0.2, 2);
  std::vector<TensorD> inputs{random_tensor(shape, g, -1, 2)};
  if (affine) {
    inputs.push_back(random_tensor({c}, g, 0.5, 1.5));
    inputs.push_back(random_tensor({c}, g));
  }
  return cnnzoo::testing::passed(gradcheck(
      [affine, rm, rv, relu](const std::vector<VarD>& v) {
        return bn_op(relu, v[0], affine ? v[1] : VarD(), affine ? v[2] : VarD(), rm, rv, false);
      },
      inputs));
}

}  // namespace

TEST(GradCheck, BatchNorm_Train4d) {
  EXPECT_TRUE(check_bn_train({3, 2, 3, 4}, true, 1));
  EXPECT_TRUE(check_bn_train({2, 3, 1, 5}, true, 2));
}

TEST(GradCheck, BatchNorm_Train4dNoAffine) {
  EXPECT_TRUE(check_bn_train({3, 2, 3, 4}, false, 3));
}

TEST(GradCheck, BatchNorm_Train2d) {
  EXPECT_TRUE(check_bn_train({5, 3}, true, 4));
  EXPECT_TRUE(check_bn_train({2, 4}, true, 5));  // two samples per channel
}

TEST(GradCheck, BatchNorm_Train2dNoAffine) {
  EXPECT_TRUE(check_bn_train({6, 3}, false, 6));
}

TEST(GradCheck, BatchNorm_TrainWeightWithoutBias) {
  Generator g(7);
  EXPECT_GRADCHECK(gradcheck(
      [](const std::vector<VarD>& v) {
        return batch_norm(v[0], v[1], VarD(), TensorD(), TensorD(), true);
      },
      {random_tensor({3, 2, 2, 3}, g), random_tensor({2}, g, 0.5, 1.5)}));
}

TEST(GradCheck, BatchNorm_Eval4d) {
  EXPECT_TRUE(check_bn_eval({2, 3, 3, 2}, true, 8));
  EXPECT_TRUE(check_bn_eval({2, 3, 3, 2}, false, 9));
}

TEST(GradCheck, BatchNorm_Eval2d) {
  EXPECT_TRUE(check_bn_eval({4, 5}, true, 10));
}

TEST(GradCheck, BatchNormRelu_Train) {
  EXPECT_TRUE(check_bn_train({3, 2, 3, 4}, true, 11, true));
  EXPECT_TRUE(check_bn_train({6, 3}, false, 12, true));
}

TEST(GradCheck, BatchNormRelu_Eval) {
  EXPECT_TRUE(check_bn_eval({2, 3, 3, 2}, true, 13, true));
  EXPECT_TRUE(check_bn_eval({4, 5}, false, 14, true));
}

// The fused op against relu(batch_norm(...)) in float, on planes long enough for the vector
// loops and with about half of the outputs clipped.
TEST(BatchNormRelu, MatchesReluOfBatchNorm) {
  Generator g(15);
  const Shape shape{4, 5, 9, 13};
  const Tensor x0 = tensor_cast<float>(random_tensor(shape, g, -1, 3));
  const Tensor w0 = tensor_cast<float>(random_tensor({5}, g, 0.5, 1.5));
  const Tensor b0 = tensor_cast<float>(random_tensor({5}, g, -0.5, 0.5));
  const Tensor seed = tensor_cast<float>(random_tensor(shape, g));
  for (bool training : {true, false}) {
    Tensor rm1 = tensor_cast<float>(vals({5}, {0.1, -0.2, 0.3, 1.0, 0.9}));
    Tensor rv1 = tensor_cast<float>(vals({5}, {0.5, 1.0, 2.0, 0.7, 1.3}));
    Tensor rm2 = rm1.clone(), rv2 = rv1.clone();
    Var x1(x0.clone(), true), w1(w0.clone(), true), b1(b0.clone(), true);
    Var x2(x0.clone(), true), w2(w0.clone(), true), b2(b0.clone(), true);
    Var fused = batch_norm_relu(x1, w1, b1, rm1, rv1, training);
    Var plain = relu(batch_norm(x2, w2, b2, rm2, rv2, training));
    backward(fused, seed);
    backward(plain, seed);
    int64_t clipped = 0;
    for (int64_t i = 0; i < x0.numel(); ++i) {
      ASSERT_EQ(fused.value()[i], plain.value()[i]) << i;
      ASSERT_NEAR(x1.grad()[i], x2.grad()[i], 1e-5) << i;
      clipped += plain.value()[i] == 0.0f;
    }
    EXPECT_GT(clipped, x0.numel() / 5);
    EXPECT_LT(clipped, x0.numel() * 4 / 5);
    for (int64_t c = 0; c < 5; ++c) {
      EXPECT_NEAR(w1.grad()[c], w2.grad()[c], 1e-4);
      EXPECT_NEAR(b1.grad()[c], b2.grad()[c], 1e-4);
      EXPECT_EQ(rm1[c], rm2[c]);
      EXPECT_EQ(rv1[c], rv2[c]);
    }
  }
}

// ---- local response norm ------------------------------------------------------------------

TEST(LocalResponseNorm, HandComputedOddAndEvenSize) {
  // x = {1, 2, 3} over channels, alpha = 3, beta = 1, k = 1: scale = 1 + (3/size) * sum x^2.
  TensorD x = vals({1, 3, 1, 1}, {1, 2, 3});
  // size 3: windows {0,1}, {0,1,2}, {1,2}: sums 5, 14, 13.
  expect_near_all(local_response_norm(VarD(x), 3, 3.0, 1.0, 1.0).value(),
                  {1.0 / 6, 2.0 / 15, 3.0 / 14});
  // size 2: one channel before, none after: windows {0}, {0,1}, {1,2}: sums 1, 5, 13.
  expect_near_all(local_response_norm(VarD(x), 2, 3.0, 1.0, 1.0).value(),
                  {1 / 2.5, 2 / 8.5, 3 / 20.5});
}

TEST(LocalResponseNorm, BetaPowersMatchFormula) {
  // beta = 0.75 has its own square-root path; compare both paths with std::pow.
  Generator g(21);
  TensorD x = random_tensor({2, 6, 3, 3}, g, -2, 2);
  for (double beta : {0.75, 0.5, 1.3}) {
    TensorD y = local_response_norm(VarD(x), 5, 0.7, beta, 2.0).value();
    for (int64_t n = 0; n < 2; ++n)
      for (int64_t c = 0; c < 6; ++c)
        for (int64_t i = 0; i < 9; ++i) {
          double s = 0;
          for (int64_t cc = std::max<int64_t>(c - 2, 0); cc <= std::min<int64_t>(c + 2, 5); ++cc)
            s += x[(n * 6 + cc) * 9 + i] * x[(n * 6 + cc) * 9 + i];
          const double want = x[(n * 6 + c) * 9 + i] * std::pow(2.0 + 0.7 / 5 * s, -beta);
          ASSERT_NEAR(y[(n * 6 + c) * 9 + i], want, 1e-13) << beta;
        }
  }
}

TEST(LocalResponseNorm, Errors) {
  EXPECT_THROW(local_response_norm(VarD(TensorD::zeros({2, 3})), 3), Error);
  EXPECT_THROW(local_response_norm(VarD(TensorD::zeros({2, 3, 4, 4})), 0), Error);
}

TEST(LocalResponseNorm, FloatMatchesDouble) {
  Generator g(22);
  TensorD xd = random_tensor({2, 7, 5, 5}, g, -3, 3), seed = random_tensor({2, 7, 5, 5}, g);
  VarD x(xd.clone(), true);
  Var xf(tensor_cast<float>(xd), true);
  VarD y = local_response_norm(x, 5, 1e-2, 0.75, 1.0);
  Var yf = local_response_norm(xf, 5, 1e-2, 0.75, 1.0);
  backward(y, seed);
  backward(yf, tensor_cast<float>(seed));
  for (int64_t i = 0; i < xd.numel(); ++i) {
    ASSERT_NEAR(yf.value()[i], y.value()[i], 1e-5);
    ASSERT_NEAR(xf.grad()[i], x.grad()[i], 1e-5);
  }
}

TEST(GradCheck, LocalResponseNorm_Size3) {
  Generator g(31);
  for (Shape s : {Shape{2, 5, 3, 2}, Shape{1, 7, 2, 3}}) {
    EXPECT_GRADCHECK(gradcheck(
        [](const std::vector<VarD>& v) { return local_response_norm(v[0], 3, 0.9, 0.75, 2.0); },
        {random_tensor(s, g, -1.5, 1.5)}));
  }
}

TEST(GradCheck, LocalResponseNorm_Size5) {
  Generator g(32);
  for (Shape s : {Shape{2, 7, 2, 2}, Shape{1, 3, 3, 3}}) {  // also a window wider than C
    EXPECT_GRADCHECK(gradcheck(
        [](const std::vector<VarD>& v) { return local_response_norm(v[0], 5, 1.2, 0.6, 1.5); },
        {random_tensor(s, g, -1.5, 1.5)}));
  }
}

TEST(GradCheck, LocalResponseNorm_EvenSizeAndRank3) {
  Generator g(33);
  EXPECT_GRADCHECK(gradcheck(
      [](const std::vector<VarD>& v) { return local_response_norm(v[0], 4, 0.8, 0.75, 1.0); },
      {random_tensor({2, 5, 4}, g, -1.5, 1.5)}));
}
