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
