// Shape ops: gradient checks, hand-checked values and placement, and argument errors.
#include <gtest/gtest.h>

#include <numeric>

#include "cnnzoo/ops/shape.hpp"
#include "cnnzoo/testing/gtest.hpp"

using namespace cnnzoo;
using cnnzoo::testing::gradcheck;
using cnnzoo::testing::GradcheckOptions;
using cnnzoo::testing::random_tensor;

namespace {
// 0, 1, 2, ... in the given shape, so every element's source position is readable.
TensorD iota(const Shape& shape, double start = 0) {
  TensorD t = TensorD::empty(shape);
  std::iota(t.begin(), t.end(), start);
  return t;
}
}  // namespace

TEST(GradCheck, Concat_Dim1) {
  Generator g(1);
  auto f = [](const std::vector<VarD>& v) { return concat(v, 1); };
  EXPECT_GRADCHECK(gradcheck(f, {random_tensor({2, 1, 3, 2}, g), random_tensor({2, 3, 3, 2}, g),
                                 random_tensor({2, 2, 3, 2}, g)}));
  EXPECT_GRADCHECK(
      gradcheck(f, {random_tensor({3, 2}, g), random_tensor({3, 4}, g), random_tensor({3, 1}, g)}));
}

TEST(GradCheck, Concat_Dim0) {
  Generator g(2);
  auto f = [](const std::vector<VarD>& v) { return concat(v, 0); };
  EXPECT_GRADCHECK(gradcheck(
      f, {random_tensor({1, 3, 2}, g), random_tensor({2, 3, 2}, g), random_tensor({3, 3, 2}, g)}));
}

TEST(GradCheck, Concat_LastDimNegative) {
  Generator g(3);
  auto f = [](const std::vector<VarD>& v) { return concat(v, -1); };
  EXPECT_GRADCHECK(gradcheck(f, {random_tensor({2, 2, 1}, g), random_tensor({2, 2, 3}, g)}));
}

TEST(GradCheck, Concat_SomeInputsConstant) {
  Generator g(4);
  auto f = [](const std::vector<VarD>& v) { return concat(v, 1); };
  EXPECT_GRADCHECK(gradcheck(
      f, {random_tensor({2, 2, 2}, g), random_tensor({2, 1, 2}, g), random_tensor({2, 3, 2}, g)},
      GradcheckOptions().wrt({true, false, true})));
}

TEST(GradCheck, Slice) {
  Generator g(5);
  TensorD x = random_tensor({3, 4, 5}, g);
  for (auto [dim, start, end] : {std::tuple{0, 1, 3}, {1, 0, 2}, {2, 2, 5}, {-1, 1, 2}}) {
    auto f = [dim = dim, start = start, end = end](const std::vector<VarD>& v) {
      return slice(v[0], dim, start, end);
    };
    EXPECT_GRADCHECK(gradcheck(f, {x})) << "dim " << dim << " [" << start << ", " << end << ")";
  }
}

TEST(GradCheck, PadChannels) {
  Generator g(6);
  for (auto [before, after] : {std::pair{1, 2}, {0, 3}, {2, 0}}) {
    auto f = [before = before, after = after](const std::vector<VarD>& v) {
      return pad_channels(v[0], before, after);
    };
    EXPECT_GRADCHECK(gradcheck(f, {random_tensor({2, 3, 2, 2}, g)}));
    EXPECT_GRADCHECK(gradcheck(f, {random_tensor({3, 2}, g)}));
  }
}

TEST(GradCheck, Pad2d_Asymmetric) {
  Generator g(7);
  for (Padding2d p : {Padding2d(1, 0, 2, 3), Padding2d(0, 2, 1, 0), Padding2d(1)}) {
    auto f = [p](const std::vector<VarD>& v) { return pad2d(v[0], p); };
    EXPECT_GRADCHECK(gradcheck(f, {random_tensor({2, 2, 3, 2}, g)}));
  }
}

TEST(GradCheck, Flatten) {
  Generator g(8);
  for (int64_t start : {0, 1, 2, -1}) {
    auto f = [start](const std::vector<VarD>& v) { return flatten(v[0], start); };
    EXPECT_GRADCHECK(gradcheck(f, {random_tensor({2, 3, 2, 2}, g)})) << "start_dim " << start;
  }
}

TEST(GradCheck, Reshape) {
  Generator g(9);
  auto f = [](const std::vector<VarD>& v) { return reshape(v[0], {3, -1}); };
  EXPECT_GRADCHECK(gradcheck(f, {random_tensor({2, 3, 2}, g)}));
}

TEST(Concat, ValuesAlongDim1) {
  VarD a(iota({2, 1, 2}, 0));    // [[0,1]], [[2,3]]
  VarD b(iota({2, 2, 2}, 100));  // [[100,101],[102,103]], [[104,105],[106,107]]
  VarD y = concat<double>({a, b}, 1);
  ASSERT_EQ(y.shape(), (Shape{2, 3, 2}));
  EXPECT_EQ(y.value().to_vector(),
            (std::vector<double>{0, 1, 100, 101, 102, 103, 2, 3, 104, 105, 106, 107}));
}

