// conv_bn: BN folded into the conv at inference must give what conv then BN gives, and must
// leave training and gradient-recording forwards to the unfused layers.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "cnnzoo/autograd.hpp"
#include "cnnzoo/nn/init.hpp"
#include "cnnzoo/nn/layers.hpp"
#include "cnnzoo/nn/profile.hpp"
#include "cnnzoo/ops/activation.hpp"
#include "cnnzoo/ops/arith.hpp"

using namespace cnnzoo;
using namespace cnnzoo::nn;

namespace {

Tensor uniform_tensor(Shape shape, double lo, double hi) {
  Tensor t = Tensor::empty(std::move(shape));
  init::uniform(t, lo, hi);
  return t;
}

// A BN with statistics and affine parameters far from the identity, so a fold that drops or
// misplaces any of them shows.
std::shared_ptr<BatchNorm2d> trained_bn(int64_t c) {
  auto bn = std::make_shared<BatchNorm2d>(c);
  bn->weight.value() = uniform_tensor({c}, 0.5, 2.0);
  bn->bias.value() = uniform_tensor({c}, -1.0, 1.0);
  bn->running_mean = uniform_tensor({c}, -0.5, 0.5);
  bn->running_var = uniform_tensor({c}, 0.1, 3.0);
  return bn;
}

double max_rel_diff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  double diff = 0, scale = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    diff = std::max(diff, std::abs(double(a.data()[i]) - double(b.data()[i])));
    scale = std::max(scale, std::abs(double(b.data()[i])));
  }
  return diff / scale;
}

struct Geometry {
  int64_t cin, cout, k, stride, padding, groups;
  bool bias;
};

}  // namespace

TEST(ConvBn, FoldedAtInferenceMatchesConvThenBn) {
  // 3x3 stride 1 (the Winograd path), stride 2, 1x1, grouped, with and without a conv bias.
  for (const Geometry& g : {Geometry{16, 16, 3, 1, 1, 1, false}, Geometry{8, 16, 3, 2, 1, 1, false},
                            Geometry{16, 32, 1, 1, 0, 1, true}, Geometry{8, 8, 3, 1, 1, 4, true},
                            Geometry{3, 8, 5, 1, 2, 1, true}}) {
    Conv2dParams o;
    o.stride = g.stride;
    o.padding = g.padding;
    o.groups = g.groups;
    o.bias = g.bias;
    Conv2d conv(g.cin, g.cout, g.k, o);
    auto bn = trained_bn(g.cout);
    conv.eval();
    bn->eval();
    NoGradGuard ng;
    ASSERT_TRUE(conv_bn_folds(conv, *bn));
    Var x(uniform_tensor({3, g.cin, 12, 12}, -1.0, 1.0));
    const Tensor expected = bn->forward(conv.forward(x)).value();
    EXPECT_LT(max_rel_diff(conv_bn(conv, *bn, x).value(), expected), 1e-5)
        << "cin " << g.cin << " cout " << g.cout << " k " << g.k << " stride " << g.stride
        << " groups " << g.groups << " bias " << g.bias;
  }
}

TEST(ConvBn, TrainingAndGradientsUseTheLayers) {
  Conv2dParams o;
  o.padding = 1;
  o.bias = false;
  Conv2d conv(8, 8, 3, o);
  auto bn = trained_bn(8);
  Var x(uniform_tensor({2, 8, 6, 6}, -1.0, 1.0));

  // Training: batch statistics, and the running estimates move.
  const Tensor mean_before = bn->running_mean.clone();
  EXPECT_FALSE(conv_bn_folds(conv, *bn));
  Var y = conv_bn(conv, *bn, x);
  EXPECT_GT(max_rel_diff(bn->running_mean, mean_before), 1e-3);
  EXPECT_EQ(bn->num_batches_tracked[0], 1.0f);

  // Eval with gradients recorded (e.g. saliency maps): the unfused layers, so gradients reach
  // the conv's and BN's parameters.
  conv.eval();
  bn->eval();
  EXPECT_FALSE(conv_bn_folds(conv, *bn));
  y = conv_bn(conv, *bn, x);
  backward(sum(y));
  ASSERT_TRUE(conv.weight.grad().defined());
  ASSERT_TRUE(bn->weight.grad().defined());

  // A BN that tracks no running statistics normalises with the batch's even in eval mode.
  BatchNormOptions untracked = BatchNormOptions().track_running_stats(false);
  BatchNorm2d batch_stats(8, untracked);
  batch_stats.eval();
  NoGradGuard ng;
  EXPECT_FALSE(conv_bn_folds(conv, batch_stats));
}

