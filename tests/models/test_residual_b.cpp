// Residual family, part B: DenseNet, PyramidNet, PyramidSepDrop, ResNeXt-29, FractalNet,
// Highway, Swapout, RiR. Parameter counts, a training step through every model, and the
// stochastic regularisers' behaviour (frequencies against their schedules, eval determinism).
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "cnnzoo/models.hpp"
#include "cnnzoo/ops.hpp"
#include "models/fractalnet.hpp"
#include "models/pyramidnet.hpp"
#include "models/pyramidsepdrop.hpp"
#include "models/swapout.hpp"

using namespace cnnzoo;
using namespace cnnzoo::models;

namespace {

Tensor randn(const Shape& shape, Generator& g) {
  Tensor t = Tensor::empty(shape);
  for (auto& v : t) v = static_cast<float>(g.normal());
  return t;
}

nn::ModulePtr build(const std::string& name, int64_t classes = -1,
                    std::map<std::string, std::string> options = {}) {
  ModelSpec s;
  s.name = name;
  s.num_classes = classes;
  s.options = std::move(options);
  return build_model(s);
}

// Binomial tolerance: `sigmas` standard deviations of a frequency over n trials.
double tol(double p, int64_t n, double sigmas = 4.5) {
  return sigmas * std::sqrt(std::max(p * (1 - p), 0.01) / static_cast<double>(n));
}

bool any_nonzero(const Tensor& t, int64_t begin, int64_t end) {
  for (int64_t i = begin; i < end; ++i)
    if (t[i] != 0.0f) return true;
  return false;
}

bool same(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) return false;
  for (int64_t i = 0; i < a.numel(); ++i)
    if (a[i] != b[i]) return false;
  return true;
}

struct CountCase {
  const char* name;
  int64_t exact;     // derived by hand from the layer table (conv + BN affine + linear)
  double paper;      // the paper's (or the issue's) figure, in parameters
  double tolerance;  // relative; above 1% only where the model file explains the gap
};

// Exact counts, derived independently from each layer table (see the model files).
const CountCase kCounts[] = {
    {"densenet-40-12", 1019722, 1.0e6, 0.025},  // paper rounds to 0.1M
    {"densenet-100-12", 6979642, 7.0e6, 0.01},
    {"densenet-100-24", 27249082, 27.2e6, 0.01},
    {"densenet-bc-100-12", 769162, 0.8e6, 0.04},  // paper rounds to 0.1M
    {"densenet-bc-250-24", 15324406, 15.3e6, 0.01},
    {"densenet-bc-190-40", 25624430, 25.6e6, 0.01},
    {"pyramidnet-110-a48", 1739730, 1.7e6, 0.03},      // paper rounds to 0.1M
    {"pyramidnet-110-a84", 3855054, 3.8e6, 0.015},     // the paper truncates 3.86M
    {"pyramidnet-110-a270", 28485477, 28.3e6, 0.007},  // see pyramidnet.cpp
    {"pyramidnet-272-a200-bottleneck", 26049562, 26.0e6, 0.01},
    {"pyramidsepdrop-182-a150", 16529001, 16.5e6, 0.01},  // no paper figure: basic units
    {"resnext29-2x64d", 9130314, 9.1e6, 0.01},
    {"resnext29-8x64d", 34426698, 34.4e6, 0.01},
    {"resnext29-16x64d", 68155210, 68.1e6, 0.01},
    {"fractalnet-20", 33724618, 33.7e6, 0.01},  // the paper's 38.6M is not reproducible
    {"highway-19", 2342406, 2.3e6, 0.02},       // paper 2.3M (the 2.8M is the seed's)
    {"swapout-32-w4", 7357114, 7.35e6, 0.01},
    {"rir-18-wide", 9516586, 10.3e6, 0.08},  // see rir.cpp: the paper's layout is not given
};

}  // namespace

