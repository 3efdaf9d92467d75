// SE-ResNet-50 (Hu et al. 2017): the reduction ratio option.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "cnnzoo/models/se_resnet.hpp"
#include "cnnzoo/nn/layers.hpp"
#include "cnnzoo/ops.hpp"
#include "model_test.hpp"

using namespace cnnzoo;
using namespace cnnzoo::models;
using namespace cnnzoo::testing;

CNNZOO_PAPER_TABLE(se_resnet,
                   {row("se-resnet50", 28088024).paper(28.1e6, 0.02).grid(7).step(1, 0)});

TEST(SEResNet, SEReductionOption) {
  // r = 8 doubles the SE hidden widths: 2 * C * C/r + C/r + C per block.
  auto m = build("se-resnet50", -1, {{"se_reduction", "8"}});
  int64_t se = 0;
  const int64_t blocks[] = {3, 4, 6, 3};
  for (int i = 0; i < 4; ++i) {
    int64_t c = 256 << i;
    se += blocks[i] * (2 * c * (c / 8) + c / 8 + c);
  }
  EXPECT_EQ(m->num_parameters(), 25557032 + se);
  EXPECT_THROW(build("se-resnet50", -1, {{"se_reduction", "7"}}), Error);
  EXPECT_THROW(build("xception", -1, {{"se_reduction", "8"}}), Error);
}
