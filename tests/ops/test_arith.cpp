// Element-wise arithmetic and reductions: gradient checks, values, gradient ownership, errors.
#include <gtest/gtest.h>

#include "cnnzoo/ops/arith.hpp"
#include "cnnzoo/parallel.hpp"
#include "cnnzoo/testing/gtest.hpp"

using namespace cnnzoo;
using cnnzoo::testing::gradcheck;
using cnnzoo::testing::GradcheckOptions;
using cnnzoo::testing::random_tensor;

namespace {
const std::vector<Shape> kShapes = {{5}, {2, 3}, {2, 3, 2, 2}};

void check_binary(VarD (*op)(const VarD&, const VarD&), uint64_t seed) {
  Generator g(seed);
  auto f = [op](const std::vector<VarD>& v) { return op(v[0], v[1]); };
  for (const Shape& s : kShapes) {
    EXPECT_GRADCHECK(gradcheck(f, {random_tensor(s, g), random_tensor(s, g)})) << shape_str(s);
    EXPECT_GRADCHECK(gradcheck(f, {random_tensor(s, g), random_tensor(s, g)},
                               GradcheckOptions().wrt({true, false})))
        << shape_str(s) << " first only";
    EXPECT_GRADCHECK(gradcheck(f, {random_tensor(s, g), random_tensor(s, g)},
                               GradcheckOptions().wrt({false, true})))
        << shape_str(s) << " second only";
  }
}
}  // namespace

TEST(GradCheck, Add) {
  check_binary(&add<double>, 1);
}
// add(temporary, b) writes the sum over the temporary (see Arith.AddReusesOnlyTemporaries).
TEST(GradCheck, Add_OverTemporary) {
  Generator g(9);
  for (const Shape& s : kShapes) {
    EXPECT_GRADCHECK(
        gradcheck([](const std::vector<VarD>& v) { return add(mul(v[0], v[1]), v[2]); },
                  {random_tensor(s, g), random_tensor(s, g), random_tensor(s, g)}))
        << shape_str(s);
  }
}

TEST(Arith, AddReusesOnlyTemporaries) {
  Generator g(10);
  VarD a(random_tensor({2, 3}, g), true), b(random_tensor({2, 3}, g), true);
  VarD prod = mul(a, b);
  const double* buffer = prod.value().data();
  const TensorD before = prod.value().clone();
  VarD copied = add(prod, b);  // named: prod keeps its value
  EXPECT_NE(copied.value().data(), buffer);
  EXPECT_EQ(prod.value().to_vector(), before.to_vector());
  VarD in_place = add(std::move(prod), b);  // given up: the sum lands in its buffer
  EXPECT_EQ(in_place.value().data(), buffer);
  EXPECT_EQ(in_place.value().to_vector(), copied.value().to_vector());
  // A leaf being trained keeps its value even when a handle to it is moved in.
  const TensorD a_before = a.value().clone();
  VarD handle = a;
  VarD sum = add(std::move(handle), b);
  EXPECT_FALSE(sum.value().same_storage(a.value()));
  EXPECT_EQ(a.value().to_vector(), a_before.to_vector());
}

TEST(GradCheck, Sub) {
  check_binary(&sub<double>, 2);
}
TEST(GradCheck, Mul) {
  check_binary(&mul<double>, 3);
}

TEST(GradCheck, Mul_SameInputTwice) {
  Generator g(4);
  auto f = [](const std::vector<VarD>& v) { return mul(v[0], v[0]); };
  EXPECT_GRADCHECK(gradcheck(f, {random_tensor({2, 3}, g)}));
  auto h = [](const std::vector<VarD>& v) { return add(v[0], v[0]); };
  EXPECT_GRADCHECK(gradcheck(h, {random_tensor({2, 3}, g)}));
}

TEST(GradCheck, MulChannel_NC) {
  Generator g(5);
  auto f = [](const std::vector<VarD>& v) { return mul_channel(v[0], v[1]); };
  EXPECT_GRADCHECK(gradcheck(f, {random_tensor({2, 3, 2, 2}, g), random_tensor({2, 3}, g)}));
  EXPECT_GRADCHECK(gradcheck(f, {random_tensor({2, 3}, g), random_tensor({2, 3}, g)}));
}

