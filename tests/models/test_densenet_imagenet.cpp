// DenseNet-121/161/169/201 as torchvision builds them (keys and logits: test_torchvision.cpp).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "cnnzoo/models/densenet_imagenet.hpp"
#include "cnnzoo/nn/layers.hpp"
#include "cnnzoo/ops.hpp"
#include "model_test.hpp"

using namespace cnnzoo;
using namespace cnnzoo::models;
using namespace cnnzoo::testing;

CNNZOO_PAPER_TABLE(densenet_imagenet,
                   {row("densenet121", 7978856).step(1, 0), row("densenet161", 28681000).step(1, 0),
                    row("densenet169", 14149480).step(1, 0),
                    row("densenet201", 20013928).step(1, 0)});
