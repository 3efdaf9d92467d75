// End to end through ops, layers, autograd and SGD: a small conv net with batch norm must
// memorise 64 random images with random labels (100% training accuracy).
#include <gtest/gtest.h>

#include "cnnzoo/nn/layers.hpp"
#include "cnnzoo/ops/activation.hpp"
#include "cnnzoo/ops/loss.hpp"
#include "cnnzoo/ops/shape.hpp"
#include "cnnzoo/optim/sgd.hpp"
#include "cnnzoo/random.hpp"

using namespace cnnzoo;

namespace {

class TinyNet : public nn::Module {
 public:
  TinyNet() {
    Conv2dParams same;
    same.padding = 1;
    same.bias = false;
    conv1 = register_module("conv1", std::make_shared<nn::Conv2d>(3, 16, 3, same));
    bn1 = register_module("bn1", std::make_shared<nn::BatchNorm2d>(16));
    Conv2dParams down = same;
    down.stride = 2;
    conv2 = register_module("conv2", std::make_shared<nn::Conv2d>(16, 32, 3, down));
    bn2 = register_module("bn2", std::make_shared<nn::BatchNorm2d>(32));
    fc = register_module("fc", std::make_shared<nn::Linear>(32 * 4 * 4, 10));
  }
  Var forward(const Var& x) override {
    Var h = relu(bn1->forward(conv1->forward(x)));
    h = relu(bn2->forward(conv2->forward(h)));
    return fc->forward(flatten(h));
  }
  std::shared_ptr<nn::Conv2d> conv1, conv2;
  std::shared_ptr<nn::BatchNorm2d> bn1, bn2;
  std::shared_ptr<nn::Linear> fc;
};

double accuracy(const Tensor& logits, const std::vector<int64_t>& labels) {
  int64_t correct = 0, k = logits.size(1);
  for (size_t i = 0; i < labels.size(); ++i) {
    const float* row = logits.data() + i * k;
    int64_t best = 0;
    for (int64_t j = 1; j < k; ++j)
      if (row[j] > row[best]) best = j;
    correct += best == labels[i];
  }
  return static_cast<double>(correct) / labels.size();
}

}  // namespace

TEST(EndToEnd, SmallConvNetWithBatchNormOverfits64RandomImages) {
  manual_seed(2024);
  Generator g(99);
  Tensor images = Tensor::empty({64, 3, 8, 8});
  for (float& v : images) v = static_cast<float>(g.normal());
  std::vector<int64_t> labels(64);
  for (auto& l : labels) l = g.randint(10);
  TinyNet net;
  optim::SGDOptions o;
  o.lr = 0.05;
  o.momentum = 0.9;
  optim::SGD opt(net.named_parameters(), o);
  double first_loss = 0, loss_value = 0;
  for (int step = 0; step < 300; ++step) {
    Var loss = cross_entropy(net.forward(Var(images)), labels);
    loss_value = loss.value().item();
    if (step == 0) first_loss = loss_value;
    opt.zero_grad();
    backward(loss);
    opt.step();
  }
  EXPECT_LT(loss_value, 0.05 * first_loss);
  Tensor train_logits = net.forward(Var(images)).value();
  EXPECT_EQ(accuracy(train_logits, labels), 1.0);
  // The running statistics have tracked the (fixed) batch: eval mode agrees.
  net.eval();
  NoGradGuard ng;
  EXPECT_EQ(accuracy(net.forward(Var(images)).value(), labels), 1.0);
}
