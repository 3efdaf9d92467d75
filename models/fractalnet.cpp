// FractalNet for CIFAR (Larsson et al. 2016, arXiv:1605.07648): fractalnet-20 is B = 5 blocks
// of C = 3 columns, so the deepest path has 5 * 2^(C-1) = 20 convolutions; widths 64, 128,
// 256, 512, 512; 2x2 max pooling after every block.
//
// Regularisation as the paper's best CIFAR result (drop-path + dropout): dropout 0.1 * b in
// block b = 0..4 (placed after the conv, before BN); drop-path sampled once per mini-batch,
// half of the mini-batches global (ONE column, the same in every block) and half local (each
// join drops each input with p = 0.15, at least one survives). Joins are flat means over the
// surviving inputs, so a C = 3 block's last join weights its three inputs 1/3 each.
//
// Drop-path trains sub-networks whose join statistics differ from the all-path network used
// at test time (BN running statistics are shared), so it pays off only over long schedules:
// on a 10k-image CIFAR subset, one epoch at width_scale 0.25 reached 37% test accuracy with
// `--set drop_path=false --set dropout=false` but stayed at chance with both regularisers on.
//
// Parameters: 33,724,618 (conv + BN affine + linear, 10 classes); conv weights alone are
// 33,698,880. The paper's table says 38.6M, which no reading of its layout reproduces (the
// seed study derived the same 33.7M); we report the exact count.
#include "cnnzoo/models/fractalnet.hpp"

#include <cmath>

#include "cnnzoo/error.hpp"
#include "cnnzoo/nn/init.hpp"
#include "cnnzoo/ops/activation.hpp"
#include "cnnzoo/ops/arith.hpp"
#include "cnnzoo/ops/dropout.hpp"
#include "cnnzoo/ops/pool.hpp"
#include "cnnzoo/ops/shape.hpp"
#include "models/paper.hpp"
#include "models/papers.hpp"

