// Precision::BF16: the bf16 GEMM against bf16-rounded operands summed in double (every
// operand layout, edges, accumulation), linear under bf16, and the setting's errors.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "cnnzoo/error.hpp"
#include "cnnzoo/ops/linear.hpp"
#include "cnnzoo/precision.hpp"
#include "cnnzoo/random.hpp"
#include "cnnzoo/testing/gtest.hpp"
#include "kernels/gemm_bf16.hpp"

using namespace cnnzoo;

namespace {

// Round to nearest even, keeping 8 bits of mantissa.
float round_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
  std::memcpy(&f, &u, 4);
  return f;
}

std::vector<float> random_values(size_t n, uint64_t seed) {
  Generator g(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(g.normal());
  return v;
}

// A stored M x K (or K x N) matrix, row- or column-major, with padding between lines so that
// strides are not the matrix's width.
struct Stored {
  int64_t rows, cols;
  bool row_major;
  std::vector<float> data;
  int64_t ld() const { return (row_major ? cols : rows) + 3; }
  Stored(int64_t r, int64_t c, bool rm, uint64_t seed) : rows(r), cols(c), row_major(rm) {
    data = random_values(static_cast<size_t>((row_major ? rows : cols) * ld()), seed);
  }
  kernels::MatrixView view() const {
    return row_major ? kernels::MatrixView{data.data(), ld(), 1}
                     : kernels::MatrixView{data.data(), 1, ld()};
  }
  float at(int64_t i, int64_t j) const {
    return row_major ? data[size_t(i * ld() + j)] : data[size_t(j * ld() + i)];
  }
};

}  // namespace

TEST(GemmBf16, EqualsBf16RoundedOperandsSummedInDoubleForEveryLayoutAndEdge) {
  if (!bf16_supported()) GTEST_SKIP() << "this CPU has no AVX-512 BF16";
  // Sizes cross the 8 x 32 micro-tile and the 256-deep K block, with odd K.
  const int64_t sizes[][3] = {{1, 1, 1},    {8, 32, 2},   {13, 37, 301}, {16, 64, 576},
                              {3, 100, 17}, {40, 5, 513}, {9, 33, 256}};
  for (const auto& s : sizes) {
    const int64_t M = s[0], N = s[1], K = s[2];
    for (int layout = 0; layout < 4; ++layout)
      for (bool accumulate : {false, true}) {
        const Stored A(M, K, layout & 1, 10 + layout), B(K, N, layout & 2, 20 + layout);
        const int64_t ldc = N + 5;
        std::vector<float> C = random_values(size_t(M * ldc), 30), before = C;
        kernels::gemm_bf16(M, N, K, A.view(), B.view(), C.data(), ldc, accumulate);
        for (int64_t i = 0; i < M; ++i)
          for (int64_t j = 0; j < ldc; ++j) {
            const float got = C[size_t(i * ldc + j)];
            if (j >= N) {  // past the tile: untouched
              ASSERT_EQ(got, before[size_t(i * ldc + j)]) << "wrote past column " << N;
              continue;
            }
            double want = accumulate ? before[size_t(i * ldc + j)] : 0.0, scale = 0;
            for (int64_t k = 0; k < K; ++k) {
              const double p = double(round_bf16(A.at(i, k))) * round_bf16(B.at(k, j));
              want += p;
              scale += std::abs(p);
            }
            ASSERT_NEAR(got, want, 1e-6 * (scale + 1))
                << M << "x" << N << "x" << K << " layout " << layout << " acc " << accumulate
                << " at (" << i << ", " << j << ")";
          }
      }
  }
}

TEST(GemmBf16, NaNAndInfinityPropagate) {
  if (!bf16_supported()) GTEST_SKIP() << "this CPU has no AVX-512 BF16";
  std::vector<float> a{1, std::nanf(""), 2, 3}, b{1, 1, 1, 1}, c(2);
  kernels::gemm_bf16(2, 1, 2, {a.data(), 2, 1}, {b.data(), 1, 1}, c.data(), 1, false);
  EXPECT_TRUE(std::isnan(c[0]));
  EXPECT_EQ(c[1], 5.0f);
  a[1] = INFINITY;
  kernels::gemm_bf16(2, 1, 2, {a.data(), 2, 1}, {b.data(), 1, 1}, c.data(), 1, false);
  EXPECT_EQ(c[0], INFINITY);
}

