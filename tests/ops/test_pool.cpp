// Pooling: PyTorch's output-size rules (ceil_mode, padding limits), hand-computed max/avg/
// adaptive/global cases, error cases and double-precision gradient checks.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>

#include "cnnzoo/ops/pool.hpp"
#include "cnnzoo/testing/gtest.hpp"

using namespace cnnzoo;
using cnnzoo::testing::gradcheck;
using cnnzoo::testing::random_tensor;

namespace {

Pool2dOptions pool_opts(Size2 k, Size2 s, Padding2d p, bool ceil_mode = false,
                        bool count_include_pad = true) {
  Pool2dOptions o;
  o.kernel_size = k;
  o.stride = s;
  o.padding = p;
  o.ceil_mode = ceil_mode;
  o.count_include_pad = count_include_pad;
  return o;
}

// Output height for a single-row-of-planes input of height h (width fixed at the kernel).
int64_t out_h(int64_t h, int64_t k, int64_t s, int64_t p, bool ceil_mode) {
  return pool2d_output_size({1, 1, h, k}, pool_opts({k, k}, {s, s}, Padding2d(p, 0), ceil_mode)).h;
}

TensorD iota(Shape shape, double start = 0, double step = 1) {
  TensorD t = TensorD::empty(std::move(shape));
  for (int64_t i = 0; i < t.numel(); ++i) t[i] = start + step * static_cast<double>(i);
  return t;
}

// Distinct values 0.05 apart in random order: no window holds a tie, even after the
// gradient check's perturbation, so the max is differentiable everywhere it is probed.
TensorD distinct_values(const Shape& shape, uint64_t seed) {
  TensorD t = iota(shape, -1.0, 0.05);
  Generator g(seed);
  std::shuffle(t.begin(), t.end(), g.engine());
  return t;
}

void expect_near_all(const TensorD& got, const std::vector<double>& want, double tol = 1e-12) {
  ASSERT_EQ(got.numel(), static_cast<int64_t>(want.size()));
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "element " << i;
}

}  // namespace

// ---- output sizes -------------------------------------------------------------------------

TEST(PoolOutputSize, FloorAndCeilMode) {
  // (32 - 3) / 2 = 14.5: floor gives 14 + 1, ceil gives 15 + 1.
  EXPECT_EQ(out_h(32, 3, 2, 0, false), 15);
  EXPECT_EQ(out_h(32, 3, 2, 0, true), 16);
  // (6 + 2 - 3) / 2 = 2.5: floor 3, ceil 4. The 4th window starts at padded row 6, i.e. input
  // row 5, inside the input, so the start-inside rule keeps it.
  EXPECT_EQ(out_h(6, 3, 2, 1, false), 3);
  EXPECT_EQ(out_h(6, 3, 2, 1, true), 4);
  // (3 + 2 - 2) / 2 = 1.5: ceil would give 3, but the 3rd window starts at padded row 4 =
  // the bottom padding (3 + 1), so it is dropped: 2, same as floor.
  EXPECT_EQ(out_h(3, 2, 2, 1, true), 2);
  EXPECT_EQ(out_h(3, 2, 2, 1, false), 2);
  // Stride 0 means stride = kernel: (7 - 2) / 2 = 2.5.
  EXPECT_EQ(pool2d_output_size({1, 1, 7, 7}, pool_opts(2, 0, 0, false)), Size2(3, 3));
  EXPECT_EQ(pool2d_output_size({1, 1, 7, 7}, pool_opts(2, 0, 0, true)), Size2(4, 4));
  // Rectangular kernel, per-axis stride and padding: h (5 + 2 - 3) / 1 + 1 = 5;
  // w (9 - 2) / 3 = 2.33: floor 3, ceil 4, but the 4th window would start at column 9, past
  // the input (no right padding), so ceil gives 3. With w = 10 it starts at 9 < 10: 4.
  const Pool2dOptions rect = pool_opts({3, 2}, {1, 3}, Padding2d(1, 0));
  const Pool2dOptions rect_ceil = pool_opts({3, 2}, {1, 3}, Padding2d(1, 0), true);
  EXPECT_EQ(pool2d_output_size({2, 3, 5, 9}, rect), Size2(5, 3));
  EXPECT_EQ(pool2d_output_size({2, 3, 5, 9}, rect_ceil), Size2(5, 3));
  EXPECT_EQ(pool2d_output_size({2, 3, 5, 10}, rect), Size2(5, 3));
  EXPECT_EQ(pool2d_output_size({2, 3, 5, 10}, rect_ceil), Size2(5, 4));
  // Per-side padding: (5 + 1 + 0 - 3) / 2 + 1 = 2.
  EXPECT_EQ(pool2d_output_size({1, 1, 5, 5}, pool_opts(3, 2, Padding2d(1, 0, 1, 0))), Size2(2, 2));
  // In ceil mode a kernel wider than the input still yields one window (PyTorch agrees).
  EXPECT_EQ(pool2d_output_size({1, 1, 2, 2}, pool_opts(3, 2, 0, true)), Size2(1, 1));
}

