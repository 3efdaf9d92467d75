// The public gradient checker on modules (double-precision build): parameters by dotted name,
// frozen randomness, buffers restored, inputs the module cannot take.
#include "cnnzoo/nn/layers.hpp"
#include "cnnzoo/ops.hpp"
#include "cnnzoo/testing/gtest.hpp"

using namespace cnnzoo;
using cnnzoo::testing::gradcheck;
using cnnzoo::testing::random_tensor;

namespace {
// conv -> BN -> relu -> dropout. With cut_weight the conv reads its weight as a constant: a
// parameter whose gradient is silently missing.
class Block : public nn::Module {
 public:
  explicit Block(bool cut_weight) : cut_weight_(cut_weight) {
    register_module("conv", conv);
    register_module("bn", bn);
  }
  Var forward(const Var& x) override {
    Var weight = cut_weight_ ? Var(conv->weight.value(), false) : conv->weight;
    Var h = bn->forward(conv2d(x, weight, conv->bias, conv->options));
    return dropout(relu(h), 0.3, is_training(), global_generator());
  }
  std::shared_ptr<nn::Conv2d> conv =
      std::make_shared<nn::Conv2d>(nn::Conv2dOptions(2, 3, 3).padding(1));
  std::shared_ptr<nn::BatchNorm> bn = std::make_shared<nn::BatchNorm>(3);

 private:
  bool cut_weight_;
};
}  // namespace

TEST(GradcheckModule, InputAndEveryParameterInTrainingModeWithDropout) {
  manual_seed(1);
  Block block(false);
  block.train();
  const auto before = block.bn->running_mean.clone();
  auto r = gradcheck(block, random_tensor({2, 2, 4, 4}, 3));
  EXPECT_GRADCHECK(r);
  EXPECT_EQ(r.tensors, 5);  // input, conv.weight, conv.bias, bn.weight, bn.bias
  for (int64_t c = 0; c < 3; ++c) EXPECT_EQ(block.bn->running_mean[c], before[c]);
}

TEST(GradcheckModule, AParameterCutOffFromTheGraphIsNamed) {
  manual_seed(1);
  Block block(true);
  auto r = gradcheck(block, random_tensor({2, 2, 4, 4}, 3));
  ASSERT_FALSE(r.passed);
  EXPECT_EQ(r.worst.tensor, "conv.weight") << r.message();
}

TEST(GradcheckModule, AnInputTheModuleCannotTakeIsAnErrorNamingTheShape) {
  Block block(false);
  try {
    gradcheck(block, random_tensor({2, 5, 4, 4}, 3));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot take input [2, 5, 4, 4]"), std::string::npos)
        << e.what();
  }
}