TEST(ResidualB, EveryNameIsRegistered) {
  for (const auto& c : kCounts) {
    const ModelInfo& info = find_model(c.name);
    EXPECT_EQ(info.dataset, "cifar") << c.name;
    EXPECT_EQ(info.input_size, 32) << c.name;
    EXPECT_FALSE(info.arxiv.empty()) << c.name;
  }
  EXPECT_THROW(build("densenet-40-12", -1, {{"no_such_option", "1"}}), Error);
}

TEST(ResidualB, ParameterCounts) {
  for (const auto& c : kCounts) {
    auto m = build(c.name);
    const int64_t n = m->num_parameters();
    EXPECT_EQ(n, c.exact) << c.name;
    EXPECT_NEAR(static_cast<double>(n) / c.paper, 1.0, c.tolerance) << c.name;
  }
}

TEST(ResidualB, OptionsChangeTheArchitecture) {
  // PyramidNet widths: floor(16 + alpha k / 3N); the last unit reaches 16 + alpha.
  pyramidnet::Config pc;
  pc.depth = 110;
  pc.alpha = 48;
  auto w = pyramidnet::unit_widths(pc);
  ASSERT_EQ(w.size(), 54u);
  EXPECT_EQ(w.front(), 16);  // floor(16 + 48/54)
  EXPECT_EQ(w[1], 17);       // floor(16 + 96/54)
  EXPECT_EQ(w.back(), 64);
  pc.depth = 182;
  pc.alpha = 150;
  EXPECT_EQ(pyramidnet::unit_widths(pc).back(), 166);  // exact, no 165.99

  // DenseNet-BC-100-12 and a plain DenseNet-100-12 differ by construction.
  EXPECT_LT(build("densenet-100-12", -1, {{"bottleneck", "true"}, {"compression", "0.5"}})
                ->num_parameters(),
            build("densenet-100-12")->num_parameters());
  EXPECT_EQ(build("densenet-bc-100-12", -1, {{"bottleneck", "true"}, {"compression", "0.5"}})
                ->num_parameters(),
            769162);
  // ResNeXt cardinality: one grouped conv, so 16x64d = 16 groups of 64 channels.
  EXPECT_EQ(build("resnext29-2x64d", -1, {{"cardinality", "16"}})->num_parameters(), 68155210);
  EXPECT_THROW(build("pyramidnet-110-a48", -1, {{"depth", "111"}}), Error);
  EXPECT_THROW(build("densenet-40-12", -1, {{"depth", "41"}}), Error);
}

// A training step through the full model: output [2, classes], finite gradients for every
// parameter. Structure-dropping regularisers (drop-path, separated stochastic depth) are off
// here so that every parameter is on the graph; the regulariser tests below cover them.
TEST(ResidualB, TrainingStepEveryModel) {
  const std::map<std::string, std::map<std::string, std::string>> options = {
      {"fractalnet-20", {{"drop_path", "false"}}},
      {"pyramidsepdrop-182-a150", {{"p_L", "1"}}},
  };
  Generator g(7);
  for (const auto& c : kCounts) {
    SCOPED_TRACE(c.name);
    auto it = options.find(c.name);
    auto m =
        build(c.name, 100, it == options.end() ? std::map<std::string, std::string>{} : it->second);
    m->train();
    Var x(randn({2, 3, 32, 32}, g));
    Var logits = m->forward(x);
    ASSERT_EQ(logits.shape(), (Shape{2, 100}));
    Var loss = cross_entropy(logits, {3, 97});
    ASSERT_TRUE(std::isfinite(loss.value().item()));
    backward(loss);
    int64_t missing = 0, non_finite = 0;
    for (const auto& [name, p] : m->named_parameters()) {
      if (!p.grad().defined() || p.grad().shape() != p.shape()) {
        ++missing;
        ADD_FAILURE() << "no gradient for " << name;
        continue;
      }
      for (float v : p.grad())
        if (!std::isfinite(v)) {
          ++non_finite;
          break;
        }
    }
    EXPECT_EQ(missing, 0);
    EXPECT_EQ(non_finite, 0);
  }
}