TEST(GradCheck, MulChannel_NC11) {
  Generator g(6);
  auto f = [](const std::vector<VarD>& v) { return mul_channel(v[0], v[1]); };
  EXPECT_GRADCHECK(gradcheck(f, {random_tensor({2, 3, 2, 3}, g), random_tensor({2, 3, 1, 1}, g)}));
}

TEST(GradCheck, MulChannel_C) {
  Generator g(7);
  auto f = [](const std::vector<VarD>& v) { return mul_channel(v[0], v[1]); };
  EXPECT_GRADCHECK(gradcheck(f, {random_tensor({3, 2, 2, 2}, g), random_tensor({2}, g)}));
  EXPECT_GRADCHECK(gradcheck(f, {random_tensor({3, 2, 2, 2}, g), random_tensor({2}, g)},
                             GradcheckOptions().wrt({false, true})));
}

TEST(GradCheck, Scale_Double) {
  Generator g(8);
  for (double alpha : {0.5, -2.0, 0.0}) {
    auto f = [alpha](const std::vector<VarD>& v) { return scale(v[0], alpha); };
    EXPECT_GRADCHECK(gradcheck(f, {random_tensor({2, 3, 2}, g)})) << alpha;
  }
}

TEST(GradCheck, Scale_Var) {
  Generator g(9);
  auto f = [](const std::vector<VarD>& v) { return scale(v[0], v[1]); };
  EXPECT_GRADCHECK(gradcheck(f, {random_tensor({2, 3, 2}, g), random_tensor({1}, g)}));
  EXPECT_GRADCHECK(gradcheck(f, {random_tensor({4}, g), TensorD::scalar(0.7)}));
  EXPECT_GRADCHECK(gradcheck(f, {random_tensor({4}, g), TensorD::scalar(0.7)},
                             GradcheckOptions().wrt({false, true})));
}

TEST(GradCheck, AddScalar) {
  Generator g(10);
  auto f = [](const std::vector<VarD>& v) { return add_scalar(v[0], 1.5); };
  EXPECT_GRADCHECK(gradcheck(f, {random_tensor({2, 3}, g)}));
}

TEST(GradCheck, Sum) {
  Generator g(11);
  auto f = [](const std::vector<VarD>& v) { return sum(v[0]); };
  for (const Shape& s : kShapes) EXPECT_GRADCHECK(gradcheck(f, {random_tensor(s, g)}));
}

TEST(GradCheck, Mean) {
  Generator g(12);
  auto f = [](const std::vector<VarD>& v) { return mean(v[0]); };
  for (const Shape& s : kShapes) EXPECT_GRADCHECK(gradcheck(f, {random_tensor(s, g)}));
}

TEST(Arith, Values) {
  VarD a(TensorD::from_vector({3}, {1, 2, 3})), b(TensorD::from_vector({3}, {4, -1, 0.5}));
  EXPECT_EQ((a + b).value().to_vector(), (std::vector<double>{5, 1, 3.5}));
  EXPECT_EQ((a - b).value().to_vector(), (std::vector<double>{-3, 3, 2.5}));
  EXPECT_EQ((a * b).value().to_vector(), (std::vector<double>{4, -2, 1.5}));
  EXPECT_EQ(scale(a, 2.0).value().to_vector(), (std::vector<double>{2, 4, 6}));
  EXPECT_EQ(scale(a, VarD(TensorD::scalar(-1))).value().to_vector(),
            (std::vector<double>{-1, -2, -3}));
  EXPECT_EQ(add_scalar(a, 0.5).value().to_vector(), (std::vector<double>{1.5, 2.5, 3.5}));
  EXPECT_EQ(sum(a).value().item(), 6.0);
  EXPECT_EQ(sum(a).shape(), Shape{});
  EXPECT_EQ(mean(b).value().item(), 3.5 / 3);
}

TEST(MulChannel, Values) {
  // x [2, 2, 2]: sample n, channel c holds values 10n + c, twice.
  VarD x(TensorD::from_vector({2, 2, 2}, {0, 0, 1, 1, 10, 10, 11, 11}));
  VarD per_sample(TensorD::from_vector({2, 2}, {1, 2, 3, 4}));
  EXPECT_EQ(mul_channel(x, per_sample).value().to_vector(),
            (std::vector<double>{0, 0, 2, 2, 30, 30, 44, 44}));
  VarD shared(TensorD::from_vector({2}, {-1, 2}));
  EXPECT_EQ(mul_channel(x, shared).value().to_vector(),
            (std::vector<double>{0, 0, 2, 2, -10, -10, 22, 22}));
}

