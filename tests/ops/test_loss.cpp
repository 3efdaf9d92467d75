// Cross-entropy with label smoothing and softmax: gradient checks, hand-computed values,
// numerical stability, errors.
#include <gtest/gtest.h>

#include <cmath>

#include "cnnzoo/ops/loss.hpp"
#include "cnnzoo/testing/gtest.hpp"

using namespace cnnzoo;
using cnnzoo::testing::gradcheck;
using cnnzoo::testing::random_tensor;

namespace {
void check_ce(double smoothing, uint64_t seed) {
  Generator g(seed);
  for (auto [n, k] : {std::pair{4, 5}, {1, 3}, {3, 2}}) {
    std::vector<int64_t> labels;
    for (int i = 0; i < n; ++i) labels.push_back(g.randint(k));
    auto f = [labels, smoothing](const std::vector<VarD>& v) {
      return cross_entropy(v[0], labels, smoothing);
    };
    EXPECT_GRADCHECK(gradcheck(f, {random_tensor({n, k}, g, -3, 3)})) << n << "x" << k;
  }
}
}  // namespace

TEST(GradCheck, CrossEntropy) {
  check_ce(0.0, 1);
}
TEST(GradCheck, CrossEntropy_Smoothing) {
  check_ce(0.1, 2);
}

TEST(CrossEntropy, UniformLogitsGiveLogK) {
  for (double eps : {0.0, 0.1, 1.0}) {
    VarD z(TensorD::full({4, 7}, 3.0));
    EXPECT_NEAR(cross_entropy(z, {0, 6, 3, 3}, eps).value().item(), std::log(7.0), 1e-12) << eps;
  }
}

TEST(CrossEntropy, ThreeClassNoSmoothing) {
  // -log softmax(1, 2, 3)[2] = log(e + e^2 + e^3) - 3 = log(1 + e^-1 + e^-2).
  VarD z(TensorD::from_vector({1, 3}, {1, 2, 3}));
  EXPECT_NEAR(cross_entropy(z, {2}).value().item(), std::log(1 + std::exp(-1.0) + std::exp(-2.0)),
              1e-12);
}

TEST(CrossEntropy, TwoClassWithSmoothing) {
  // Logits (0, ln 3): p = (1/4, 3/4). Label 1, eps = 0.2: target = (0.1, 0.9).
  VarD z(TensorD::from_vector({1, 2}, {0, std::log(3.0)}), true);
  VarD loss = cross_entropy(z, {1}, 0.2);
  EXPECT_NEAR(loss.value().item(), -(0.1 * std::log(0.25) + 0.9 * std::log(0.75)), 1e-12);
  backward(loss);
  EXPECT_NEAR(z.grad()[0], 0.25 - 0.1, 1e-12);  // p - target
  EXPECT_NEAR(z.grad()[1], 0.75 - 0.9, 1e-12);
}

TEST(CrossEntropy, MeanOverBatch) {
  // Row 0 as in ThreeClassNoSmoothing; row 1 uniform gives log 3.
  VarD z(TensorD::from_vector({2, 3}, {1, 2, 3, 5, 5, 5}), true);
  VarD loss = cross_entropy(z, {2, 1});
  EXPECT_NEAR(loss.value().item(),
              0.5 * (std::log(1 + std::exp(-1.0) + std::exp(-2.0)) + std::log(3.0)), 1e-12);
  backward(loss);
  EXPECT_NEAR(z.grad()[3], 0.5 / 3, 1e-12);  // (1/3 - 0) / N
  EXPECT_NEAR(z.grad()[4], 0.5 * (1.0 / 3 - 1), 1e-12);
}

