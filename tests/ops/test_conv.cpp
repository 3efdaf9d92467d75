// conv2d: forward and backward against a plain-loop reference written here, a hand-computed
// case, double-precision gradient checks per configuration, error messages, thread counts.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "cnnzoo/ops/conv.hpp"
#include "cnnzoo/parallel.hpp"
#include "cnnzoo/precision.hpp"
#include "cnnzoo/testing/gtest.hpp"
#include "kernels/kernels.hpp"
#include "kernels/thresholds.hpp"

using namespace cnnzoo;
using cnnzoo::testing::gradcheck;
using cnnzoo::testing::random_tensor;

namespace {

struct Case {
  int64_t N, C, H, W, Cout, kh, kw;
  Conv2dParams opt;
  bool bias;
  Shape x_shape() const { return {N, C, H, W}; }
  Shape w_shape() const { return {Cout, C / opt.groups, kh, kw}; }
};

Conv2dParams options(Size2 stride, Padding2d pad, Size2 dilation = 1, int64_t groups = 1) {
  Conv2dParams o;
  o.stride = stride;
  o.padding = pad;
  o.dilation = dilation;
  o.groups = groups;
  return o;
}

// The definition of conv2d, one output element at a time; only for checking the kernels.
struct Reference {
  Case c;
  int64_t OH, OW;
  explicit Reference(const Case& cs) : c(cs) {
    const auto& o = c.opt;
    OH = (c.H + o.padding.top + o.padding.bottom - o.dilation.h * (c.kh - 1) - 1) / o.stride.h + 1;
    OW = (c.W + o.padding.left + o.padding.right - o.dilation.w * (c.kw - 1) - 1) / o.stride.w + 1;
  }
  // Calls f(y_index, x_index, w_index) for every multiply of the convolution.
  template <class F>
  void for_each_tap(F&& f) const {
    const auto& o = c.opt;
    const int64_t cg = c.C / o.groups, og = c.Cout / o.groups;
    for (int64_t n = 0; n < c.N; ++n)
      for (int64_t oc = 0; oc < c.Cout; ++oc)
        for (int64_t oh = 0; oh < OH; ++oh)
          for (int64_t ow = 0; ow < OW; ++ow)
            for (int64_t ci = 0; ci < cg; ++ci)
              for (int64_t i = 0; i < c.kh; ++i)
                for (int64_t j = 0; j < c.kw; ++j) {
                  const int64_t ih = oh * o.stride.h - o.padding.top + i * o.dilation.h;
                  const int64_t iw = ow * o.stride.w - o.padding.left + j * o.dilation.w;
                  if (ih < 0 || ih >= c.H || iw < 0 || iw >= c.W) continue;
                  const int64_t ic = oc / og * cg + ci;
                  f(((n * c.Cout + oc) * OH + oh) * OW + ow, ((n * c.C + ic) * c.H + ih) * c.W + iw,
                    ((oc * cg + ci) * c.kh + i) * c.kw + j);
                }
  }
  std::vector<double> forward(const Tensor& x, const Tensor& w, const Tensor* b) const {
    std::vector<double> y(static_cast<size_t>(c.N * c.Cout * OH * OW), 0.0);
    for_each_tap([&](int64_t yi, int64_t xi, int64_t wi) { y[yi] += double(x[xi]) * w[wi]; });
    if (b)
      for (size_t i = 0; i < y.size(); ++i)
        y[i] += (*b)[static_cast<int64_t>(i) / (OH * OW) % c.Cout];
    return y;
  }
  void backward(const Tensor& x, const Tensor& w, const Tensor& dy, std::vector<double>& dx,
                std::vector<double>& dw, std::vector<double>& db) const {
    dx.assign(static_cast<size_t>(x.numel()), 0.0);
    dw.assign(static_cast<size_t>(w.numel()), 0.0);
    db.assign(static_cast<size_t>(c.Cout), 0.0);
    for_each_tap([&](int64_t yi, int64_t xi, int64_t wi) {
      dx[xi] += double(dy[yi]) * w[wi];
      dw[wi] += double(dy[yi]) * x[xi];
    });
    for (int64_t i = 0; i < dy.numel(); ++i) db[i / (OH * OW) % c.Cout] += dy[i];
  }
};

Tensor random_float(const Shape& s, uint64_t seed) {
  Generator g(seed);
  return tensor_cast<float>(random_tensor(s, g));
}

::testing::AssertionResult close(const Tensor& got, const std::vector<double>& want,
                                 const char* what, double tol = 1e-4) {
  if (got.numel() != static_cast<int64_t>(want.size()))
    return ::testing::AssertionFailure()
           << what << ": " << got.numel() << " elements, want " << want.size();
  for (int64_t i = 0; i < got.numel(); ++i) {
    const double w = want[static_cast<size_t>(i)];
    if (std::abs(got[i] - w) > tol * (1 + std::abs(w)))
      return ::testing::AssertionFailure()
             << what << " element " << i << ": got " << got[i] << ", want " << w;
  }
  return ::testing::AssertionSuccess();
}

// Float forward and backward (through autograd) against the reference.
void check_against_reference(const Case& c) {
  Reference ref(c);
  Tensor xt = random_float(c.x_shape(), 1), wt = random_float(c.w_shape(), 2);
  Tensor bt = random_float({c.Cout}, 3);
  Var x(xt, true), w(wt, true), b;
  if (c.bias) b = Var(bt, true);
  Var y = conv2d(x, w, b, c.opt);
  ASSERT_EQ(y.shape(), (Shape{c.N, c.Cout, ref.OH, ref.OW}));
  ASSERT_EQ(y.shape(), conv2d_output_shape(c.x_shape(), c.w_shape(), c.opt));
  EXPECT_TRUE(close(y.value(), ref.forward(xt, wt, c.bias ? &bt : nullptr), "forward"));

  Tensor dy = random_float(y.shape(), 4);
  backward(y, dy);
  std::vector<double> dx, dw, db;
  ref.backward(xt, wt, dy, dx, dw, db);
  EXPECT_TRUE(close(x.grad(), dx, "grad input"));
  EXPECT_TRUE(close(w.grad(), dw, "grad weight"));
  if (c.bias) EXPECT_TRUE(close(b.grad(), db, "grad bias"));
}

// bfloat16 rounding (to nearest even) of every element: what the bf16 GEMM multiplies.
Tensor round_bf16(const Tensor& t) {
  Tensor r = t.clone();
  for (int64_t i = 0; i < r.numel(); ++i) {
    float f = r[i];
    uint32_t u;
    std::memcpy(&u, &f, 4);
    u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
    std::memcpy(&f, &u, 4);
    r[i] = f;
  }
  return r;
}

bool takes_winograd(const Case& c) {
  const Shape y = conv2d_output_shape(c.x_shape(), c.w_shape(), c.opt);
  const Conv2dParams& o = c.opt;
  kernels::ConvGeometry g{
      c.N,          c.C,        c.H,        c.W,           c.Cout,         c.kh,
      c.kw,         o.stride.h, o.stride.w, o.padding.top, o.padding.left, o.dilation.h,
      o.dilation.w, o.groups,   y[2],       y[3]};
  return kernels::winograd_applies(g);
}

// Under Precision::BF16 a conv's GEMMs take bf16-rounded operands summed in fp32: forward
// (x, w), input gradient (dy, w), weight gradient (dy, x). Depthwise convs stay fp32, and so
// do the Winograd forward and input gradient (their weight gradient is a bf16 GEMM from
// kBf16WeightGradMinOutputs output channels on); the bias
// and its gradient are fp32. Where bf16 is used, the fp32 result is not what came out: the
// bf16 path really ran.
void check_bf16_against_reference(const Case& c) {
  if (!bf16_supported()) GTEST_SKIP() << "this CPU has no AVX-512 BF16";
  const bool weight_grad_bf16 =
      (c.opt.groups != c.C || c.C == 1) &&
      (!takes_winograd(c) || c.Cout / c.opt.groups >= kernels::kBf16WeightGradMinOutputs);
  const bool bf16 = weight_grad_bf16 && !takes_winograd(c);
  Reference ref(c);
  Tensor xt = random_float(c.x_shape(), 1), wt = random_float(c.w_shape(), 2);
  Tensor bt = random_float({c.Cout}, 3);
  Var x(xt, true), w(wt, true), b;
  if (c.bias) b = Var(bt, true);
  PrecisionGuard guard(Precision::BF16);
  Var y = conv2d(x, w, b, c.opt);
  auto r = [](bool rounded, const Tensor& t) { return rounded ? round_bf16(t) : t; };
  const Tensor* bias = c.bias ? &bt : nullptr;
  EXPECT_TRUE(close(y.value(), ref.forward(r(bf16, xt), r(bf16, wt), bias), "bf16 forward"));
  if (bf16)
    EXPECT_FALSE(close(y.value(), ref.forward(xt, wt, bias), "fp32 forward", 1e-5))
        << "the bf16 conv gave the fp32 result";
  Tensor dy = random_float(y.shape(), 4);
  backward(y, dy);
  std::vector<double> dx, dw, db, unused;
  ref.backward(xt, r(bf16, wt), r(bf16, dy), dx, unused, unused);
  ref.backward(r(weight_grad_bf16, xt), wt, r(weight_grad_bf16, dy), unused, dw, unused);
  ref.backward(xt, wt, dy, unused, unused, db);
  EXPECT_TRUE(close(x.grad(), dx, "bf16 grad input"));
  EXPECT_TRUE(close(w.grad(), dw, "bf16 grad weight"));
  if (c.bias) EXPECT_TRUE(close(b.grad(), db, "bf16 grad bias"));
}

// Double-precision finite differences for input, weight and (when present) bias.
void check_gradients(const Case& c) {
  Generator g(7);
  std::vector<TensorD> inputs{random_tensor(c.x_shape(), g), random_tensor(c.w_shape(), g)};
  if (c.bias) inputs.push_back(random_tensor({c.Cout}, g));
  const Conv2dParams opt = c.opt;
  EXPECT_GRADCHECK(gradcheck(
      [opt](const std::vector<VarD>& v) {
        return conv2d(v[0], v[1], v.size() > 2 ? v[2] : VarD(), opt);
      },
      inputs));
}

}  // namespace

