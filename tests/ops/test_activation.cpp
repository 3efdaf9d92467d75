// Activations: hand-computed forward values, PyTorch's conventions at 0, error cases, and
// double-precision gradient checks.
#include <gtest/gtest.h>

#include <cmath>

#include "cnnzoo/ops/activation.hpp"
#include "cnnzoo/ops/arith.hpp"
#include "cnnzoo/ops/shape.hpp"
#include "cnnzoo/testing/gtest.hpp"

using namespace cnnzoo;
using cnnzoo::testing::gradcheck;
using cnnzoo::testing::random_tensor;

namespace {

// Random values at least 0.1 away from 0, where relu-like ops have their kink: a finite
// difference across the kink would not match the one-sided derivative.
TensorD away_from_zero(const Shape& shape, Generator& g) {
  TensorD t = random_tensor(shape, g);
  for (auto& v : t) v = v < 0 ? v - 0.1 : v + 0.1;
  return t;
}

template <class T>
TensorT<T> values(Shape shape, std::vector<T> v) {
  return TensorT<T>::from_vector(std::move(shape), v);
}

// Gradient of sum(op(x) * seed) w.r.t. x, by autograd.
template <class T, class F>
TensorT<T> grad_of(F op, const TensorT<T>& x, const TensorT<T>& seed) {
  VarT<T> v(x.clone(), true);
  backward(op(v), seed);
  return v.grad();
}

}  // namespace

TEST(Activation, ReluForwardAndGradAtZero) {
  TensorD x = values<double>({5}, {-2, -0.5, 0, 1.5, 3});
  VarD y = relu(VarD(x));
  EXPECT_EQ(y.value().to_vector(), (std::vector<double>{0, 0, 0, 1.5, 3}));
  // PyTorch: relu'(0) = 0.
  TensorD g = grad_of<double>([](const VarD& v) { return relu(v); }, x, TensorD::ones({5}));
  EXPECT_EQ(g.to_vector(), (std::vector<double>{0, 0, 0, 1, 1}));
}

TEST(Activation, ReluPropagatesNaN) {
  VarT<float> y = relu(Var(values<float>({2}, {NAN, -1.f})));
  EXPECT_TRUE(std::isnan(y.value()[0]));
  EXPECT_EQ(y.value()[1], 0.f);
}

TEST(Activation, LeakyReluForwardAndGradAtZero) {
  TensorD x = values<double>({4}, {-2, 0, 0.5, -0.1});
  VarD y = leaky_relu(VarD(x), 0.1);
  const std::vector<double> want{-0.2, 0, 0.5, -0.01};
  for (int i = 0; i < 4; ++i) EXPECT_DOUBLE_EQ(y.value()[i], want[i]);
  // PyTorch: the x > 0 branch is strict, so the derivative at 0 is the slope.
  TensorD g = grad_of<double>([](const VarD& v) { return leaky_relu(v, 0.1); }, x,
                              values<double>({4}, {1, 2, 3, 4}));
  EXPECT_EQ(g.to_vector(), (std::vector<double>{0.1, 0.2, 3, 0.4}));
}

TEST(Activation, LeakyReluNegativeSlopeUsesInputSign) {
  // With slope -1 (|x|), y >= 0 everywhere: the backward must branch on x, not on y.
  TensorD x = values<double>({2}, {-3, 2});
  EXPECT_EQ(leaky_relu(VarD(x), -1.0).value().to_vector(), (std::vector<double>{3, 2}));
  TensorD g =
      grad_of<double>([](const VarD& v) { return leaky_relu(v, -1.0); }, x, TensorD::ones({2}));
  EXPECT_EQ(g.to_vector(), (std::vector<double>{-1, 1}));
}