TEST(Precision, NamesRoundTripAndOthersAreRefused) {
  EXPECT_EQ(parse_precision("fp32"), Precision::FP32);
  EXPECT_EQ(parse_precision("bf16"), Precision::BF16);
  EXPECT_EQ(to_string(Precision::BF16), "bf16");
  try {
    parse_precision("fp16");
    ADD_FAILURE() << "fp16 accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'fp16'"), std::string::npos) << e.what();
  }
  EXPECT_EQ(precision(), Precision::FP32);  // the default
}

TEST(Precision, Bf16IsRefusedWithOneLineOnACpuWithoutIt) {
  if (bf16_supported()) {
    PrecisionGuard guard(Precision::BF16);
    EXPECT_EQ(precision(), Precision::BF16);
  } else {
    try {
      set_precision(Precision::BF16);
      ADD_FAILURE() << "bf16 accepted on a CPU without AVX-512 BF16";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("AVX-512 BF16"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(precision(), Precision::FP32);
}

// y = x W^T + b and its gradients under bf16: rounded operands, fp32 sums, fp32 bias.
TEST(LinearBf16, EqualsBf16RoundedOperandsAndDiffersFromFp32) {
  if (!bf16_supported()) GTEST_SKIP() << "this CPU has no AVX-512 BF16";
  const int64_t n = 37, in = 130, out = 21;
  auto tensor = [](const Shape& s, uint64_t seed) {
    auto v = random_values(size_t(shape_numel(s)), seed);
    return Tensor::from_vector(s, v);
  };
  Tensor xt = tensor({n, in}, 1), wt = tensor({out, in}, 2), bt = tensor({out}, 3);
  Tensor dy = tensor({n, out}, 4);
  Var x(xt, true), w(wt, true), b(bt, true);
  Var y;
  {
    PrecisionGuard guard(Precision::BF16);
    y = linear(x, w, b);
    backward(y, dy);
  }
  auto r = [](const Tensor& t, int64_t i) { return double(round_bf16(t[i])); };
  // got (rows x cols) against sum_k lhs(i, k) * rhs(k, j) of rounded operands, + bias(j).
  auto expect_product = [](const Tensor& got, int64_t rows, int64_t cols, int64_t depth, auto lhs,
                           auto rhs, auto bias, const char* what) {
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < cols; ++j) {
        double want = bias(j), scale = 1;
        for (int64_t k = 0; k < depth; ++k) {
          want += lhs(i, k) * rhs(k, j);
          scale += std::abs(lhs(i, k) * rhs(k, j));
        }
        ASSERT_NEAR(got[i * cols + j], want, 1e-6 * scale) << what << " (" << i << ", " << j << ")";
      }
  };
  auto no_bias = [](int64_t) { return 0.0; };
  expect_product(
      y.value(), n, out, in, [&](int64_t i, int64_t k) { return r(xt, i * in + k); },
      [&](int64_t k, int64_t o) { return r(wt, o * in + k); },
      [&](int64_t o) { return double(bt[o]); }, "y");
  expect_product(
      w.grad(), out, in, n, [&](int64_t o, int64_t i) { return r(dy, i * out + o); },
      [&](int64_t i, int64_t k) { return r(xt, i * in + k); }, no_bias, "dw");
  expect_product(
      x.grad(), n, in, out, [&](int64_t i, int64_t o) { return r(dy, i * out + o); },
      [&](int64_t o, int64_t k) { return r(wt, o * in + k); }, no_bias, "dx");
  // And not the fp32 product: the bf16 path really ran.
  double worst = 0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t o = 0; o < out; ++o) {
      double exact = bt[o];
      for (int64_t k = 0; k < in; ++k) exact += double(xt[i * in + k]) * wt[o * in + k];
      worst = std::max(worst, std::abs(y.value()[i * out + o] - exact));
    }
  EXPECT_GT(worst, 1e-4) << "the bf16 linear gave the fp32 result";
  for (int64_t o = 0; o < out; ++o) {
    double want = 0;
    for (int64_t i = 0; i < n; ++i) want += dy[i * out + o];
    EXPECT_NEAR(b.grad()[o], want, 1e-4);
  }
}
