// PyramidNet (Han et al. 2016): BN-conv-BN-ReLU-conv-BN units, no ReLU after the stem or the
// addition, and a zero-padded average-pool shortcut.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "cnnzoo/models/pyramidnet.hpp"
#include "cnnzoo/nn/layers.hpp"
#include "cnnzoo/ops.hpp"
#include "model_test.hpp"

using namespace cnnzoo;
using namespace cnnzoo::models;
using namespace cnnzoo::testing;

CNNZOO_PAPER_TABLE(
    pyramidnet,
    {row("pyramidnet-110-a48", 1739730).paper(1.7e6, 0.03).classifier(64),
     row("pyramidnet-110-a84", 3855054).paper(3.8e6, 0.015).classifier(100),
     row("pyramidnet-110-a270", 28485477).paper(28.3e6, 0.007).classifier(286).step(2, 16),
     row("pyramidnet-272-a200-bottleneck", 26049562)
         .paper(26e6, 0.01)
         .classifier(864)
         .step(2, 16)});

// PyramidNet: the stem is conv-BN with no ReLU, no ReLU follows a unit's addition, and a
// unit that widens pads its shortcut with zero channels (downsampling ones average-pool it).
TEST(PyramidNet, NoReLUAfterTheStemOrTheAdditionAndAPaddedShortcut) {
  auto model = build("pyramidnet-110-a48", 10, {{"depth", "20"}});
  auto t = trace_forward(*model, input_tensor({2, 3, 32, 32}));
  const auto& ev = t->rec.events;
  ASSERT_GT(ev.size(), 3u);
  EXPECT_EQ(ev[0].op, "conv2d");
  // At inference the stem's BN folds into its conv. No ReLU reads the stem or a unit's sum,
  // but the last sum goes through the final BN-ReLU before pooling.
  const trace::Event* last_add = nullptr;
  for (const auto& e : ev)
    if (e.op == "add") last_add = &e;
  ASSERT_NE(last_add, nullptr);
  for (const auto& e : ev)
    if (e.op == "relu" || e.op == "batch_norm_relu")
      for (const auto& in : e.inputs) {
        const trace::Event* p = producer(*t, in);
        EXPECT_FALSE(p && p->op == "add" && p != last_add) << e.op << " applied to a unit's sum";
        EXPECT_FALSE(p == &ev[0]) << e.op << " applied to the stem";
      }
  int padded = 0, pooled = 0;
  for (const auto& e : ev) {
    padded += e.op == "pad_channels";
    pooled += e.op == "avg_pool2d";
  }
  EXPECT_GT(padded, 0) << "the widening units' shortcuts are zero-padded";
  EXPECT_EQ(pooled, 2) << "two downsampling units average-pool their shortcut";
}