TEST(Activation, PreluPerChannelAndShared) {
  // x [2, 2, 2]: channel 0 holds {-1, 2} and {-3, 4}, channel 1 holds {-5, 6} and {7, -8}.
  TensorD x = values<double>({2, 2, 2}, {-1, 2, -5, 6, -3, 4, 7, -8});
  VarD w(values<double>({2}, {0.5, 0.25}));
  EXPECT_EQ(prelu(VarD(x), w).value().to_vector(),
            (std::vector<double>{-0.5, 2, -1.25, 6, -1.5, 4, 7, -2}));
  VarD ws(values<double>({1}, {0.1}));
  std::vector<double> shared = prelu(VarD(x), ws).value().to_vector();
  const std::vector<double> want{-0.1, 2, -0.5, 6, -0.3, 4, 7, -0.8};
  for (int i = 0; i < 8; ++i) EXPECT_DOUBLE_EQ(shared[i], want[i]);

  // d/dw_c sum(y) = sum of the non-positive x in channel c.
  VarD xv(x, false), wv(values<double>({2}, {0.5, 0.25}), true);
  backward(prelu(xv, wv), TensorD::ones({2, 2, 2}));
  EXPECT_EQ(wv.grad().to_vector(), (std::vector<double>{-4, -13}));
  VarD wsv(values<double>({1}, {0.1}), true);
  backward(prelu(xv, wsv), TensorD::ones({2, 2, 2}));
  EXPECT_EQ(wsv.grad().to_vector(), (std::vector<double>{-17}));
}

TEST(Activation, PreluRejectsBadWeight) {
  VarD x(TensorD::zeros({2, 3, 4}));
  EXPECT_THROW(prelu(x, VarD(TensorD::zeros({2}))), Error);
  EXPECT_THROW(prelu(x, VarD(TensorD::zeros({3, 1}))), Error);
  EXPECT_THROW(prelu(x, VarD()), Error);
  // Rank-1 input has a single channel, as in PyTorch.
  EXPECT_THROW(prelu(VarD(TensorD::zeros({3})), VarD(TensorD::zeros({3}))), Error);
  EXPECT_NO_THROW(prelu(VarD(TensorD::zeros({3})), VarD(TensorD::zeros({1}))));
}

TEST(Activation, SigmoidAndTanhKnownValues) {
  // sigmoid(ln 3) = 3/4, tanh(ln 2) = (4 - 1) / (4 + 1).
  TensorD x = values<double>({3}, {0, std::log(3.0), std::log(2.0)});
  VarD s = sigmoid(VarD(x));
  EXPECT_DOUBLE_EQ(s.value()[0], 0.5);
  EXPECT_NEAR(s.value()[1], 0.75, 1e-15);
  VarD t = tanh(VarD(x));
  EXPECT_DOUBLE_EQ(t.value()[0], 0.0);
  EXPECT_NEAR(t.value()[2], 0.6, 1e-15);
}

TEST(Activation, SigmoidAndTanhSaturateWithoutNaN) {
  for (float v : {-200.f, -90.f, 90.f, 200.f}) {
    Var x(values<float>({1}, {v}), true);
    Var s = sigmoid(x);
    EXPECT_NEAR(s.value()[0], v < 0 ? 0.f : 1.f, 1e-30) << v;
    backward(s);
    EXPECT_NEAR(x.grad()[0], 0.f, 1e-30) << v;
    EXPECT_EQ(tanh(x).value()[0], v < 0 ? -1.f : 1.f) << v;
  }
}

TEST(Activation, FloatKernelsMatchScalarFormulas) {
  // Large enough for the parallel, vectorised paths.
  Generator g(7);
  const int64_t n = 100003;
  TensorD xd = random_tensor({n}, g, -12, 12);
  Tensor x = tensor_cast<float>(xd);
  Tensor r = relu(Var(x)).value(), s = sigmoid(Var(x)).value(), t = tanh(Var(x)).value();
  Tensor l = leaky_relu(Var(x), 0.2).value();
  for (int64_t i = 0; i < n; ++i) {
    const double v = x[i];
    ASSERT_EQ(r[i], v > 0 ? x[i] : 0.f);
    ASSERT_EQ(l[i], v > 0 ? x[i] : x[i] * 0.2f);
    ASSERT_NEAR(s[i], 1 / (1 + std::exp(-v)), 2e-7) << v;
    ASSERT_NEAR(t[i], std::tanh(v), 4e-7) << v;
  }
}

TEST(GradCheck, Relu) {
  Generator g(1);
  for (Shape s : {Shape{7}, Shape{2, 3, 4, 5}}) {
    EXPECT_GRADCHECK(
        gradcheck([](const std::vector<VarD>& v) { return relu(v[0]); }, {away_from_zero(s, g)}));
    // The in-place path: relu of a temporary (here a + b, and relu of relu, whose inner
    // output its own backward reads, so it must not be overwritten).
    EXPECT_GRADCHECK(gradcheck([](const std::vector<VarD>& v) { return relu(add(v[0], v[1])); },
                               {away_from_zero(s, g), away_from_zero(s, g)}));
    EXPECT_GRADCHECK(
        gradcheck([](const std::vector<VarD>& v) { return relu(relu(add(v[0], v[1]))); },
                  {away_from_zero(s, g), away_from_zero(s, g)}));
  }
}