TEST(PoolOutputSize, Errors) {
  const Shape x{1, 1, 6, 6};
  EXPECT_THROW(pool2d_output_size({1, 6, 6}, pool_opts(2, 2, 0)), Error);
  EXPECT_THROW(pool2d_output_size(x, pool_opts(0, 1, 0)), Error);
  EXPECT_THROW(pool2d_output_size(x, pool_opts(2, -1, 0)), Error);
  EXPECT_THROW(pool2d_output_size(x, pool_opts(2, 2, -1)), Error);
  // Padding above half the kernel (PyTorch's rule), per side and per axis.
  EXPECT_THROW(pool2d_output_size(x, pool_opts(3, 1, 2)), Error);
  EXPECT_THROW(pool2d_output_size(x, pool_opts(2, 1, Padding2d(0, 0, 0, 2))), Error);
  EXPECT_THROW(pool2d_output_size(x, pool_opts({3, 1}, 1, Padding2d(1, 1))), Error);
  EXPECT_NO_THROW(pool2d_output_size(x, pool_opts({3, 2}, 1, Padding2d(1, 1))));
  // Kernel larger than the input in floor mode: no window fits.
  EXPECT_THROW(pool2d_output_size({1, 1, 2, 2}, pool_opts(3, 2, 0)), Error);
  VarD v(TensorD::zeros({1, 1, 2, 2}));
  EXPECT_THROW(max_pool2d(v, pool_opts(3, 2, 0)), Error);
  EXPECT_THROW(avg_pool2d(v, pool_opts(3, 2, 0)), Error);
  EXPECT_THROW(max_pool2d(VarD(TensorD::zeros({2, 2})), pool_opts(1, 1, 0)), Error);
}

// ---- max pooling --------------------------------------------------------------------------

TEST(MaxPool, HandComputed) {
  // 4x4 plane holding 0..15 row by row.
  VarD x(iota({1, 1, 4, 4}));
  expect_near_all(max_pool2d(x, pool_opts(2, 2, 0)).value(), {5, 7, 13, 15});
  // k3 s2 p1: windows rows/cols [-1, 2) and [1, 4).
  expect_near_all(max_pool2d(x, pool_opts(3, 2, 1)).value(), {5, 7, 13, 15});
  // Rectangular 1x3 kernel, stride (1, 2), ceil: windows cols [0, 3) and [2, 4).
  expect_near_all(max_pool2d(x, pool_opts({1, 3}, {1, 2}, 0, true)).value(),
                  {2, 3, 6, 7, 10, 11, 14, 15});
}

TEST(MaxPool, PaddingIsMinusInfinity) {
  // All values negative: zero padding would win every border window.
  VarD x(iota({1, 1, 4, 4}, -1, -1));  // x[r][c] = -(1 + 4 r + c)
  // Windows rows/cols [-1, 2) and [1, 4): the maximum sits at the smallest real r and c.
  expect_near_all(max_pool2d(x, pool_opts(3, 2, 1)).value(), {-1, -2, -5, -6});
}

