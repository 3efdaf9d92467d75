// DenseNet and DenseNet-BC on CIFAR (Huang et al. 2016): the six configurations' exact counts.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "cnnzoo/models/densenet_cifar.hpp"
#include "cnnzoo/nn/layers.hpp"
#include "cnnzoo/ops.hpp"
#include "model_test.hpp"

using namespace cnnzoo;
using namespace cnnzoo::models;
using namespace cnnzoo::testing;

CNNZOO_PAPER_TABLE(
    densenet_cifar,
    {row("densenet-40-12", 1019722).paper(1e6, 0.025).classifier(448),
     row("densenet-100-12", 6979642).paper(7e6, 0.01).classifier(1168).step(2, 16),
     row("densenet-100-24", 27249082).paper(27.2e6, 0.01).classifier(2320).step(2, 16),
     row("densenet-bc-100-12", 769162).paper(0.8e6, 0.04).classifier(342).step(2, 16),
     row("densenet-bc-250-24", 15324406).paper(15.3e6, 0.01).classifier(1734).step(2, 16),
     row("densenet-bc-190-40", 25624430).paper(25.6e6, 0.01).classifier(2190).step(2, 16)});
