// The shared residual blocks: option-A shortcuts pick every other pixel and pad with zeros,
// the stochastic-depth shortcut averages.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "cnnzoo/models/resnet_blocks.hpp"
#include "cnnzoo/nn/layers.hpp"
#include "cnnzoo/ops.hpp"
#include "model_test.hpp"

using namespace cnnzoo;
using namespace cnnzoo::models;
using namespace cnnzoo::testing;

TEST(ResNetBlocks, OptionAPicksAndTheSDShortcutAverages) {
  Tensor t = Tensor::empty({1, 1, 4, 4});
  for (int64_t i = 0; i < 16; ++i) t[i] = static_cast<float>(i);
  Var x(t);
  ZeroPadShortcut pick(1, 3, 2);
  Var a = pick.forward(x);
  ASSERT_EQ(a.shape(), (Shape{1, 3, 2, 2}));
  EXPECT_EQ(a.value().to_vector(), (std::vector<float>{0, 2, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0}));
  ZeroPadShortcut avg(1, 2, 2, ZeroPadShortcut::Subsample::Average);
  Var b = avg.forward(x);
  ASSERT_EQ(b.shape(), (Shape{1, 2, 2, 2}));
  EXPECT_EQ(b.value().to_vector(), (std::vector<float>{2.5f, 4.5f, 10.5f, 12.5f, 0, 0, 0, 0}));
}