TEST(MaxPool, BackwardRoutesToFirstMaxAndAccumulates) {
  // All equal: the first element of each window takes the gradient (PyTorch's tie rule).
  VarD x(TensorD::ones({1, 1, 2, 4}), true);
  backward(max_pool2d(x, pool_opts(2, 2, 0)), TensorD::from_vector({1, 1, 1, 2}, {3, 5}));
  expect_near_all(x.grad(), {3, 0, 5, 0, 0, 0, 0, 0});
  // Overlapping windows (k3 s1 on 3x4) sharing one maximum: gradients add up.
  TensorD v = TensorD::zeros({1, 1, 3, 4});
  v[1 * 4 + 2] = 9;  // in both windows
  VarD y(v, true);
  backward(max_pool2d(y, pool_opts(3, 1, 0)), TensorD::from_vector({1, 1, 1, 2}, {2, 7}));
  std::vector<double> want(12, 0.0);
  want[6] = 9;
  expect_near_all(y.grad(), want);
}

TEST(MaxPool, NaNPropagates) {
  TensorD v = iota({1, 1, 2, 2});
  v[1] = std::numeric_limits<double>::quiet_NaN();
  EXPECT_TRUE(std::isnan(max_pool2d(VarD(v), pool_opts(2, 2, 0)).value()[0]));
}

// ---- average pooling ----------------------------------------------------------------------

TEST(AvgPool, CountIncludePadAtBorders) {
  // 3x3 ones, k3 s1 p1: with padding counted, a corner window sees 4 real cells of 9.
  VarD x(TensorD::ones({1, 1, 3, 3}));
  expect_near_all(avg_pool2d(x, pool_opts(3, 1, 1, false, true)).value(),
                  {4. / 9, 6. / 9, 4. / 9, 6. / 9, 1, 6. / 9, 4. / 9, 6. / 9, 4. / 9});
  expect_near_all(avg_pool2d(x, pool_opts(3, 1, 1, false, false)).value(),
                  std::vector<double>(9, 1.0));
}

TEST(AvgPool, CeilModeDivisorStopsAtPaddedEdge) {
  // Row {1, 2, 3, 4}, kernel 3 stride 2 pad 1, ceil: windows [-1, 2), [1, 4), [3, 6).
  // With padding counted the divisor covers the padded row [-1, 5): 3, 3 and 2 (not 3);
  // without, only real cells: 2, 3, 1.
  VarD x(TensorD::from_vector({1, 1, 1, 4}, {1, 2, 3, 4}));
  auto opts = [](bool include) {
    return pool_opts({1, 3}, {1, 2}, Padding2d(0, 1), true, include);
  };
  expect_near_all(avg_pool2d(x, opts(true)).value(), {(0 + 1 + 2) / 3., (2 + 3 + 4) / 3., 4 / 2.});
  expect_near_all(avg_pool2d(x, opts(false)).value(), {3 / 2., 9 / 3., 4 / 1.});
  // Kernel wider than the input (ceil): one window, divisor clipped to the input.
  VarD y(TensorD::from_vector({1, 1, 2, 2}, {0, 1, 2, 3}));
  expect_near_all(avg_pool2d(y, pool_opts(3, 2, 0, true)).value(), {1.5});
}

TEST(AvgPool, BackwardSpreadsEvenly) {
  VarD x(TensorD::zeros({1, 1, 2, 3}), true);
  backward(avg_pool2d(x, pool_opts({2, 2}, {2, 1}, 0)), TensorD::from_vector({1, 1, 1, 2}, {4, 8}));
  expect_near_all(x.grad(), {1, 3, 2, 1, 3, 2});
}

// ---- adaptive and global ------------------------------------------------------------------

