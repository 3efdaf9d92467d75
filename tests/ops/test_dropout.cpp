// Dropout: gradient check with a fixed mask, identity in eval, keep rate and scaling,
// determinism per seed, errors.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "cnnzoo/ops/dropout.hpp"
#include "cnnzoo/testing/gtest.hpp"

using namespace cnnzoo;
using cnnzoo::testing::gradcheck;
using cnnzoo::testing::random_tensor;

TEST(GradCheck, Dropout) {
  Generator g(1);
  for (double p : {0.2, 0.5}) {
    // A fresh generator per call: the gradcheck's forward passes all draw the same mask.
    auto f = [p](const std::vector<VarD>& v) {
      Generator gen(77);
      return dropout(v[0], p, true, gen);
    };
    EXPECT_GRADCHECK(gradcheck(f, {random_tensor({3, 5}, g)})) << p;
    EXPECT_GRADCHECK(gradcheck(f, {random_tensor({7}, g)})) << p;  // odd count
  }
}

TEST(Dropout, EvalAndZeroPAreIdentityWithoutNode) {
  Generator gen(1);
  VarD x(TensorD::ones({4, 4}), true);
  VarD y = dropout(x, 0.5, false, gen);
  EXPECT_EQ(y.node(), x.node());
  VarD z = dropout(x, 0.0, true, gen);
  EXPECT_EQ(z.node(), x.node());
}

TEST(Dropout, KeptFractionAndScale) {
  const int64_t count = 200001;
  for (double p : {0.1, 0.3, 0.5, 0.9}) {
    Generator gen(2);
    Var x(Tensor::ones({count}));
    Var y = dropout(x, p, true, gen);
    const float scaled = static_cast<float>(1.0 / (1.0 - p));
    int64_t kept = 0;
    for (float v : y.value()) {
      if (v != 0.f) {
        ++kept;
        ASSERT_FLOAT_EQ(v, scaled);
      }
    }
    // Binomial standard deviation; 6 sigma makes a false failure practically impossible.
    const double sigma = std::sqrt(p * (1 - p) / count);
    EXPECT_NEAR(static_cast<double>(kept) / count, 1 - p, 6 * sigma) << p;
  }
}

TEST(Dropout, SameSeedSameMaskOtherSeedOther) {
  Var x(Tensor::ones({1000}));
  Generator a(5), b(5), c(6);
  Var ya = dropout(x, 0.5, true, a), yb = dropout(x, 0.5, true, b), yc = dropout(x, 0.5, true, c);
  EXPECT_EQ(ya.value().to_vector(), yb.value().to_vector());
  EXPECT_NE(ya.value().to_vector(), yc.value().to_vector());
  // The generator advances: a second draw gives a different mask.
  Var ya2 = dropout(x, 0.5, true, a);
  EXPECT_NE(ya.value().to_vector(), ya2.value().to_vector());
}

TEST(Dropout, BackwardUsesForwardMask) {
  Generator gen(3);
  VarD x(TensorD::full({101}, 2.0), true);
  VarD y = dropout(x, 0.25, true, gen);
  backward(y, TensorD::ones({101}));
  for (int64_t i = 0; i < 101; ++i) {
    if (y.value()[i] == 0.0)
      EXPECT_EQ(x.grad()[i], 0.0) << i;
    else
      EXPECT_DOUBLE_EQ(x.grad()[i], 1.0 / 0.75) << i;
  }
}

TEST(Dropout, BadProbabilityThrows) {
  Generator gen(4);
  VarD x(TensorD::ones({3}));
  EXPECT_THROW(dropout(x, 1.0, true, gen), Error);
  EXPECT_THROW(dropout(x, -0.1, true, gen), Error);
  EXPECT_THROW(dropout(x, std::numeric_limits<double>::quiet_NaN(), true, gen), Error);
  EXPECT_THROW(dropout(x, 1.5, false, gen), Error);
}

// ---- swapout ------------------------------------------------------------------------------

TEST(GradCheck, Swapout) {
  Generator g(5);
  for (auto [theta1, theta2] : {std::pair{0.5, 0.5}, std::pair{0.3, 0.8}}) {
    auto f = [theta1 = theta1, theta2 = theta2](const std::vector<VarD>& v) {
      Generator gen(91);  // the same two masks in every forward pass of the check
      return swapout(v[0], v[1], theta1, theta2, true, gen);
    };
    EXPECT_GRADCHECK(gradcheck(f, {random_tensor({3, 5}, g), random_tensor({3, 5}, g)}))
        << theta1 << " " << theta2;
    auto eval = [theta1 = theta1, theta2 = theta2](const std::vector<VarD>& v) {
      Generator gen(91);
      return swapout(v[0], v[1], theta1, theta2, false, gen);
    };
    EXPECT_GRADCHECK(gradcheck(eval, {random_tensor({7}, g), random_tensor({7}, g)}));
  }
}

// Each output element is one of 0, x, f, x + f, with the two masks independent: the four
// cases occur with probabilities (1 - t1)(1 - t2), t1 (1 - t2), (1 - t1) t2 and t1 t2.
TEST(Swapout, TwoIndependentMasksWithTheirKeepProbabilities) {
  const int64_t count = 200001;
  const double t1 = 0.3, t2 = 0.6;
  Generator gen(6);
  VarD x(TensorD::full({count}, 1.0), true), f(TensorD::full({count}, 2.0), true);
  VarD y = swapout(x, f, t1, t2, true, gen);
  int64_t seen[4] = {0, 0, 0, 0};  // by value 0, 1, 2, 3
  for (double v : y.value()) {
    ASSERT_TRUE(v == 0.0 || v == 1.0 || v == 2.0 || v == 3.0) << v;
    ++seen[static_cast<int>(v)];
  }
  const double expect[4] = {(1 - t1) * (1 - t2), t1 * (1 - t2), (1 - t1) * t2, t1 * t2};
  for (int k = 0; k < 4; ++k) {
    const double sigma = std::sqrt(expect[k] * (1 - expect[k]) / count);
    EXPECT_NEAR(double(seen[k]) / count, expect[k], 6 * sigma) << "value " << k;
  }
  // The gradient of each input is its own mask.
  backward(y, TensorD::ones({count}));
  for (int64_t i = 0; i < count; i += 997) {
    const double v = y.value()[i];
    EXPECT_EQ(x.grad()[i], (v == 1.0 || v == 3.0) ? 1.0 : 0.0) << i;
    EXPECT_EQ(f.grad()[i], (v == 2.0 || v == 3.0) ? 1.0 : 0.0) << i;
  }
}

TEST(Swapout, EvaluationIsTheExpectationAndBadInputThrows) {
  Generator gen(7);
  VarD x(TensorD::full({4}, 1.0)), f(TensorD::full({4}, 2.0));
  const TensorD y = swapout(x, f, 0.25, 0.5, false, gen).value();  // a copy: the Var is a temporary
  for (double v : y) EXPECT_DOUBLE_EQ(v, 1.25);
  EXPECT_THROW(swapout(x, VarD(TensorD::ones({5})), 0.5, 0.5, true, gen), Error);
  EXPECT_THROW(swapout(x, f, 1.5, 0.5, true, gen), Error);
  EXPECT_THROW(swapout(x, f, 0.5, std::numeric_limits<double>::quiet_NaN(), true, gen), Error);
}
