// Inception v3 (Szegedy et al. 2015): the modules concatenate their branches; the torchvision
// model and the CIFAR version.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "cnnzoo/models/inception_v3.hpp"
#include "cnnzoo/nn/layers.hpp"
#include "cnnzoo/ops.hpp"
#include "model_test.hpp"

using namespace cnnzoo;
using namespace cnnzoo::models;
using namespace cnnzoo::testing;

CNNZOO_PAPER_TABLE(inception_v3,
                   {row("inception-v3-cifar", 21806058).classifier(2048).macs(3631154176),
                    row("inception_v3", 27161264).step(2, 0).auxiliary(1)});

TEST(InceptionV3, ModulesConcatenateTheirBranches) {
  manual_seed(5);
  InceptionV3Module::Width w = [](int64_t c) { return c / 16; };
  InceptionA a(8, 32, w);
  a.eval();
  Tensor x = input_tensor({1, 8, 7, 7}, 8);
  Tensor y = run(a, x);
  EXPECT_EQ(y.size(1), a.out_channels);
  // The first branch is the 1x1 unit on the input.
  expect_equal(slice(Var(y), 1, 0, 4).value(), run(*a.branch1x1, x), 0.0, "branch1x1 first");
  // The pool branch (last) starts with a 3x3 average that counts the padding.
  Pool2dOptions o;
  o.kernel_size = 3;
  o.stride = 1;
  o.padding = 1;
  Tensor bp = run(*a.branch_pool, avg_pool2d(Var(x), o).value());
  expect_equal(slice(Var(y), 1, y.size(1) - bp.size(1), y.size(1)).value(), bp, 0.0,
               "pool branch last");
}