TEST(MulChannel, SharedFactorGradientSumsOverBatch) {
  VarD x(TensorD::from_vector({2, 2, 1}, {1, 2, 3, 4}));
  VarD s(TensorD::from_vector({2}, {1, 1}), true);
  backward(sum(mul_channel(x, s)));
  EXPECT_EQ(s.grad().to_vector(), (std::vector<double>{1 + 3, 2 + 4}));
}

// Sizes above the parallel grain, with two threads, against serial loops.
TEST(Arith, LargeTensorsWithThreads) {
  const int saved = num_threads();
  set_num_threads(2);
  Generator g(13);
  const Shape shape = {8, 16, 30, 30};  // 115200 elements
  TensorD a = random_tensor(shape, g), b = random_tensor(shape, g);
  VarD va(a.clone(), true), vb(b.clone(), true), alpha(TensorD::scalar(1.5), true);
  VarD y = scale(mul(va, vb), alpha);
  VarD total = sum(y);
  double expect = 0;
  for (int64_t i = 0; i < a.numel(); ++i) expect += 1.5 * a[i] * b[i];
  EXPECT_NEAR(total.value().item(), expect, 1e-9 * a.numel());
  backward(total);
  for (int64_t i = 0; i < a.numel(); i += 997) {
    EXPECT_DOUBLE_EQ(va.grad()[i], 1.5 * b[i]);
    EXPECT_DOUBLE_EQ(vb.grad()[i], 1.5 * a[i]);
  }
  EXPECT_NEAR(alpha.grad().item(), expect / 1.5, 1e-9 * a.numel());
  set_num_threads(saved);
}

// Both inputs of add get the gradient; they must not share storage, or a later accumulation
// into one would change the other.
TEST(Arith, AddGradientsDoNotAlias) {
  VarD a(TensorD::zeros({3}), true), b(TensorD::zeros({3}), true);
  backward(add(a, b), TensorD::ones({3}));
  EXPECT_FALSE(a.grad().same_storage(b.grad()));
  backward(mul(a, VarD(TensorD::full({3}, 2.0))), TensorD::ones({3}));
  EXPECT_EQ(a.grad().to_vector(), (std::vector<double>{3, 3, 3}));
  EXPECT_EQ(b.grad().to_vector(), (std::vector<double>{1, 1, 1}));
}

TEST(Arith, FloatMatchesDouble) {
  Generator g(14);
  TensorD a = random_tensor({3, 4}, g), s = random_tensor({3, 4}, g);
  VarD yd = mul_channel(add(VarD(a), VarD(a)), VarD(s));
  Var yf = mul_channel(add(Var(tensor_cast<float>(a)), Var(tensor_cast<float>(a))),
                       Var(tensor_cast<float>(s)));
  for (int64_t i = 0; i < yd.value().numel(); ++i) EXPECT_NEAR(yf.value()[i], yd.value()[i], 1e-6);
}

TEST(Arith, ErrorsThrow) {
  VarD a(TensorD::zeros({2, 3})), b(TensorD::zeros({2, 4}));
  try {
    add(a, b);
    FAIL() << "no throw";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "add: shapes [2, 3] and [2, 4] differ");
  }
  EXPECT_THROW(sub(a, b), Error);
  EXPECT_THROW(mul(a, b), Error);
  EXPECT_THROW(add(a, VarD()), Error);
  VarD x(TensorD::zeros({2, 3, 4, 4}));
  EXPECT_THROW(mul_channel(x, VarD(TensorD::zeros({3, 2}))), Error);
  EXPECT_THROW(mul_channel(x, VarD(TensorD::zeros({2, 3, 1, 2}))), Error);
  EXPECT_THROW(mul_channel(x, VarD(TensorD::zeros({2}))), Error);
  EXPECT_THROW(mul_channel(x, VarD(TensorD::zeros({2, 3, 1, 1, 1}))), Error);
  EXPECT_THROW(mul_channel(VarD(TensorD::zeros({3})), VarD(TensorD::zeros({3}))), Error);
  EXPECT_THROW(scale(a, VarD(TensorD::zeros({2}))), Error);
  EXPECT_THROW(mean(VarD(TensorD::zeros({0, 3}))), Error);
}