TEST(ConvBn, SequentialFoldsConvThenBnAndRecordsBothLayers) {
  Conv2dParams o;
  o.padding = 1;
  o.bias = false;
  auto conv = std::make_shared<Conv2d>(4, 8, 3, o);
  auto bn = trained_bn(8);
  Sequential seq({conv, bn, std::make_shared<ReLU>()});
  seq.eval();
  NoGradGuard ng;
  Var x(uniform_tensor({2, 4, 7, 7}, -1.0, 1.0));
  const Tensor expected = relu(bn->forward(conv->forward(x))).value();
  ProfileScope scope;
  const Tensor got = seq.forward(x).value();
  EXPECT_LT(max_rel_diff(got, expected), 1e-5);
  ASSERT_EQ(scope.records().size(), 3u);
  EXPECT_EQ(scope.records()[0].module, conv.get());
  EXPECT_EQ(scope.records()[0].macs, 2 * 8 * 7 * 7 * 4 * 9);
  EXPECT_EQ(scope.records()[1].module, bn.get());
  EXPECT_EQ(scope.records()[1].output, (Shape{2, 8, 7, 7}));
}

// prepare_for_inference keeps the fold: the same result as folding on every call, computed
// once (weights written by hand afterwards are not seen: the documented contract), and
// derived again after prepare_for_inference, load_state_dict or train().
TEST(ConvBn, PreparedForInferenceKeepsTheFoldUntilTheWeightsMayChange) {
  auto conv = std::make_shared<Conv2d>(Conv2dOptions(4, 6, 3).padding(1));
  auto bn = trained_bn(6);
  Sequential net({conv, bn});
  const Var x(uniform_tensor({2, 4, 5, 5}, -1.0, 1.0));
  NoGradGuard no_grad;
  auto run = [&] { return net.forward(x).value().clone(); };
  net.eval();
  const Tensor each_call = run();
  net.prepare_for_inference();
  EXPECT_TRUE(net.prepared_for_inference() && conv->prepared_for_inference());
  const Tensor kept = run();
  EXPECT_EQ(kept.to_vector(), each_call.to_vector());
  EXPECT_EQ(run().to_vector(), kept.to_vector());

  const NamedTensors original = net.state_dict();
  std::vector<Tensor> saved;
  for (const auto& [name, t] : original) saved.push_back(t.clone());
  float* w = conv->weight.value().data();
  for (int64_t i = 0; i < conv->weight.value().numel(); ++i) w[i] *= -2.0f;
  EXPECT_EQ(run().to_vector(), kept.to_vector()) << "the fold was not kept";
  net.prepare_for_inference();
  const Tensor changed = run();
  EXPECT_NE(changed.to_vector(), kept.to_vector());
  net.eval();
  EXPECT_FALSE(net.prepared_for_inference());
  EXPECT_EQ(run().to_vector(), changed.to_vector());

  // load_state_dict ends the promise: the loaded weights are used.
  net.prepare_for_inference();
  NamedTensors back;
  for (size_t i = 0; i < original.size(); ++i) back.emplace_back(original[i].first, saved[i]);
  net.load_state_dict(back);
  EXPECT_FALSE(conv->prepared_for_inference());
  EXPECT_EQ(run().to_vector(), kept.to_vector());
  // So does train(): a training step changes the weights.
  net.prepare_for_inference();
  net.train();
  EXPECT_FALSE(bn->prepared_for_inference());
}