// Every configuration gets a forward/backward reference test and a gradient check.
#define CONV_CASE(Name, ...)               \
  static const Case k##Name{__VA_ARGS__};  \
  TEST(Conv2d, Reference_##Name) {         \
    check_against_reference(k##Name);      \
  }                                        \
  TEST(GradCheck, Conv2d_##Name) {         \
    check_gradients(k##Name);              \
  }                                        \
  TEST(Conv2dBf16, Reference_##Name) {     \
    check_bf16_against_reference(k##Name); \
  }

//          N  C  H   W  Cout kh kw  options(stride, padding, dilation, groups)           bias
CONV_CASE(Basic3x3, 2, 3, 7, 6, 4, 3, 3, options(1, 1), true)
CONV_CASE(NoPadding, 2, 3, 6, 7, 2, 3, 3, options(1, 0), false)
CONV_CASE(Stride2, 2, 3, 9, 8, 5, 3, 3, options(2, 1), true)
CONV_CASE(AsymmetricPadding, 2, 2, 6, 7, 3, 3, 3, options(1, Padding2d(0, 2, 1, 0)), false)
CONV_CASE(Dilation2, 2, 2, 9, 8, 3, 3, 3, options(1, 2, 2), true)
CONV_CASE(Groups2, 2, 4, 6, 6, 6, 3, 3, options(1, 1, 1, 2), true)
CONV_CASE(Depthwise, 2, 4, 7, 7, 4, 3, 3, options(1, 1, 1, 4), true)
CONV_CASE(DepthwiseStride2, 2, 3, 8, 9, 3, 3, 3, options(2, 1, 1, 3), false)
CONV_CASE(DepthwiseMultiplier2Dilated, 2, 3, 9, 8, 6, 3, 3,
          options(Size2(1, 2), Padding2d(2, 1, 0, 2), 2, 3), true)
CONV_CASE(DepthwiseDilated2x3, 2, 3, 9, 8, 3, 2, 3, options(1, Padding2d(2, 1, 0, 2), 2, 3), true)
// Stride 2 without padding never reads the last input row and column: their gradient is zero.
CONV_CASE(DepthwiseStride2Unread, 1, 2, 8, 8, 2, 3, 3, options(2, 0, 1, 2), false)
CONV_CASE(Depthwise5x5, 1, 2, 10, 9, 2, 5, 5, options(1, 2, 1, 2), false)
CONV_CASE(Kernel1x7, 2, 2, 5, 9, 3, 1, 7, options(1, Padding2d(0, 3)), true)
CONV_CASE(Kernel7x1, 2, 2, 9, 5, 3, 7, 1, options(1, Padding2d(3, 0)), false)
CONV_CASE(Kernel3x5, 2, 3, 7, 9, 2, 3, 5, options(Size2(2, 1), Padding2d(1, 2)), true)
CONV_CASE(Pointwise1x1, 2, 5, 4, 6, 3, 1, 1, options(1, 0), true)
CONV_CASE(Pointwise1x1Groups2, 2, 4, 5, 3, 6, 1, 1, options(1, 0, 1, 2), false)
CONV_CASE(Pointwise1x1Stride2, 2, 4, 7, 6, 3, 1, 1, options(2, 0), true)
CONV_CASE(Pointwise1x1Padded, 1, 3, 4, 4, 2, 1, 1, options(1, 1), false)
// Planes of 32 pixels take the unpacked register-blocked GEMM (11 output channels: a block of
// 8 rows and one of 3).
CONV_CASE(Pointwise1x1WholeVectors, 2, 5, 8, 4, 11, 1, 1, options(1, 0), true)
CONV_CASE(OddSizesBatch3, 3, 3, 11, 5, 2, 3, 3, options(Size2(2, 3), Padding2d(1, 0, 2, 1)), false)
CONV_CASE(Batch3WithBias, 3, 2, 5, 5, 3, 3, 3, options(1, 1), true)
CONV_CASE(GroupsStrideDilation, 3, 4, 10, 9, 4, 3, 2,
          options(2, Padding2d(1, 2, 0, 1), Size2(2, 1), 2), true)
// Output widths 8, 16 and 32 take the fixed-length row copies inside im2col / col2im.
CONV_CASE(Width8, 2, 3, 6, 8, 4, 3, 3, options(1, 1), true)
CONV_CASE(Width8RowStride2, 2, 2, 9, 8, 3, 3, 3, options(Size2(2, 1), 1), false)
CONV_CASE(Width16, 1, 2, 4, 16, 3, 3, 3, options(1, 1), false)
CONV_CASE(Width32Dilated, 1, 2, 5, 36, 2, 3, 3, options(1, Padding2d(2, 0), 2), true)
CONV_CASE(KernelCoversInput, 2, 2, 3, 4, 3, 3, 4, options(1, 0), true)
// Small planes put several images side by side in one GEMM (8x8: 4 per GEMM, so 7 images
// make a block of 4 and one of 3); with groups, stride and 1x1 too.
CONV_CASE(SmallPlanesBatch7, 7, 3, 8, 8, 5, 3, 3, options(1, 1), true)
CONV_CASE(SmallPlanesGroupsStride2, 5, 4, 9, 9, 6, 3, 3, options(2, 1, 1, 2), false)
CONV_CASE(SmallPlanesPointwiseBatch9, 9, 6, 5, 5, 4, 1, 1, options(1, 0), true)

// 3x3 stride-1 convs with enough channels take the Winograd F(4x4, 3x3) kernel (forward and
// input gradient): output sides that are not multiples of the 4x4 tile, every padding it
// accepts (0-2, asymmetric), channel counts that leave partial register blocks, batches that
// fill several tile blocks.
#define WINOGRAD_CASE(Name, ...)          \
  CONV_CASE(Name, __VA_ARGS__)            \
  TEST(Conv2d, TakesWinograd_##Name) {    \
    EXPECT_TRUE(takes_winograd(k##Name)); \
  }
// Batches reach the 48 tiles (4x4 outputs each) below which Winograd does not pay.
WINOGRAD_CASE(Winograd8x8, 12, 8, 8, 8, 8, 3, 3, options(1, 1), true)
WINOGRAD_CASE(WinogradOddSizes, 8, 9, 7, 10, 11, 3, 3, options(1, 1), false)
WINOGRAD_CASE(WinogradNoPadding, 12, 8, 9, 10, 10, 3, 3, options(1, 0), true)
WINOGRAD_CASE(WinogradPadding2, 12, 10, 5, 6, 8, 3, 3, options(1, 2), false)
WINOGRAD_CASE(WinogradAsymmetricPadding, 12, 8, 6, 7, 9, 3, 3, options(1, Padding2d(2, 0, 0, 1)),
              true)

TEST(Conv2d, Reference_WinogradManyBlocks) {
  const Case c{9, 8, 32, 32, 17, 3, 3, options(1, 1), true};  // 576 tiles, several blocks
  EXPECT_TRUE(takes_winograd(c));
  check_against_reference(c);
  check_bf16_against_reference(c);  // the same conv as a bf16 GEMM
}

// Enough output channels that under bf16 the weight gradient is a bf16 GEMM.
WINOGRAD_CASE(Winograd32Outputs, 12, 8, 8, 8, 32, 3, 3, options(1, 1), true)

TEST(Conv2d, WinogradOnlyWhereItPays) {
  EXPECT_FALSE(takes_winograd(kBasic3x3));   // 3 input channels
  EXPECT_FALSE(takes_winograd(kStride2));    // stride 2
  EXPECT_FALSE(takes_winograd(kDilation2));  // dilation
  EXPECT_FALSE(takes_winograd(kGroups2));    // groups
  EXPECT_FALSE(takes_winograd(Case{2, 16, 2, 2, 16, 3, 3, options(1, 1), true}));  // 2x2 output
  EXPECT_FALSE(takes_winograd(Case{2, 16, 8, 8, 16, 3, 3, options(1, 3), true}));  // padding 3
  // Too few tiles to pay back the weight transform: 11 images of 2x2 tiles, not 12.
  EXPECT_FALSE(takes_winograd(Case{11, 8, 8, 8, 8, 3, 3, options(1, 1), true}));
  EXPECT_TRUE(takes_winograd(Case{12, 8, 8, 8, 8, 3, 3, options(1, 1), true}));
}

// Wide enough that the im2col buffer is split into several row tiles per image.
TEST(Conv2d, Reference_TiledIm2col) {
  check_against_reference(Case{1, 32, 13, 100, 4, 3, 3, options(1, 1), true});
  check_bf16_against_reference(Case{1, 32, 13, 100, 4, 3, 3, options(1, 1), true});
}
TEST(Conv2d, Reference_TiledIm2colStrided) {
  check_against_reference(
      Case{2, 24, 45, 70, 3, 5, 3, options(Size2(2, 1), Padding2d(2, 1, 0, 1)), false});
}

// Hand-computed: x = 1..9 (3x3), w = [[1, 2], [3, 4]], stride 2, padding 1, bias 1.
// Output windows start at (-1, -1), (-1, 1), (1, -1), (1, 1).
TEST(Conv2d, HandComputedStride2Padding1) {
  Var x(Tensor::from_vector({1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9}), true);
  Var w(Tensor::from_vector({1, 1, 2, 2}, {1, 2, 3, 4}), true);
  Var b(Tensor::from_vector({1}, {1}), true);
  Var y = conv2d(x, w, b, options(2, 1));
  ASSERT_EQ(y.shape(), (Shape{1, 1, 2, 2}));
  // 1*4 + 1; 2*3 + 3*4 + 1; 4*2 + 7*4 + 1; 5*1 + 6*2 + 8*3 + 9*4 + 1
  EXPECT_EQ(y.value().to_vector(), (std::vector<float>{5, 19, 37, 78}));
  backward(y, Tensor::ones({1, 1, 2, 2}));
  // Each input pixel is read by exactly one tap (stride 2, 2x2 kernel).
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{4, 3, 4, 2, 1, 2, 4, 3, 4}));
  // w[a][b] sums the pixels it touched: w00 {5}, w01 {4, 6}, w10 {2, 8}, w11 {1, 3, 7, 9}.
  EXPECT_EQ(w.grad().to_vector(), (std::vector<float>{5, 10, 10, 20}));
  EXPECT_EQ(b.grad().to_vector(), (std::vector<float>{4}));
}

// Hand-computed depthwise: channel 0 scaled by 2, channel 1 by -1 (1x1 kernels, groups 2).
TEST(Conv2d, HandComputedDepthwise) {
  Var x(Tensor::from_vector({1, 2, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8}), true);
  Var w(Tensor::from_vector({2, 1, 1, 1}, {2, -1}), true);
  Var y = conv2d(x, w, Var(), options(1, 0, 1, 2));
  EXPECT_EQ(y.value().to_vector(), (std::vector<float>{2, 4, 6, 8, -5, -6, -7, -8}));
  backward(y, Tensor::ones({1, 2, 2, 2}));
  EXPECT_EQ(w.grad().to_vector(), (std::vector<float>{10, 26}));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{2, 2, 2, 2, -1, -1, -1, -1}));
}

TEST(Conv2d, OnlyRequestedGradientsAreComputed) {
  Tensor xt = random_float({2, 3, 5, 5}, 1), wt = random_float({4, 3, 3, 3}, 2);
  Var x(xt, false), w(wt, true), b(Tensor::zeros({4}), false);
  Var y = conv2d(x, w, b, options(1, 1));
  backward(y, Tensor::ones(y.shape()));
  EXPECT_FALSE(x.grad().defined());
  EXPECT_FALSE(b.grad().defined());
  EXPECT_TRUE(w.grad().defined());
  NoGradGuard guard;
  EXPECT_FALSE(conv2d(Var(xt, true), w, b, options(1, 1)).requires_grad());
}

TEST(Conv2d, OutputShape) {
  EXPECT_EQ(conv2d_output_shape({8, 3, 32, 32}, {16, 3, 3, 3}, options(1, 1)),
            (Shape{8, 16, 32, 32}));
  EXPECT_EQ(conv2d_output_shape({1, 3, 224, 224}, {64, 3, 7, 7}, options(2, 3)),
            (Shape{1, 64, 112, 112}));
  EXPECT_EQ(conv2d_output_shape({2, 4, 10, 10}, {4, 2, 3, 3}, options(1, 0, 2, 2)),
            (Shape{2, 4, 6, 6}));
  EXPECT_EQ(conv2d_output_shape({1, 1, 5, 5}, {1, 1, 1, 1}, options(1, Padding2d(0, 1, 2, 0))),
            (Shape{1, 1, 6, 7}));
}

namespace {
void expect_conv_error(const Shape& xs, const Shape& ws, const Conv2dParams& opt,
                       const Shape& bs = {}) {
  Var x(Tensor::zeros(xs)), w(Tensor::zeros(ws)), b;
  if (!bs.empty()) b = Var(Tensor::zeros(bs));
  try {
    conv2d(x, w, b, opt);
    ADD_FAILURE() << "no error for input " << shape_str(xs) << " weight " << shape_str(ws);
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("conv2d"), std::string::npos) << msg;
    EXPECT_NE(msg.find(shape_str(ws)), std::string::npos) << msg;
  }
}
}  // namespace

