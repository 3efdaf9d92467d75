// linear: gradient checks, a hand-computed case, a large case against plain loops (this one
// runs the multi-threaded GEMM blocks), and argument errors.
#include <gtest/gtest.h>

#include "cnnzoo/ops/linear.hpp"
#include "cnnzoo/parallel.hpp"
#include "cnnzoo/testing/gtest.hpp"

using namespace cnnzoo;
using cnnzoo::testing::gradcheck;
using cnnzoo::testing::GradcheckOptions;
using cnnzoo::testing::random_tensor;

TEST(GradCheck, Linear) {
  Generator g(1);
  for (auto [n, in, out] : {std::tuple{3, 4, 5}, {1, 7, 2}, {6, 3, 1}}) {
    auto f = [](const std::vector<VarD>& v) { return linear(v[0], v[1], v[2]); };
    EXPECT_GRADCHECK(gradcheck(
        f, {random_tensor({n, in}, g), random_tensor({out, in}, g), random_tensor({out}, g)}))
        << n << "x" << in << " -> " << out;
  }
}

TEST(GradCheck, Linear_NoBias) {
  Generator g(2);
  for (auto [n, in, out] : {std::tuple{3, 4, 5}, {2, 1, 3}}) {
    auto f = [](const std::vector<VarD>& v) { return linear(v[0], v[1], VarD()); };
    EXPECT_GRADCHECK(gradcheck(f, {random_tensor({n, in}, g), random_tensor({out, in}, g)}));
  }
}

TEST(GradCheck, Linear_OnlyWeightNeedsGrad) {
  Generator g(3);
  auto f = [](const std::vector<VarD>& v) { return linear(v[0], v[1], v[2]); };
  EXPECT_GRADCHECK(
      gradcheck(f, {random_tensor({4, 3}, g), random_tensor({2, 3}, g), random_tensor({2}, g)},
                GradcheckOptions().wrt({false, true, true})));
}

TEST(Linear, HandComputed) {
  VarD x(TensorD::from_vector({2, 2}, {1, 2, -1, 3}));
  VarD w(TensorD::from_vector({3, 2}, {1, 0, 0, 1, 1, 1}));
  VarD b(TensorD::from_vector({3}, {0.5, -1, 2}));
  VarD y = linear(x, w, b);
  ASSERT_EQ(y.shape(), (Shape{2, 3}));
  EXPECT_EQ(y.value().to_vector(), (std::vector<double>{1.5, 1, 5, -0.5, 2, 4}));
  VarD y0 = linear(x, w, VarD());
  EXPECT_EQ(y0.value().to_vector(), (std::vector<double>{1, 2, 3, -1, 3, 2}));
}

namespace {
// Plain-loop reference for y = x W^T + b and its gradients for seed dy.
struct Reference {
  std::vector<double> y, dx, dw, db;
};
Reference reference(const TensorD& x, const TensorD& w, const TensorD& b, const TensorD& dy) {
  const int64_t n = x.size(0), in = x.size(1), out = w.size(0);
  Reference r{std::vector<double>(n * out), std::vector<double>(n * in, 0.0),
              std::vector<double>(out * in, 0.0), std::vector<double>(out, 0.0)};
  for (int64_t i = 0; i < n; ++i)
    for (int64_t o = 0; o < out; ++o) {
      double s = b[o];
      for (int64_t k = 0; k < in; ++k) s += x[i * in + k] * w[o * in + k];
      r.y[i * out + o] = s;
      const double g = dy[i * out + o];
      r.db[o] += g;
      for (int64_t k = 0; k < in; ++k) {
        r.dx[i * in + k] += g * w[o * in + k];
        r.dw[o * in + k] += g * x[i * in + k];
      }
    }
  return r;
}

void expect_near(const TensorD& t, const std::vector<double>& ref, const char* what) {
  ASSERT_EQ(t.numel(), static_cast<int64_t>(ref.size())) << what;
  for (size_t i = 0; i < ref.size(); ++i)
    ASSERT_NEAR(t[i], ref[i], 1e-10 * (1 + std::abs(ref[i]))) << what << " element " << i;
}
}  // namespace

// Large enough that the GEMMs split across threads: tall (row blocks) and wide (column
// blocks) results both occur among y, dx and dw.
TEST(Linear, LargeMatchesLoopsWithThreads) {
  const int saved = num_threads();
  set_num_threads(2);
  Generator g(4);
  for (auto [n, in, out] : {std::tuple{96, 128, 80}, {2, 600, 1100}}) {
    TensorD x = random_tensor({n, in}, g), w = random_tensor({out, in}, g),
            b = random_tensor({out}, g), dy = random_tensor({n, out}, g);
    VarD vx(x.clone(), true), vw(w.clone(), true), vb(b.clone(), true);
    VarD y = linear(vx, vw, vb);
    backward(y, dy);
    Reference r = reference(x, w, b, dy);
    expect_near(y.value(), r.y, "y");
    expect_near(vx.grad(), r.dx, "dx");
    expect_near(vw.grad(), r.dw, "dw");
    expect_near(vb.grad(), r.db, "db");
  }
  set_num_threads(saved);
}

TEST(Linear, FloatMatchesDouble) {
  Generator g(5);
  TensorD x = random_tensor({5, 6}, g), w = random_tensor({4, 6}, g), b = random_tensor({4}, g);
  VarD yd = linear(VarD(x), VarD(w), VarD(b));
  Var yf =
      linear(Var(tensor_cast<float>(x)), Var(tensor_cast<float>(w)), Var(tensor_cast<float>(b)));
  for (int64_t i = 0; i < yd.value().numel(); ++i) EXPECT_NEAR(yf.value()[i], yd.value()[i], 1e-5);
}

TEST(Linear, ShapeErrorsThrow) {
  VarD x(TensorD::zeros({2, 3})), w(TensorD::zeros({4, 3})), b(TensorD::zeros({4}));
  EXPECT_THROW(linear(VarD(TensorD::zeros({2, 3, 1})), w, b), Error);
  EXPECT_THROW(linear(x, VarD(TensorD::zeros({4, 2})), b), Error);
  EXPECT_THROW(linear(x, VarD(TensorD::zeros({12})), b), Error);
  EXPECT_THROW(linear(x, w, VarD(TensorD::zeros({3}))), Error);
  EXPECT_THROW(linear(x, w, VarD(TensorD::zeros({4, 1}))), Error);
  try {
    linear(x, VarD(TensorD::zeros({4, 2})), b);
    FAIL() << "no throw";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("linear"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[2, 3]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[4, 2]"), std::string::npos) << msg;
  }
}
