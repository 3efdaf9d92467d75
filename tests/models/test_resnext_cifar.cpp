// ResNeXt-29 on CIFAR (Xie et al. 2016): the stride sits on the grouped 3x3 convolution.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "cnnzoo/models/resnext_cifar.hpp"
#include "cnnzoo/nn/layers.hpp"
#include "cnnzoo/ops.hpp"
#include "model_test.hpp"

using namespace cnnzoo;
using namespace cnnzoo::models;
using namespace cnnzoo::testing;

CNNZOO_PAPER_TABLE(
    resnext_cifar,
    {row("resnext29-2x64d", 9130314).paper(9.1e6, 0.01).classifier(1024),
     row("resnext29-8x64d", 34426698).paper(34.4e6, 0.01).classifier(1024).step(2, 16),
     row("resnext29-16x64d", 68155210).paper(68.1e6, 0.01).classifier(1024).step(2, 16)});

// ResNeXt: a block that halves the resolution does it in its grouped 3x3 convolution (the
// 1x1 reductions keep stride 1), as in the reference implementation.
TEST(ResNeXtCifar, TheStrideIsOnTheGroupedConvolution) {
  auto model = build("resnext29-2x64d", 10, {{"bottleneck_width", "4"}});
  for (const std::string block : {"layer2.0", "layer3.0"}) {
    auto* conv1 = dynamic_cast<nn::Conv2d*>(&module_at(*model, block + ".conv1"));
    auto* conv2 = dynamic_cast<nn::Conv2d*>(&module_at(*model, block + ".conv2"));
    auto* conv3 = dynamic_cast<nn::Conv2d*>(&module_at(*model, block + ".conv3"));
    ASSERT_TRUE(conv1 && conv2 && conv3) << block;
    EXPECT_EQ(conv2->options.groups, 2) << block;
    EXPECT_EQ(conv2->options.stride.h, 2) << block;
    EXPECT_EQ(conv1->options.stride.h, 1) << block;
    EXPECT_EQ(conv3->options.stride.h, 1) << block;
  }
}