TEST(ResidualB, EvalIsDeterministic) {
  Generator g(3);
  Var x(randn({2, 3, 32, 32}, g));
  const std::vector<std::pair<std::string, std::map<std::string, std::string>>> cases = {
      {"fractalnet-20", {{"width_scale", "0.0625"}}},
      {"pyramidsepdrop-182-a150", {{"depth", "20"}, {"alpha", "12"}}},
      {"swapout-32-w4", {{"depth", "8"}, {"widen_factor", "1"}}},
      {"densenet-40-12", {{"depth", "10"}, {"drop_rate", "0.2"}}},
  };
  for (const auto& [name, opts] : cases) {
    SCOPED_TRACE(name);
    auto m = build(name, -1, opts);
    m->train();
    m->forward(x);  // move the BN running statistics away from their initial values
    m->eval();
    NoGradGuard no_grad;
    Tensor a = m->forward(x).value().clone();
    Tensor b = m->forward(x).value().clone();
    EXPECT_TRUE(same(a, b));
    // Training mode is stochastic for all of them (a few passes: two may draw alike).
    m->train();
    Tensor c = m->forward(x).value().clone();
    bool differs = false;
    for (int i = 0; i < 8 && !differs; ++i) differs = !same(c, m->forward(x).value());
    EXPECT_TRUE(differs);
  }
}

// ---- FractalNet drop-path -------------------------------------------------------------------

