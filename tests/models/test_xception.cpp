// Xception (Chollet 2016): every separable convolution is a depthwise conv then a 1x1.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "cnnzoo/models/xception.hpp"
#include "cnnzoo/nn/layers.hpp"
#include "cnnzoo/ops.hpp"
#include "model_test.hpp"

using namespace cnnzoo;
using namespace cnnzoo::models;
using namespace cnnzoo::testing;

CNNZOO_PAPER_TABLE(xception, {row("xception", 22855952).paper(22.856e6, 0.02).grid(10).step(1, 0),
                              row("xception-cifar", 20827442).grid(4).step(1, 0)});

TEST(Xception, SeparableConvolutions) {
  // Every separable convolution is a depthwise conv (groups = channels) then a 1x1, with no
  // BN between them: the module's only parameters are the two weights.
  auto m = build("xception");
  int64_t depthwise = 0;
  for (auto& [key, t] : m->state_dict()) {
    if (key.find("sepconv.depthwise.weight") != std::string::npos) {
      ++depthwise;
      EXPECT_EQ(t.size(1), 1) << key;
      EXPECT_EQ(t.size(2), 3) << key;
    }
    EXPECT_EQ(key.find("sepconv.depthwise.bias"), std::string::npos) << key;
    EXPECT_EQ(key.find("sepconv.bn"), std::string::npos) << key;
  }
  EXPECT_EQ(depthwise, 2 + 2 + 2 + 8 * 3 + 2 + 2);  // entry, middle, exit flows
}