TEST(Conv2d, Errors) {
  expect_conv_error({3, 8, 8}, {4, 3, 3, 3}, options(1, 1));             // input rank 3
  expect_conv_error({1, 3, 8, 8}, {4, 3, 9}, options(1, 1));             // weight rank 3
  expect_conv_error({1, 3, 8, 8}, {4, 2, 3, 3}, options(1, 1));          // C_in mismatch
  expect_conv_error({1, 4, 8, 8}, {4, 4, 3, 3}, options(1, 1, 1, 2));    // C_in != 4 * 2
  expect_conv_error({1, 3, 8, 8}, {4, 1, 3, 3}, options(1, 1, 1, 2));    // 3 channels, groups 2
  expect_conv_error({1, 4, 8, 8}, {3, 2, 3, 3}, options(1, 1, 1, 2));    // 3 outputs, groups 2
  expect_conv_error({1, 3, 8, 8}, {4, 3, 3, 3}, options(1, 1), {3});     // bias size
  expect_conv_error({1, 3, 8, 8}, {4, 3, 3, 3}, options(1, 1), {4, 1});  // bias rank
  expect_conv_error({1, 3, 4, 4}, {4, 3, 5, 5}, options(1, 0));          // kernel > input
  expect_conv_error({1, 3, 4, 4}, {4, 3, 3, 3}, options(1, 0, 2));       // dilated kernel > input
  expect_conv_error({1, 3, 4, 4}, {4, 3, 3, 3}, options(0, 1));          // stride 0
  expect_conv_error({1, 3, 4, 4}, {4, 3, 3, 3}, options(1, -1));         // negative padding
  expect_conv_error({1, 3, 4, 4}, {4, 3, 3, 3}, options(1, 1, 0));       // dilation 0
  expect_conv_error({1, 3, 4, 4}, {4, 3, 3, 3}, options(1, 1, 1, 0));    // groups 0
  EXPECT_THROW(conv2d_output_shape({1, 3, 4, 4}, {4, 3, 0, 3}, options(1, 1)), Error);
  EXPECT_THROW(conv2d(Var(), Var(Tensor::zeros({1, 1, 1, 1})), Var(), options(1, 0)), Error);
}