// relu of a temporary reuses its buffer; anything another handle can still read is copied.
TEST(Activation, ReluOverwritesOnlyTemporaries) {
  Generator g(3);
  VarD a(away_from_zero({2, 3, 4}, g), true), b(away_from_zero({2, 3, 4}, g), true);
  const TensorD seed = random_tensor({2, 3, 4}, g);

  VarD sum = add(a, b);
  const double* buffer = sum.value().data();
  const TensorD before = sum.value().clone();
  VarD copied = relu(sum);  // named: sum must keep its value
  EXPECT_NE(copied.value().data(), buffer);
  EXPECT_EQ(sum.value().to_vector(), before.to_vector());
  backward(copied, seed);
  const TensorD grad_a = a.grad().clone();
  a.zero_grad();
  VarD sum2 = add(a, b);
  buffer = sum2.value().data();
  VarD in_place = relu(std::move(sum2));  // last handle, given up: the same buffer
  EXPECT_EQ(in_place.value().data(), buffer);
  EXPECT_EQ(in_place.value().to_vector(), copied.value().to_vector());
  backward(in_place, seed);
  EXPECT_EQ(grad_a.to_vector(), a.grad().to_vector());

  // A view of the temporary is alive: its storage is shared, so no overwrite.
  VarD t = add(a, b);
  TensorD view = t.value().reshape({24});
  const TensorD view_before = view.clone();
  VarD r = relu(std::move(t));
  EXPECT_FALSE(r.value().same_storage(view));
  EXPECT_EQ(view.to_vector(), view_before.to_vector());

  // A leaf being trained is never overwritten, even when moved in.
  VarD leaf(TensorD::from_vector({3}, {-1.0, 2.0, -3.0}), true);
  VarD moved = leaf;
  VarD r2 = relu(std::move(moved));
  EXPECT_EQ(leaf.value().to_vector(), (std::vector<double>{-1.0, 2.0, -3.0}));
  EXPECT_EQ(r2.value().to_vector(), (std::vector<double>{0.0, 2.0, 0.0}));
}

TEST(GradCheck, LeakyRelu) {
  Generator g(2);
  for (double slope : {0.01, 0.2, -0.5}) {
    EXPECT_GRADCHECK(
        gradcheck([slope](const std::vector<VarD>& v) { return leaky_relu(v[0], slope); },
                  {away_from_zero({2, 3, 5}, g)}));
  }
}

TEST(GradCheck, PreluPerChannel) {
  Generator g(3);
  for (Shape s : {Shape{2, 3, 4, 5}, Shape{4, 3}, Shape{2, 3, 7}}) {
    TensorD w = random_tensor({3}, g, 0.0, 0.5);
    EXPECT_GRADCHECK(gradcheck([](const std::vector<VarD>& v) { return prelu(v[0], v[1]); },
                               {away_from_zero(s, g), w}));
  }
}

TEST(GradCheck, PreluShared) {
  Generator g(4);
  for (Shape s : {Shape{2, 3, 4, 5}, Shape{6}}) {
    TensorD w = TensorD::full({1}, 0.25);
    EXPECT_GRADCHECK(gradcheck([](const std::vector<VarD>& v) { return prelu(v[0], v[1]); },
                               {away_from_zero(s, g), w}));
  }
}

TEST(GradCheck, Sigmoid) {
  Generator g(5);
  for (Shape s : {Shape{9}, Shape{2, 3, 4, 4}}) {
    EXPECT_GRADCHECK(gradcheck([](const std::vector<VarD>& v) { return sigmoid(v[0]); },
                               {random_tensor(s, g, -4, 4)}));
  }
}

TEST(GradCheck, Tanh) {
  Generator g(6);
  for (Shape s : {Shape{9}, Shape{2, 3, 4, 4}}) {
    EXPECT_GRADCHECK(gradcheck([](const std::vector<VarD>& v) { return tanh(v[0]); },
                               {random_tensor(s, g, -3, 3)}));
  }
}
