// PyramidSepDrop (Yamada et al. 2016): the separated stochastic depth schedule, its gate
// frequencies, and a dropped downsampling unit that still downsamples.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "cnnzoo/models/pyramidsepdrop.hpp"
#include "cnnzoo/nn/layers.hpp"
#include "cnnzoo/ops.hpp"
#include "model_test.hpp"

using namespace cnnzoo;
using namespace cnnzoo::models;
using namespace cnnzoo::testing;

CNNZOO_PAPER_TABLE(pyramidsepdrop, {row("pyramidsepdrop-182-a150", 16529001)
                                        .paper(16.5e6, 0.01)
                                        .classifier(166)
                                        .step(2, 16)
                                        .with("p_L", "1")});

TEST(PyramidSepDrop, SeparatedStochasticDepthSchedule) {
  EXPECT_DOUBLE_EQ(pyramidsepdrop::survival_probability(90, 90, 0.5), 0.5);
  EXPECT_DOUBLE_EQ(pyramidsepdrop::survival_probability(1, 90, 0.5), 1.0 - 0.5 / 90);
  auto m = build("pyramidsepdrop-182-a150", -1, {{"depth", "20"}, {"alpha", "18"}});
  auto& net = dynamic_cast<pyramidnet::PyramidNet&>(*m);
  auto& last = dynamic_cast<pyramidsepdrop::SepDropUnit&>((*net.layer3)[2]);
  auto& first = dynamic_cast<pyramidsepdrop::SepDropUnit&>((*net.layer1)[0]);
  EXPECT_DOUBLE_EQ(last.survival, 0.5);
  EXPECT_DOUBLE_EQ(first.survival, 1.0 - 0.5 / 9);
  EXPECT_EQ(first.out_channels, 18);
  EXPECT_EQ(last.out_channels, 34);
}

// Gates observed from the gradients of each unit's last BN scale (gamma): the channels of a
// closed gate get exactly zero gradient, and a unit with both gates closed is not on the graph
// at all. (Not the BN shift: through later training-mode BNs its gradient sums to ~0.)
TEST(PyramidSepDrop, SeparatedStochasticDepthGateFrequencies) {
  OneThread one_thread;
  manual_seed(77);
  auto m = build("pyramidsepdrop-182-a150", -1, {{"depth", "20"}, {"alpha", "18"}});
  auto& net = dynamic_cast<pyramidnet::PyramidNet&>(*m);
  std::vector<pyramidsepdrop::SepDropUnit*> units;
  for (auto* stage : {net.layer1.get(), net.layer2.get(), net.layer3.get()})
    for (size_t i = 0; i < stage->size(); ++i)
      units.push_back(&dynamic_cast<pyramidsepdrop::SepDropUnit&>((*stage)[i]));
  ASSERT_EQ(units.size(), 9u);
  std::vector<Var> gate_grad;
  for (auto* u : units) {
    ASSERT_GT(u->out_channels, u->in_channels);
    for (const auto& [name, p] : u->named_parameters())
      if (name == "bn3.weight") gate_grad.push_back(p);
  }
  ASSERT_EQ(gate_grad.size(), units.size());
  m->train();
  Generator g(4);
  Var x(randn({2, 3, 8, 8}, g));
  const int64_t n = 1000;
  std::vector<int64_t> existing(units.size()), added(units.size()), both(units.size());
  for (int64_t i = 0; i < n; ++i) {
    m->zero_grad();
    backward(cross_entropy(m->forward(x), {0, 5}));
    for (size_t u = 0; u < units.size(); ++u) {
      const Tensor& gb = gate_grad[u].grad();
      if (!gb.defined()) continue;  // both gates closed
      const bool e = any_nonzero(gb, 0, units[u]->in_channels);
      const bool a = any_nonzero(gb, units[u]->in_channels, units[u]->out_channels);
      ASSERT_TRUE(e || a) << "a computed branch with both gates closed";
      existing[u] += e;
      added[u] += a;
      both[u] += e && a;
    }
  }
  for (size_t u = 0; u < units.size(); ++u) {
    const double p = units[u]->survival;
    EXPECT_DOUBLE_EQ(p, 1.0 - 0.5 * double(u + 1) / 9.0);
    EXPECT_NEAR(existing[u] / double(n), p, tol(p, n)) << "unit " << u + 1;
    EXPECT_NEAR(added[u] / double(n), p, tol(p, n)) << "unit " << u + 1;
    EXPECT_NEAR(both[u] / double(n), p * p, tol(p * p, n)) << "independent gates, unit " << u + 1;
  }
}

TEST(PyramidSepDrop, DroppedDownsamplingUnitStillDownsamples) {
  manual_seed(5);
  pyramidsepdrop::SepDropUnit unit(16, 20, 2, false, 0.5);
  unit.train();
  Generator g(8);
  Var x(randn({2, 16, 8, 8}, g));
  Pool2dOptions o;
  o.kernel_size = 2;
  Tensor sc = pad_channels(avg_pool2d(x, o), 0, 4).value();

  Var dropped = unit.forward_gated(x, false, false);
  ASSERT_EQ(dropped.shape(), (Shape{2, 20, 4, 4}));
  EXPECT_TRUE(same(dropped.value(), sc));

  // Only the existing part: the new channels are the shortcut's zeros.
  Tensor f = unit.residual(x).value();
  Tensor y = unit.forward_gated(x, true, false).value();
  ASSERT_EQ(y.shape(), (Shape{2, 20, 4, 4}));
  for (int64_t nb = 0; nb < 2; ++nb)
    for (int64_t c = 0; c < 20; ++c)
      for (int64_t i = 0; i < 16; ++i) {
        const int64_t k = (nb * 20 + c) * 16 + i;
        ASSERT_FLOAT_EQ(y[k], c < 16 ? f[k] + sc[k] : 0.0f);
      }
  // Only the new part.
  Tensor z = unit.forward_gated(x, false, true).value();
  for (int64_t nb = 0; nb < 2; ++nb)
    for (int64_t c = 0; c < 20; ++c)
      for (int64_t i = 0; i < 16; ++i) {
        const int64_t k = (nb * 20 + c) * 16 + i;
        ASSERT_FLOAT_EQ(z[k], c < 16 ? sc[k] : f[k]);
      }
  // Evaluation: shortcut + p * F.
  unit.eval();
  NoGradGuard no_grad;
  Tensor fe = unit.residual(x).value();
  Tensor ye = unit.forward(x).value();
  for (int64_t k = 0; k < ye.numel(); ++k) ASSERT_NEAR(ye[k], sc[k] + 0.5f * fe[k], 1e-5);
}
