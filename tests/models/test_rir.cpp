// ResNet in ResNet (Targ et al. 2016): only the residual stream carries shortcuts.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "cnnzoo/models/rir.hpp"
#include "cnnzoo/nn/layers.hpp"
#include "cnnzoo/ops.hpp"
#include "model_test.hpp"

using namespace cnnzoo;
using namespace cnnzoo::models;
using namespace cnnzoo::testing;

CNNZOO_PAPER_TABLE(rir, {row("rir-18-wide", 9516586).paper(10.3e6, 0.08).classifier(384)});

namespace {
// With every convolution's weights zero, what remains of a RiR unit is its shortcuts.
void zero_convolutions(nn::Module& m) {
  nn::init::for_each<nn::Conv2d>(m, [](nn::Conv2d& c) { c.weight.value().zero(); });
}
}  // namespace

// ResNet in ResNet: a generalised residual layer computes [r | t] -> [r' | t'] with one conv
// over both streams; only the residual stream r gets the identity shortcut, the transient
// stream t none. A RiR block adds its own outer shortcut to the residual stream again.
TEST(RiR, OnlyTheResidualStreamCarriesShortcuts) {
  // Eval with the initial BN (mean 0, var 1, scale 1, shift 0): BN(z) = z / sqrt(1 + eps).
  const double k = 1.0 / std::sqrt(1.0 + 1e-5);
  const Tensor x = input_tensor({2, 8, 5, 5}, 4);
  const int64_t half = 4 * 25;  // elements of one stream in one sample
  models::rir::GeneralizedResidualLayer layer(8, 8, 1);
  models::rir::RiRBlock block(8, 8, 1);
  for (nn::Module* m : {static_cast<nn::Module*>(&layer), static_cast<nn::Module*>(&block)}) {
    zero_convolutions(*m);
    m->eval();
  }
  NoGradGuard no_grad;
  const Tensor y = layer.forward(Var(x)).value(), z = block.forward(Var(x)).value();
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t i = 0; i < half; ++i) {
      const int64_t r = n * 2 * half + i, t = r + half;
      const double relu_r = std::max(0.0, double(x[r]) * k);
      EXPECT_NEAR(y[r], relu_r, 1e-6) << "residual stream, element " << r;
      EXPECT_EQ(y[t], 0.0f) << "transient stream, element " << t;
      // Two layers (each passing r through its shortcut) plus the block's outer shortcut.
      EXPECT_NEAR(z[r], std::max(0.0, relu_r * k) + x[r], 1e-6) << "block, element " << r;
      EXPECT_EQ(z[t], 0.0f) << "block transient stream, element " << t;
    }
}
