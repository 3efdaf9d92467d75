// FractalNet (Larsson et al. 2016): joins are flat means, the drop-path sampler's local and
// global frequencies, and dropout between each convolution and its batch norm.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "cnnzoo/models/fractalnet.hpp"
#include "cnnzoo/nn/layers.hpp"
#include "cnnzoo/ops.hpp"
#include "model_test.hpp"

using namespace cnnzoo;
using namespace cnnzoo::models;
using namespace cnnzoo::testing;

CNNZOO_PAPER_TABLE(fractalnet, {row("fractalnet-20", 33724618)
                                    .paper(33.7e6, 0.01)
                                    .classifier(512)
                                    .with("drop_path", "false")});

TEST(FractalNet, JoinsAreFlatMeans) {
  manual_seed(11);
  fractalnet::FractalBlock block(3, 4, 3, 0.0);
  block.eval();
  Generator g(5);
  Var x(randn({2, 3, 8, 8}, g));
  NoGradGuard no_grad;
  auto L = [&](int64_t c, int64_t j, const Var& v) { return block.layer(c, j).forward(v); };
  // C = 3: join after step 2 of columns 2 and 3, then of all three columns after step 4.
  Var j2 = scale(add(L(1, 0, x), L(2, 1, L(2, 0, x))), 0.5);
  Var expected = scale(add(add(L(0, 0, x), L(1, 1, j2)), L(2, 3, L(2, 2, j2))), 1.0 / 3.0);
  Tensor got = block.forward(x).value();
  for (int64_t i = 0; i < got.numel(); ++i) ASSERT_NEAR(got[i], expected.value()[i], 1e-5);
  // One column alone is just that column's chain of layers.
  Tensor col2 = block.forward(x, block.single_column(1)).value();
  Tensor chain = L(1, 1, L(1, 0, x)).value();
  EXPECT_TRUE(same(col2, chain));
}

TEST(FractalNet, DropPathSamplerFrequencies) {
  auto m = build("fractalnet-20", -1, {{"width_scale", "0.0625"}});
  auto& net = dynamic_cast<fractalnet::FractalNet&>(*m);
  Generator g(99);
  const int64_t n = 20000;
  const double p = net.local_drop_rate;
  int64_t global = 0;
  std::vector<int64_t> column_count(3, 0);
  std::map<size_t, std::pair<int64_t, int64_t>> dropped_by_arity;  // k -> (dropped, total)
  for (int64_t i = 0; i < n; ++i) {
    fractalnet::DropPathPlan plan = net.sample_drop_path(g);
    ASSERT_EQ(plan.blocks.size(), 5u);
    if (plan.global) {
      ++global;
      ++column_count.at(plan.column);
      continue;
    }
    for (size_t b = 0; b < plan.blocks.size(); ++b) {
      const auto& block = *net.blocks[b];
      for (int64_t t = 1; t <= block.steps(); ++t) {
        auto in = block.participants(t);
        int64_t kept = 0;
        for (int64_t c : in) kept += plan.blocks[b][t - 1][c];
        ASSERT_GE(kept, 1) << "a join lost every input";
        if (in.size() < 2) continue;
        auto& [dropped, total] = dropped_by_arity[in.size()];
        dropped += static_cast<int64_t>(in.size()) - kept;
        total += static_cast<int64_t>(in.size());
      }
    }
  }
  EXPECT_NEAR(global / double(n), net.global_ratio, tol(0.5, n));
  for (int64_t c = 0; c < 3; ++c)
    EXPECT_NEAR(column_count[c] / double(global), 1.0 / 3.0, tol(1.0 / 3.0, global));
  // Each input is dropped with p, except that an all-dropped join gets one input back.
  ASSERT_EQ(dropped_by_arity.size(), 2u);  // joins of 2 and of 3 inputs in a C = 3 block
  for (const auto& [k, counts] : dropped_by_arity) {
    const double expected = p - std::pow(p, double(k)) / double(k);
    EXPECT_NEAR(counts.first / double(counts.second), expected, tol(expected, counts.second))
        << "joins of " << k;
  }
}

// The real network in training mode: which columns received gradients tells global passes
// (one column, the same in every block) from local ones.
TEST(FractalNet, DropPathInTraining) {
  OneThread one_thread;
  manual_seed(2024);
  auto m = build("fractalnet-20", -1, {{"width_scale", "0.0625"}, {"dropout", "false"}});
  auto& net = dynamic_cast<fractalnet::FractalNet&>(*m);
  m->train();
  Generator g(1);
  Var x(randn({2, 3, 32, 32}, g));
  const int64_t n = 300;
  int64_t global = 0;
  for (int64_t i = 0; i < n; ++i) {
    m->zero_grad();
    Var logits = m->forward(x);
    ASSERT_EQ(logits.shape(), (Shape{2, 10}));
    backward(cross_entropy(logits, {1, 2}));
    std::set<int64_t> columns_everywhere = {0, 1, 2};
    bool single = true;
    std::set<int64_t> first_block_columns;
    for (size_t b = 0; b < net.blocks.size(); ++b) {
      std::set<int64_t> used;
      for (const auto& [name, p] : net.blocks[b]->named_parameters())
        if (p.grad().defined()) used.insert(name[6] - '1');  // "columnC.<j>...."
      ASSERT_FALSE(used.empty()) << "block " << b << " had no path";
      if (used.size() != 1 || (b > 0 && used != first_block_columns)) single = false;
      if (b == 0) first_block_columns = used;
    }
    global += single;
  }
  EXPECT_NEAR(global / double(n), 0.5, tol(0.5, n));
}

// FractalNet's base layer is conv -> dropout -> BN -> ReLU: in training every dropout reads a
// convolution's output and feeds a batch normalisation.
TEST(FractalNet, DropoutSitsBetweenEachConvolutionAndItsBatchNorm) {
  auto model = build("fractalnet-20", 10, {{"width_scale", "0.125"}, {"drop_path", "false"}});
  auto t = trace_forward(*model, input_tensor({2, 3, 32, 32}), /*training=*/true);
  int dropouts = 0;
  for (const auto& e : t->rec.events) {
    if (e.op != "dropout") continue;
    ++dropouts;
    const trace::Event* before = producer(*t, e.inputs[0]);
    ASSERT_NE(before, nullptr);
    EXPECT_EQ(before->op, "conv2d");
    bool feeds_bn = false;
    for (const auto& f : t->rec.events)
      for (const auto& in : f.inputs)
        feeds_bn =
            feeds_bn || (in == e.output && (f.op == "batch_norm" || f.op == "batch_norm_relu"));
    EXPECT_TRUE(feeds_bn);
  }
  // Blocks 2-5 drop (rates 0.1-0.4; block 1's rate is 0): 4 of 5 blocks, 7 layers each at C=3.
  EXPECT_EQ(dropouts, 4 * 7);
}