namespace {
struct Result {
  Tensor y, dx, dw, db;
};
Result run_with_threads(int threads, const Case& c) {
  set_num_threads(threads);
  Var x(random_float(c.x_shape(), 11), true), w(random_float(c.w_shape(), 12), true);
  Var b(random_float({c.Cout}, 13), true);
  Var y = conv2d(x, w, b, c.opt);
  backward(y, random_float(y.shape(), 14));
  return {y.value(), x.grad(), w.grad(), b.grad()};
}
void expect_same(const Tensor& a, const Tensor& b, const char* what) {
  ASSERT_EQ(a.shape(), b.shape()) << what;
  for (int64_t i = 0; i < a.numel(); ++i)
    ASSERT_NEAR(a[i], b[i], 1e-4f * (1 + std::abs(a[i]))) << what << " element " << i;
}
}  // namespace

TEST(Conv2d, SameResultWithOneAndTwoThreads) {
  const int before = num_threads();
  // Each case is large enough (> 0.5M multiply-adds) that the kernels do use two threads.
  const std::vector<Case> cases{
      Case{5, 16, 12, 12, 16, 3, 3, options(1, 1), true},                  // im2col, batch split
      Case{1, 32, 30, 30, 8, 3, 3, options(1, 1), true},                   // one image: row tiles
      Case{2, 32, 13, 100, 4, 3, 3, options(1, 1), false},                 // several tiles
      Case{4, 32, 16, 16, 32, 1, 1, options(1, 0), true},                  // 1x1 direct GEMM
      Case{4, 32, 40, 40, 64, 3, 3, options(2, 1, 1, 32), true},           // depthwise
      Case{4, 16, 20, 15, 16, 3, 5, options(Size2(1, 2), 2, 2, 2), true},  // groups
      Case{16, 32, 8, 8, 32, 3, 3, options(1, 1), true},                   // images side by side
      Case{12, 64, 4, 4, 48, 1, 1, options(1, 0), false},                  // ... and 1x1
      Case{6, 16, 16, 16, 24, 3, 3, options(1, 1), true},                  // Winograd
      Case{1, 64, 7, 7, 128, 3, 3, options(1, 1), true},    // one image: output-channel blocks
      Case{1, 128, 6, 6, 160, 1, 1, options(1, 0), false},  // ... of a 1x1 GEMM
      Case{1, 64, 8, 8, 72, 1, 1, options(1, 0), true},     // ... of the 1x1 register kernel
  };
  for (const Case& c : cases) {
    Result one = run_with_threads(1, c);
    Result two = run_with_threads(2, c);
    expect_same(one.y, two.y, "forward");
    expect_same(one.dx, two.dx, "grad input");
    expect_same(one.dw, two.dw, "grad weight");
    expect_same(one.db, two.db, "grad bias");
    // Weight gradients are summed over fixed image blocks, whatever the thread count.
    EXPECT_EQ(one.dw.to_vector(), two.dw.to_vector());
  }
  set_num_threads(before);
}

TEST(Conv2d, RepeatedCallsReuseWorkspace) {
  // The per-thread im2col workspace grows and is reused; results must not depend on history.
  const Case big{2, 16, 20, 20, 8, 3, 3, options(1, 1), true};
  const Case small{2, 3, 5, 5, 2, 3, 3, options(1, 1), false};
  check_against_reference(big);
  check_against_reference(small);
  check_against_reference(big);
}