TEST(AdaptiveAvgPool, BinBoundaries) {
  // x[h][w] = 10 h + w on 7x5 -> 3x2. Row bins: [0, 3), [2, 5), [4, 7) (mean rows 1, 3, 5);
  // column bins: [0, 3), [2, 5) (mean columns 1, 3).
  TensorD t = TensorD::empty({1, 1, 7, 5});
  for (int h = 0; h < 7; ++h)
    for (int w = 0; w < 5; ++w) t[h * 5 + w] = 10 * h + w;
  expect_near_all(adaptive_avg_pool2d(VarD(t), Size2(3, 2)).value(), {11, 13, 31, 33, 51, 53});
  // More bins than cells: 2 -> 3 gives [0, 1), [0, 2), [1, 2).
  VarD u(TensorD::from_vector({1, 1, 1, 2}, {1, 5}));
  expect_near_all(adaptive_avg_pool2d(u, Size2(1, 3)).value(), {1, 3, 5});
  // Output size equal to the input is the identity.
  expect_near_all(adaptive_avg_pool2d(VarD(t), Size2(7, 5)).value(), t.to_vector());
}

TEST(AdaptiveAvgPool, Errors) {
  EXPECT_THROW(adaptive_avg_pool2d(VarD(TensorD::zeros({1, 4, 4})), Size2(2, 2)), Error);
  EXPECT_THROW(adaptive_avg_pool2d(VarD(TensorD::zeros({1, 1, 4, 4})), Size2(0, 2)), Error);
  EXPECT_THROW(adaptive_avg_pool2d(VarD(TensorD::zeros({1, 1, 0, 4})), Size2(1, 1)), Error);
}

TEST(GlobalAvgPool, MeanPerPlane) {
  VarD x(iota({2, 2, 2, 3}), true);  // planes hold 0..5, 6..11, 12..17, 18..23
  VarD y = global_avg_pool2d(x);
  EXPECT_EQ(y.shape(), (Shape{2, 2, 1, 1}));
  expect_near_all(y.value(), {2.5, 8.5, 14.5, 20.5});
  backward(y, TensorD::from_vector({2, 2, 1, 1}, {6, 12, 0, -6}));
  std::vector<double> want;
  for (double v : {1.0, 2.0, 0.0, -1.0}) want.insert(want.end(), 6, v);
  expect_near_all(x.grad(), want);
  EXPECT_THROW(global_avg_pool2d(VarD(TensorD::zeros({2, 3}))), Error);
  EXPECT_THROW(global_avg_pool2d(VarD(TensorD::zeros({2, 3, 0, 2}))), Error);
}

TEST(Pool, FloatMatchesDouble) {
  // Many planes, so the parallel paths run.
  Generator g(41);
  TensorD xd = random_tensor({4, 16, 13, 11}, g);
  std::vector<std::function<VarD(const VarD&)>> fd{
      [](const VarD& v) { return max_pool2d(v, pool_opts(3, 2, 1, true)); },
      [](const VarD& v) { return avg_pool2d(v, pool_opts(3, 2, 1, true, false)); },
      [](const VarD& v) { return adaptive_avg_pool2d(v, Size2(4, 3)); },
      [](const VarD& v) { return global_avg_pool2d(v); }};
  std::vector<std::function<Var(const Var&)>> ff{
      [](const Var& v) { return max_pool2d(v, pool_opts(3, 2, 1, true)); },
      [](const Var& v) { return avg_pool2d(v, pool_opts(3, 2, 1, true, false)); },
      [](const Var& v) { return adaptive_avg_pool2d(v, Size2(4, 3)); },
      [](const Var& v) { return global_avg_pool2d(v); }};
  for (size_t k = 0; k < fd.size(); ++k) {
    VarD x(xd.clone(), true);
    Var xf(tensor_cast<float>(xd), true);
    VarD y = fd[k](x);
    Var yf = ff[k](xf);
    TensorD seed = random_tensor(y.shape(), g);
    backward(y, seed);
    backward(yf, tensor_cast<float>(seed));
    for (int64_t i = 0; i < y.value().numel(); ++i)
      ASSERT_NEAR(yf.value()[i], y.value()[i], 1e-5) << k;
    for (int64_t i = 0; i < xd.numel(); ++i) ASSERT_NEAR(xf.grad()[i], x.grad()[i], 1e-5) << k;
  }
}

// ---- gradient checks ----------------------------------------------------------------------