TEST(Concat, ValuesAlongDim0) {
  VarD a(iota({1, 2}, 0)), b(iota({2, 2}, 10));
  VarD y = concat<double>({a, b}, 0);
  ASSERT_EQ(y.shape(), (Shape{3, 2}));
  EXPECT_EQ(y.value().to_vector(), (std::vector<double>{0, 1, 10, 11, 12, 13}));
}

TEST(Concat, LargeParallelCopy) {
  // Big enough for the row copies to run on several threads.
  VarD a(iota({64, 3, 32, 32}, 0)), b(iota({64, 5, 32, 32}, 1e6));
  VarD y = concat<double>({a, b}, 1);
  const int64_t plane = 32 * 32;
  for (int64_t n : {0, 31, 63}) {
    for (int64_t c = 0; c < 8; ++c) {
      const double* row = y.value().data() + (n * 8 + c) * plane;
      const double expect = c < 3 ? (n * 3 + c) * plane : 1e6 + (n * 5 + c - 3) * plane;
      EXPECT_EQ(row[0], expect) << n << "," << c;
      EXPECT_EQ(row[plane - 1], expect + plane - 1) << n << "," << c;
    }
  }
}

TEST(Slice, Values) {
  VarD x(iota({2, 3, 2}));
  VarD y = slice(x, 1, 1, 3);
  ASSERT_EQ(y.shape(), (Shape{2, 2, 2}));
  EXPECT_EQ(y.value().to_vector(), (std::vector<double>{2, 3, 4, 5, 8, 9, 10, 11}));
  VarD z = slice(x, 2, 1, 2);
  EXPECT_EQ(z.value().to_vector(), (std::vector<double>{1, 3, 5, 7, 9, 11}));
  EXPECT_EQ(slice(x, 0, 1, 1).shape(), (Shape{0, 3, 2}));
}

TEST(Slice, BackwardPlacesGradientAndZeros) {
  VarD x(TensorD::zeros({1, 4}), true);
  VarD y = slice(x, 1, 1, 3);
  backward(y, TensorD::from_vector({1, 2}, {5, 7}));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{0, 5, 7, 0}));
}

TEST(PadChannels, Placement) {
  VarD x(iota({2, 2, 1, 2}, 1));  // n0: [1,2],[3,4]; n1: [5,6],[7,8]
  VarD y = pad_channels(x, 1, 2);
  ASSERT_EQ(y.shape(), (Shape{2, 5, 1, 2}));
  EXPECT_EQ(y.value().to_vector(), (std::vector<double>{0, 0, 1, 2, 3, 4, 0, 0, 0, 0,  //
                                                        0, 0, 5, 6, 7, 8, 0, 0, 0, 0}));
}

TEST(Pad2d, Placement) {
  VarD x(iota({1, 1, 2, 2}, 1));
  VarD y = pad2d(x, Padding2d(1, 0, 0, 2));  // top 1, bottom 0, left 0, right 2
  ASSERT_EQ(y.shape(), (Shape{1, 1, 3, 4}));
  EXPECT_EQ(y.value().to_vector(), (std::vector<double>{0, 0, 0, 0, 1, 2, 0, 0, 3, 4, 0, 0}));
}

TEST(Flatten, ShapesAndSharedStorage) {
  VarD x(iota({2, 3, 4, 5}));
  EXPECT_EQ(flatten(x).shape(), (Shape{2, 60}));
  EXPECT_EQ(flatten(x, 0).shape(), (Shape{120}));
  EXPECT_EQ(flatten(x, 2).shape(), (Shape{2, 3, 20}));
  EXPECT_EQ(flatten(x, -1).shape(), (Shape{2, 3, 4, 5}));
  EXPECT_TRUE(flatten(x).value().same_storage(x.value()));
  EXPECT_EQ(reshape(x, {-1, 10}).shape(), (Shape{12, 10}));
}

TEST(ShapeOps, ErrorsThrow) {
  VarD a(TensorD::zeros({2, 3, 4})), b(TensorD::zeros({2, 3, 5})), c(TensorD::zeros({2, 3}));
  EXPECT_THROW(concat<double>({}, 1), Error);
  EXPECT_THROW(concat<double>({a, b}, 1), Error);  // differ in dim 2
  EXPECT_THROW(concat<double>({a, c}, 1), Error);  // rank differs
  EXPECT_THROW(concat<double>({a, a}, 3), Error);
  EXPECT_NO_THROW(concat<double>({a, b}, 2));
  EXPECT_THROW(slice(a, 3, 0, 1), Error);
  EXPECT_THROW(slice(a, 1, 2, 1), Error);
  EXPECT_THROW(slice(a, 1, 0, 4), Error);
  EXPECT_THROW(slice(a, 1, -1, 2), Error);
  EXPECT_THROW(pad_channels(VarD(TensorD::zeros({4})), 1, 1), Error);
  EXPECT_THROW(pad_channels(a, -1, 1), Error);
  EXPECT_THROW(pad2d(a, Padding2d(1)), Error);
  EXPECT_THROW(pad2d(VarD(TensorD::zeros({1, 1, 2, 2})), Padding2d(0, 0, -1, 0)), Error);
  EXPECT_THROW(flatten(a, 3), Error);
  EXPECT_THROW(reshape(a, {5, -1}), Error);
  try {
    concat<double>({a, b}, 1);
    FAIL() << "no throw";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("concat"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[2, 3, 4]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[2, 3, 5]"), std::string::npos) << msg;
  }
}
