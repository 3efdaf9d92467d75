// Pre-activation ResNets (He et al. 2016): exact counts; the 1001-layer figure is the paper's
// weights alone.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "cnnzoo/models/preact_resnet.hpp"
#include "cnnzoo/nn/layers.hpp"
#include "cnnzoo/ops.hpp"
#include "model_test.hpp"

using namespace cnnzoo;
using namespace cnnzoo::models;
using namespace cnnzoo::testing;

CNNZOO_PAPER_TABLE(
    preact_resnet,
    {row("preact-resnet110", 1730522).paper(1.7e6, 0.0294).classifier(64),
     row("preact-resnet164", 1703258).paper(1.7e6, 0.0294).classifier(256),
     row("preact-resnet1001", 10327706).paper(10.2e6, 0.015).classifier(256).step(1, 16)});

// preact_resnet.cpp: the paper's 10.2M for ResNet-1001 is this layer plan's conv and fc
// weights alone (10,178,480); with the BN parameters the count is 10,327,706.
TEST(PreActResNet, Resnet1001FigureIsTheWeightsAlone) {
  auto model = build("preact-resnet1001");
  int64_t weights = 0;
  for (auto& [n, p] : model->named_parameters())
    if (p.dim() >= 2) weights += p.value().numel();
  EXPECT_EQ(weights, 10178480);
  EXPECT_NEAR(static_cast<double>(weights) / 1e6, 10.2, 0.05);
}
