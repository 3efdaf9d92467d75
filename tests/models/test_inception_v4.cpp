// Inception-v4 and Inception-ResNet-v2 (Szegedy et al. 2016): exact counts against the paper's.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "cnnzoo/models/inception_v4.hpp"
#include "cnnzoo/nn/layers.hpp"
#include "cnnzoo/ops.hpp"
#include "model_test.hpp"

using namespace cnnzoo;
using namespace cnnzoo::models;
using namespace cnnzoo::testing;

CNNZOO_PAPER_TABLE(inception_v4,
                   {row("inception-v4", 42679816).paper(42.7e6, 0.02).grid(8).step(1, 0),
                    row("inception-resnet-v2", 55843464).paper(55.8e6, 0.02).grid(8).step(1, 0)});