TEST(ResidualB, FractalJoinsAreFlatMeans) {
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

TEST(ResidualB, DropPathSamplerFrequencies) {
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
TEST(ResidualB, DropPathInTraining) {
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

// ---- PyramidSepDrop -------------------------------------------------------------------------

TEST(ResidualB, SeparatedStochasticDepthSchedule) {
  EXPECT_DOUBLE_EQ(pyramidsepdrop::survival_probability(90, 90, 0.5), 0.5);
  EXPECT_DOUBLE_EQ(pyramidsepdrop::survival_probability(1, 90, 0.5), 1.0 - 0.5 / 90);
  auto m = build("pyramidsepdrop-182-a150");
  auto& net = dynamic_cast<pyramidnet::PyramidNet&>(*m);
  auto& last = dynamic_cast<pyramidsepdrop::SepDropUnit&>((*net.layer3)[29]);
  auto& first = dynamic_cast<pyramidsepdrop::SepDropUnit&>((*net.layer1)[0]);
  EXPECT_DOUBLE_EQ(last.survival, 0.5);
  EXPECT_DOUBLE_EQ(first.survival, 1.0 - 0.5 / 90);
  EXPECT_EQ(last.out_channels, 166);
}

// Gates observed from the gradients of each unit's last BN: the channels of a closed gate get
// exactly zero gradient, and a unit with both gates closed is not on the graph at all.
TEST(ResidualB, SeparatedStochasticDepthGateFrequencies) {
  manual_seed(77);
  auto m = build("pyramidsepdrop-182-a150", -1, {{"depth", "20"}, {"alpha", "18"}});
  auto& net = dynamic_cast<pyramidnet::PyramidNet&>(*m);
  std::vector<pyramidsepdrop::SepDropUnit*> units;
  for (auto* stage : {net.layer1.get(), net.layer2.get(), net.layer3.get()})
    for (size_t i = 0; i < stage->size(); ++i)
      units.push_back(&dynamic_cast<pyramidsepdrop::SepDropUnit&>((*stage)[i]));
  ASSERT_EQ(units.size(), 9u);
  std::vector<Var> gate_bias;
  for (auto* u : units) {
    ASSERT_GT(u->out_channels, u->in_channels);
    for (const auto& [name, p] : u->named_parameters())
      if (name == "bn3.bias") gate_bias.push_back(p);
  }
  ASSERT_EQ(gate_bias.size(), units.size());
  m->train();
  Generator g(4);
  Var x(randn({2, 3, 8, 8}, g));
  const int64_t n = 1000;
  std::vector<int64_t> existing(units.size()), added(units.size()), both(units.size());
  for (int64_t i = 0; i < n; ++i) {
    m->zero_grad();
    backward(cross_entropy(m->forward(x), {0, 5}));
    for (size_t u = 0; u < units.size(); ++u) {
      const Tensor& gb = gate_bias[u].grad();
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

TEST(ResidualB, DroppedDownsamplingUnitStillDownsamples) {
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

// ---- Swapout --------------------------------------------------------------------------------

TEST(ResidualB, SwapoutSchedule) {
  auto m = build("swapout-32-w4");
  auto& net = dynamic_cast<swapout::SwapoutNet&>(*m);
  ASSERT_EQ(net.units.size(), 15u);
  for (size_t l = 1; l <= 15; ++l)
    EXPECT_DOUBLE_EQ(net.units[l - 1]->theta, 1.0 - 0.5 * double(l) / 15.0);
  EXPECT_DOUBLE_EQ(net.units.back()->theta, 0.5);
}

// Every output element of a unit is one of 0, X, F(X), X + F(X); their frequencies give the
// keep rates of Theta1 and Theta2.
TEST(ResidualB, SwapoutMaskFrequencies) {
  manual_seed(31);
  auto m = build("swapout-32-w4", -1, {{"depth", "20"}, {"widen_factor", "1"}});
  auto& net = dynamic_cast<swapout::SwapoutNet&>(*m);
  m->train();
  Generator g(12);
  for (size_t l : {size_t(1), size_t(5), net.units.size()}) {
    auto& unit = *net.units[l - 1];
    Var x(randn({2, unit.in_channels, 8, 8}, g));
    Tensor s = unit.skip(x).value(), f = unit.residual(x).value();
    int64_t n = 0, k1 = 0, k2 = 0, k12 = 0;
    for (int rep = 0; rep < 40; ++rep) {
      Tensor y = unit.forward(x).value();
      ASSERT_EQ(y.shape(), s.shape());
      for (int64_t i = 0; i < y.numel(); ++i) {
        const float cand[4] = {0.0f, s[i], f[i], s[i] + f[i]};
        if (std::fabs(s[i]) < 1e-3f || std::fabs(f[i]) < 1e-3f || std::fabs(s[i] - f[i]) < 1e-3f)
          continue;  // ambiguous element
        int best = 0;
        for (int c = 1; c < 4; ++c)
          if (std::fabs(y[i] - cand[c]) < std::fabs(y[i] - cand[best])) best = c;
        ASSERT_NEAR(y[i], cand[best], 1e-5);
        ++n;
        k1 += (best & 1);
        k2 += (best >> 1);
        k12 += best == 3;
      }
    }
    const double theta = unit.theta;
    SCOPED_TRACE("unit " + std::to_string(l));
    EXPECT_NEAR(k1 / double(n), theta, tol(theta, n));
    EXPECT_NEAR(k2 / double(n), theta, tol(theta, n));
    EXPECT_NEAR(k12 / double(n), theta * theta, tol(theta * theta, n));
  }
}

TEST(ResidualB, SwapoutStochasticInference) {
  manual_seed(8);
  auto m = build("swapout-32-w4", -1, {{"depth", "8"}, {"widen_factor", "1"}});
  auto& net = dynamic_cast<swapout::SwapoutNet&>(*m);
  Generator g(21);
  Var x(randn({4, 3, 32, 32}, g));
  m->train();
  for (int i = 0; i < 3; ++i) m->forward(x);  // some running statistics
  m->eval();
  NoGradGuard no_grad;
  Tensor det = softmax(m->forward(x).value());
  EXPECT_TRUE(same(det, softmax(m->forward(x).value())));
  net.stochastic_inference = 30;
  Tensor avg = m->forward(x).value();  // log of the averaged probabilities
  ASSERT_EQ(avg.shape(), det.shape());
  double max_diff = 0;
  for (int64_t r = 0; r < 4; ++r) {
    double row = 0;
    for (int64_t k = 0; k < 10; ++k) {
      const double p = std::exp(avg[r * 10 + k]);
      row += p;
      max_diff = std::max(max_diff, std::fabs(p - det[r * 10 + k]));
    }
    EXPECT_NEAR(row, 1.0, 1e-4);
  }
  EXPECT_GT(max_diff, 1e-6);  // sampling is not the expectation...
  EXPECT_LT(max_diff, 0.1);   // ...but close to it
}