namespace {

::testing::AssertionResult check_max(const Shape& shape, const Pool2dOptions& o, uint64_t seed) {
  return cnnzoo::testing::passed(
      gradcheck([o](const std::vector<VarD>& v) { return max_pool2d(v[0], o); },
                {distinct_values(shape, seed)}));
}

::testing::AssertionResult check_avg(const Shape& shape, const Pool2dOptions& o, uint64_t seed) {
  Generator g(seed);
  return cnnzoo::testing::passed(gradcheck(
      [o](const std::vector<VarD>& v) { return avg_pool2d(v[0], o); }, {random_tensor(shape, g)}));
}

}  // namespace

TEST(GradCheck, MaxPool_K3S2P1) {
  EXPECT_TRUE(check_max({2, 3, 7, 9}, pool_opts(3, 2, 1), 1));
  EXPECT_TRUE(check_max({1, 2, 4, 4}, pool_opts(2, 2, 0), 2));
}

TEST(GradCheck, MaxPool_CeilMode) {
  EXPECT_TRUE(check_max({2, 2, 6, 7}, pool_opts(3, 2, 0, true), 3));
  EXPECT_TRUE(check_max({1, 3, 5, 6}, pool_opts(3, 2, 1, true), 4));
}

TEST(GradCheck, MaxPool_RectKernelAndPadding) {
  EXPECT_TRUE(check_max({2, 2, 5, 8}, pool_opts({2, 3}, {1, 2}, Padding2d(1, 1)), 5));
  EXPECT_TRUE(check_max({1, 2, 6, 5}, pool_opts({3, 2}, {2, 1}, Padding2d(0, 1, 1, 0), true), 6));
  EXPECT_TRUE(check_max({1, 2, 7, 11}, pool_opts({2, 4}, {2, 3}, Padding2d(1, 2), true), 16));
}

TEST(GradCheck, AvgPool_IncludePad) {
  EXPECT_TRUE(check_avg({2, 3, 7, 9}, pool_opts(3, 2, 1, false, true), 7));
  EXPECT_TRUE(check_avg({1, 2, 5, 6}, pool_opts({2, 3}, {1, 2}, Padding2d(1, 1), false, true), 8));
}

TEST(GradCheck, AvgPool_ExcludePad) {
  EXPECT_TRUE(check_avg({2, 3, 7, 9}, pool_opts(3, 2, 1, false, false), 9));
  EXPECT_TRUE(check_avg({1, 2, 6, 5}, pool_opts(3, 1, 1, false, false), 10));
}

TEST(GradCheck, AvgPool_CeilMode) {
  EXPECT_TRUE(check_avg({2, 2, 6, 7}, pool_opts(3, 2, 1, true, true), 11));
  EXPECT_TRUE(check_avg({2, 2, 6, 7}, pool_opts(3, 2, 1, true, false), 12));
  EXPECT_TRUE(check_avg({1, 2, 5, 5}, pool_opts(2, 2, 0, true, true), 13));
  EXPECT_TRUE(check_avg({1, 2, 7, 11}, pool_opts({2, 4}, {2, 3}, Padding2d(1, 2), true, true), 17));
  EXPECT_TRUE(
      check_avg({1, 2, 7, 11}, pool_opts({2, 4}, {2, 3}, Padding2d(1, 2), true, false), 18));
}

TEST(GradCheck, AdaptiveAvgPool) {
  Generator g(14);
  for (auto [shape, out] : std::vector<std::pair<Shape, Size2>>{
           {{2, 3, 7, 5}, Size2(3, 2)}, {{1, 2, 2, 3}, Size2(3, 4)}, {{1, 2, 6, 6}, Size2(1, 1)}}) {
    const Size2 size = out;  // a structured binding cannot be captured before C++20
    EXPECT_GRADCHECK(
        gradcheck([size](const std::vector<VarD>& v) { return adaptive_avg_pool2d(v[0], size); },
                  {random_tensor(shape, g)}));
  }
}

TEST(GradCheck, GlobalAvgPool) {
  Generator g(15);
  for (Shape s : {Shape{2, 3, 4, 5}, Shape{1, 1, 1, 1}}) {
    EXPECT_GRADCHECK(gradcheck([](const std::vector<VarD>& v) { return global_avg_pool2d(v[0]); },
                               {random_tensor(s, g)}));
  }
}