namespace cnnzoo::models::fractalnet {

ConvBlock::ConvBlock(int64_t in_channels, int64_t out_channels, double drop_rate)
    : drop_rate(drop_rate) {
  conv = register_module("conv", nn::conv3x3(in_channels, out_channels));
  bn = register_module("bn", std::make_shared<nn::BatchNorm2d>(out_channels));
}

Var ConvBlock::forward(const Var& x) {
  Var h = conv->forward(x);
  if (drop_rate > 0.0) h = dropout(h, drop_rate, is_training(), global_generator());
  return bn->forward_relu(h);
}

FractalBlock::FractalBlock(int64_t in_channels, int64_t out_channels, int64_t columns,
                           double drop_rate)
    : columns(columns) {
  check(columns >= 1 && columns <= 8, "fractalnet: columns must be in 1..8");
  for (int64_t c = 0; c < columns; ++c) {
    auto col = std::make_shared<nn::Sequential>();
    for (int64_t j = 0; j < (int64_t(1) << c); ++j)
      col->push_back(std::make_shared<ConvBlock>(j == 0 ? in_channels : out_channels, out_channels,
                                                 drop_rate));
    column_layers.push_back(register_module("column" + std::to_string(c + 1), col));
  }
}

std::vector<int64_t> FractalBlock::participants(int64_t t) const {
  std::vector<int64_t> out;
  for (int64_t c = 0; c < columns; ++c)
    if (t % stride(c) == 0) out.push_back(c);
  return out;
}

JoinMasks FractalBlock::all_paths() const {
  return JoinMasks(steps(), std::vector<char>(columns, 1));
}

JoinMasks FractalBlock::single_column(int64_t column) const {
  check(column >= 0 && column < columns, "fractalnet: column out of range");
  JoinMasks keep(steps(), std::vector<char>(columns, 0));
  for (auto& k : keep) k[column] = 1;
  return keep;
}

JoinMasks FractalBlock::sample_local(Generator& gen, double p) const {
  JoinMasks keep(steps(), std::vector<char>(columns, 0));
  for (int64_t t = 1; t <= steps(); ++t) {
    const std::vector<int64_t> in = participants(t);
    auto& k = keep[t - 1];
    if (in.size() == 1) {  // a plain chain step, not a join
      k[in[0]] = 1;
      continue;
    }
    bool any = false;
    for (int64_t c : in) any |= (k[c] = gen.bernoulli(p) ? 0 : 1) != 0;
    if (!any) k[in[gen.randint(static_cast<int64_t>(in.size()))]] = 1;
  }
  return keep;
}

Var FractalBlock::forward(const Var& x) {
  return forward(x, all_paths());
}

Var FractalBlock::forward(const Var& x, const JoinMasks& keep) {
  const int64_t T = steps();
  check(static_cast<int64_t>(keep.size()) == T, "fractalnet: join masks of the wrong size");
  // Which joins and layers matter, walking back from the block output.
  std::vector<char> join_needed(T + 1, 0);
  join_needed[T] = 1;
  std::vector<std::vector<char>> layer_needed(columns);
  for (int64_t c = 0; c < columns; ++c) layer_needed[c].assign(int64_t(1) << c, 0);
  for (int64_t t = T; t >= 1; --t) {
    for (int64_t c : participants(t)) {
      const bool needed = join_needed[t] && keep[t - 1][c];
      layer_needed[c][t / stride(c) - 1] = needed;
      if (needed) join_needed[t - stride(c)] = 1;
    }
  }
  std::vector<Var> joined(T + 1);
  joined[0] = x;
  for (int64_t t = 1; t <= T; ++t) {
    if (!join_needed[t]) continue;
    std::vector<Var> inputs;
    for (int64_t c : participants(t))
      if (layer_needed[c][t / stride(c) - 1])
        inputs.push_back(layer(c, t / stride(c) - 1).forward(joined[t - stride(c)]));
    check(!inputs.empty(), "fractalnet: a join lost all of its inputs");
    Var sum = inputs[0];
    for (size_t i = 1; i < inputs.size(); ++i) sum = add(sum, inputs[i]);
    joined[t] = inputs.size() == 1 ? sum : scale(sum, 1.0 / static_cast<double>(inputs.size()));
  }
  return joined[T];
}

FractalNet::FractalNet(const Config& c)
    : drop_path(c.drop_path), local_drop_rate(c.local_drop_rate), global_ratio(c.global_ratio) {
  check(!c.channels.empty(), "fractalnet: needs at least one block");
  check(c.width_scale > 0.0, "fractalnet: width_scale must be positive");
  check(c.local_drop_rate >= 0.0 && c.local_drop_rate < 1.0,
        "fractalnet: local_drop_rate must be in [0, 1)");
  check(c.global_ratio >= 0.0 && c.global_ratio <= 1.0,
        "fractalnet: global_ratio must be in [0, 1]");
  int64_t in = c.in_channels;
  for (size_t b = 0; b < c.channels.size(); ++b) {
    const int64_t out = std::max<int64_t>(1, std::llround(c.channels[b] * c.width_scale));
    const double drop_rate = c.dropout ? 0.1 * static_cast<double>(b) : 0.0;
    blocks.push_back(
        register_module("block" + std::to_string(b + 1),
                        std::make_shared<FractalBlock>(in, out, c.columns, drop_rate)));
    in = out;
  }
  fc = register_module("fc", std::make_shared<nn::Linear>(in, c.num_classes));
  // Xavier (Glorot) initialisation, as the paper trained it; BN 1/0; zero linear bias.
  nn::init::xavier_uniform<nn::Conv2d>(*this);
  nn::init::zero_bias<nn::Linear>(*this);
}

DropPathPlan FractalNet::all_paths() const {
  DropPathPlan plan;
  for (const auto& b : blocks) plan.blocks.push_back(b->all_paths());
  return plan;
}

DropPathPlan FractalNet::sample_drop_path(Generator& gen) const {
  DropPathPlan plan;
  plan.global = gen.bernoulli(global_ratio);
  if (plan.global) {
    plan.column = gen.randint(blocks.front()->columns);
    for (const auto& b : blocks) plan.blocks.push_back(b->single_column(plan.column));
  } else {
    for (const auto& b : blocks) plan.blocks.push_back(b->sample_local(gen, local_drop_rate));
  }
  return plan;
}

Var FractalNet::forward(const Var& x, const DropPathPlan& plan) {
  check(plan.blocks.size() == blocks.size(), "fractalnet: drop-path plan has the wrong size");
  Pool2dOptions pool;
  pool.kernel_size = 2;
  Var h = x;
  for (size_t b = 0; b < blocks.size(); ++b)
    h = max_pool2d(blocks[b]->forward(h, plan.blocks[b]), pool);
  return fc->forward(flatten(global_avg_pool2d(h)));
}

Var FractalNet::forward(const Var& x) {
  if (is_training() && drop_path) return forward(x, sample_drop_path(global_generator()));
  return forward(x, all_paths());
}

}  // namespace cnnzoo::models::fractalnet

namespace cnnzoo::models {

std::vector<ModelInfo> fractalnet_models() {
  using C = fractalnet::Config;
  const Paper paper{"FractalNet: Ultra-Deep Neural Networks without Residuals", "Larsson et al.",
                    2016, "1605.07648", "fractalnet"};
  const auto options =
      Options<C>()
          .integer("columns", &C::columns, 1, 8, "C")
          .flag("dropout", &C::dropout, "per-block dropout 0, 0.1, 0.2, 0.3, 0.4")
          .flag("drop_path", &C::drop_path, "local and global drop-path")
          .real("local_drop_rate", &C::local_drop_rate, 0.0, 1.0, "join input drop rate")
          .real("global_ratio", &C::global_ratio, 0.0, 1.0, "mini-batches keeping one column")
          .real("width_scale", &C::width_scale, 0.01, 16.0, "every block's channels");
  return {model_row(paper, "fractalnet-20", cifar_input(), "4.60", options, C{},
                    build_network<fractalnet::FractalNet, C>)};
}

}  // namespace cnnzoo::models
