// BN-Inception (Ioffe & Szegedy 2015): its stride-2 modules pass the max pool of their input
// through.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "cnnzoo/models/bn_inception.hpp"
#include "cnnzoo/nn/layers.hpp"
#include "cnnzoo/ops.hpp"
#include "model_test.hpp"

using namespace cnnzoo;
using namespace cnnzoo::models;
using namespace cnnzoo::testing;

CNNZOO_PAPER_TABLE(bn_inception,
                   {row("bn-inception", 11285224).paper(11.3e6, 0.02).grid(7).step(1, 0),
                    row("bn-inception-cifar", 10262794).grid(8).step(1, 0)});

TEST(BNInception, Stride2ModulesPassTheMaxPoolThrough) {
  manual_seed(3);
  auto model = cnnzoo::testing::build("bn-inception-cifar", 10, {{"width_scale", "0.125"}});
  model->eval();
  auto& net = dynamic_cast<BNInception&>(*model);
  int checked = 0;
  for (auto& [name, child] : net.inception->named_children()) {
    auto& m = dynamic_cast<BNInceptionModule&>(*child);
    if (m.spec.stride != 2) {
      EXPECT_TRUE(m.branch1x1 && m.branch_pool) << name;
      continue;
    }
    SCOPED_TRACE(name);  // 3c and 4e
    EXPECT_FALSE(m.branch1x1);
    EXPECT_FALSE(m.branch_pool);
    const int64_t in = m.branch3x3_1->conv->in_channels;
    Tensor x = input_tensor({2, in, 8, 8}, 5);
    Tensor y = run(m, x);
    Pool2dOptions o;
    o.kernel_size = 3;
    o.stride = 2;
    o.padding = 1;
    Tensor pooled = max_pool2d(Var(x), o).value();
    const int64_t c = y.size(1);
    expect_equal(slice(Var(y), 1, c - in, c).value(), pooled, 0.0, "the last channels");
    ++checked;
  }
  EXPECT_EQ(checked, 2);
}
