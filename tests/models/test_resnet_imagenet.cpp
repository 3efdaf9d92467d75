// ImageNet ResNets, wide ResNet-50-2 and ResNeXt-50/101 as torchvision builds them (keys and
// logits: test_torchvision.cpp).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "cnnzoo/models/resnet_imagenet.hpp"
#include "cnnzoo/nn/layers.hpp"
#include "cnnzoo/ops.hpp"
#include "model_test.hpp"

using namespace cnnzoo;
using namespace cnnzoo::models;
using namespace cnnzoo::testing;

CNNZOO_PAPER_TABLE(resnet_imagenet,
                   {row("resnet18", 11689512).step(1, 0), row("resnet34", 21797672).step(1, 0),
                    row("resnet50", 25557032).step(1, 0), row("resnet101", 44549160).step(1, 0),
                    row("resnet152", 60192808).step(1, 0),
                    row("wide_resnet50_2", 68883240).step(1, 0),
                    row("resnext50_32x4d", 25028904).step(1, 0),
                    row("resnext101_32x8d", 88791336).step(1, 0)});
