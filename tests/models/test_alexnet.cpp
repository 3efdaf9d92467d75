// AlexNet (Krizhevsky et al. 2012): the torchvision single-tower form and the CIFAR version,
// whose dropouts follow relu6 and relu7 as in the paper, with its two-tower and BN-free options.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "cnnzoo/models/alexnet.hpp"
#include "cnnzoo/nn/layers.hpp"
#include "cnnzoo/nn/summary.hpp"
#include "cnnzoo/ops.hpp"
#include "model_test.hpp"

using namespace cnnzoo;
using namespace cnnzoo::models;
using namespace cnnzoo::testing;

CNNZOO_PAPER_TABLE(alexnet, {row("alexnet-cifar", 29984490).classifier(4096).macs(323600384),
                             row("alexnet", 61100840).step(1, 0)});

// The 2012 paper (and its Caffe model) drops the outputs of relu6 and relu7, not the inputs
// of fc6 and fc7 as torchvision's single-tower AlexNet does.
TEST(AlexNet, DropoutFollowsRelu6AndRelu7) {
  auto m = build("alexnet-cifar");
  const nn::Module* classifier = nullptr;
  for (auto& [n, c] : m->named_children())
    if (n == "classifier") classifier = c.get();
  ASSERT_NE(classifier, nullptr);
  std::vector<std::string> order;
  for (auto& [n, c] : classifier->named_children()) order.push_back(c->type_name());
  EXPECT_EQ(order, (std::vector<std::string>{"Linear", "ReLU", "Dropout", "Linear", "ReLU",
                                             "Dropout", "Linear"}));
}

// The paper's two-tower split, and its BN-free network: biased convolutions, LRN after conv1
// and conv2.
TEST(AlexNet, TwoTowerAndBatchNormFreeOptions) {
  auto a = build("alexnet-cifar", 100, {{"groups", "2"}});
  EXPECT_EQ(a->num_parameters(), 28940100);
  EXPECT_EQ(nn::summarize(*a, {3, 32, 32}).macs, 200658944);
  auto plain = build("alexnet-cifar", -1, {{"batch_norm", "false"}});
  EXPECT_EQ(plain->num_parameters(), 29983114);
  int lrn = 0, bn = 0;
  for (auto& [n, m] : plain->named_modules()) {
    lrn += m->type_name() == "LocalResponseNorm";
    bn += m->type_name() == "BatchNorm";
  }
  EXPECT_EQ(lrn, 2);
  EXPECT_EQ(bn, 0);
  training_step(*plain, "alexnet-cifar batch_norm=false", input_tensor({2, 3, 32, 32}, 5), 10);
  EXPECT_THROW(build("alexnet-cifar", -1, {{"groups", "3"}}), Error);
}
