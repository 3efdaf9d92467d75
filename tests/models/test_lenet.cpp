// LeNet-5 (LeCun et al. 1998): the modern default and the paper's subsampling layers, whose
// per-map coefficient and bias go through the squashing function 1.7159 tanh(2a/3).
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>

#include "cnnzoo/models.hpp"
#include "cnnzoo/nn/layers.hpp"
#include "model_test.hpp"

using namespace cnnzoo;
using namespace cnnzoo::testing;

CNNZOO_PAPER_TABLE(lenet, {row("lenet5", 61706).classifier(84)});

namespace {

nn::ModulePtr lenet(std::map<std::string, std::string> options = {}) {
  return build("lenet5", -1, std::move(options));
}

nn::Module& feature(nn::Module& m, size_t i) {
  for (auto& [n, c] : m.named_children())
    if (n == "features") return (*dynamic_cast<nn::Sequential*>(c.get()))[i];
  throw Error("no features");
}

}  // namespace

TEST(LeNet5, ModernDefaultCount) {
  EXPECT_EQ(lenet()->num_parameters(), 61706);
}

// A coefficient and a bias per map in S2 (6 maps) and S4 (16 maps) on top of the default.
TEST(LeNet5, PaperSubsamplingCount) {
  nn::ModulePtr m;
  ASSERT_NO_THROW(m = lenet({{"subsampling", "paper"}}));
  EXPECT_EQ(m->num_parameters(), 61706 + 6 * 2 + 16 * 2);
  EXPECT_THROW(lenet({{"subsampling", "trainable"}}), Error);
}

// S2 by hand on a 6x2x2 input: x = 1.7159 tanh(2/3 (coef * (sum of the 2x2 window) + bias)).
TEST(LeNet5, PaperSubsamplingNumerics) {
  nn::ModulePtr m;
  ASSERT_NO_THROW(m = lenet({{"subsampling", "paper"}}));
  nn::Module& s2 = feature(*m, 2);
  auto params = s2.named_parameters();
  ASSERT_EQ(params.size(), 2u);
  Tensor& coef = params[0].second.value();
  Tensor& bias = params[1].second.value();
  ASSERT_EQ(coef.numel(), 6);
  ASSERT_EQ(bias.numel(), 6);
  Tensor x = Tensor::empty({1, 6, 2, 2});
  for (int64_t c = 0; c < 6; ++c) {
    coef[c] = 0.1f * static_cast<float>(c) - 0.2f;
    bias[c] = 0.05f * static_cast<float>(c) - 0.1f;
    for (int64_t k = 0; k < 4; ++k) x[c * 4 + k] = 0.3f * static_cast<float>(k) - 0.25f * c;
  }
  Tensor y = s2.forward(Var(x)).value();
  ASSERT_EQ(y.shape(), (Shape{1, 6, 1, 1}));
  for (int64_t c = 0; c < 6; ++c) {
    double sum = 0;
    for (int64_t k = 0; k < 4; ++k) sum += x[c * 4 + k];
    const double want = 1.7159 * std::tanh(2.0 / 3.0 * (coef[c] * sum + bias[c]));
    EXPECT_NEAR(y[c], want, 1e-5) << "map " << c;
  }
}