TEST(CrossEntropy, LargeLogitsStayFinite) {
  Var z(Tensor::from_vector({2, 2}, {1000.f, 0.f, -500.f, 500.f}), true);
  Var loss = cross_entropy(z, {1, 1});
  EXPECT_NEAR(loss.value().item(), 500.f, 1e-3f);  // (1000 + ~0) / 2
  backward(loss);
  for (float g : z.grad()) EXPECT_TRUE(std::isfinite(g));
  EXPECT_NEAR(z.grad()[0], 0.5f, 1e-6f);
  EXPECT_NEAR(z.grad()[1], -0.5f, 1e-6f);
}

TEST(Softmax, RowsSumToOneAndKnownValues) {
  Generator g(3);
  TensorD z = random_tensor({5, 9}, g, -20, 20);
  TensorD p = softmax(z);
  for (int64_t i = 0; i < 5; ++i) {
    double s = 0;
    for (int64_t j = 0; j < 9; ++j) {
      EXPECT_GE(p[i * 9 + j], 0.0);
      s += p[i * 9 + j];
    }
    EXPECT_NEAR(s, 1.0, 1e-12);
  }
  TensorD q = softmax(TensorD::from_vector({1, 2}, {0, std::log(3.0)}));
  EXPECT_NEAR(q[0], 0.25, 1e-12);
  EXPECT_NEAR(q[1], 0.75, 1e-12);
  Tensor big = softmax(Tensor::from_vector({1, 3}, {1000.f, 1000.f, -1000.f}));
  EXPECT_NEAR(big[0], 0.5f, 1e-6f);
  EXPECT_EQ(big[2], 0.f);
}

// The averaged prediction of two sets of logits: log((softmax(a) + softmax(b)) / 2).
TEST(Softmax, LogMeanSoftmaxAveragesProbabilitiesNotLogits) {
  TensorD a = TensorD::from_vector({1, 2}, {0, std::log(3.0)});  // p = (1/4, 3/4)
  TensorD b = TensorD::from_vector({1, 2}, {std::log(3.0), 0});  // p = (3/4, 1/4)
  TensorD m = log_mean_softmax(std::vector<TensorD>{a, b});
  EXPECT_NEAR(m[0], std::log(0.5), 1e-12);
  EXPECT_NEAR(m[1], std::log(0.5), 1e-12);
  // One set: its log-softmax; a probability that underflows stays finite.
  TensorD one = log_mean_softmax(std::vector<TensorD>{a});
  EXPECT_NEAR(one[1], std::log(0.75), 1e-12);
  Tensor far = log_mean_softmax(std::vector<Tensor>{Tensor::from_vector({1, 2}, {0.f, 500.f})});
  EXPECT_TRUE(std::isfinite(far[0]));
  EXPECT_NEAR(far[0], std::log(1e-30), 1e-3);
  EXPECT_THROW(log_mean_softmax(std::vector<TensorD>{}), Error);
  EXPECT_THROW(log_mean_softmax(std::vector<TensorD>{a, TensorD::zeros({2, 2})}), Error);
}

TEST(CrossEntropy, ErrorsThrow) {
  VarD z(TensorD::zeros({2, 3}));
  EXPECT_THROW(cross_entropy(z, {0, 3}), Error);
  EXPECT_THROW(cross_entropy(z, {-1, 0}), Error);
  EXPECT_THROW(cross_entropy(z, {0}), Error);
  EXPECT_THROW(cross_entropy(z, {0, 1, 2}), Error);
  EXPECT_THROW(cross_entropy(VarD(TensorD::zeros({6})), {0}), Error);
  EXPECT_THROW(cross_entropy(z, {0, 1}, -0.1), Error);
  EXPECT_THROW(cross_entropy(z, {0, 1}, 1.5), Error);
  EXPECT_THROW(softmax(TensorD::zeros({2, 3, 4})), Error);
  try {
    cross_entropy(z, {0, 7});
    FAIL() << "no throw";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("cross_entropy"), std::string::npos) << msg;
    EXPECT_NE(msg.find("7"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[2, 3]"), std::string::npos) << msg;
  }
}
