// Double-precision gradient checks through whole layers and blocks (the double build of the
// library: Tensor = TensorT<double>).
#include <gtest/gtest.h>

#include "cnnzoo/nn/layers.hpp"
#include "cnnzoo/ops/arith.hpp"
#include "module_gradcheck.hpp"

using namespace cnnzoo;
using cnnzoo::testing::module_gradcheck;

namespace {
Tensor random_input(const Shape& shape, uint64_t seed = 5) {
  Generator g(seed);
  Tensor t = Tensor::empty(shape);
  for (auto& v : t) v = g.uniform(-1.0, 1.0);
  return t;
}
}  // namespace

TEST(BlocksDouble, TheBuildIsDouble) {
  static_assert(std::is_same_v<Tensor::value_type, double>);
  static_assert(std::is_same_v<Var, VarT<double>>);
}

TEST(BlocksDouble, ConvBnActInTrainingAndEval) {
  for (nn::Activation act : {nn::Activation::ReLU, nn::Activation::None}) {
    nn::ConvBnAct unit(nn::ConvBnActOptions(3, 4, 3).stride(2).padding(1).activation(act));
    EXPECT_TRUE(module_gradcheck(unit, random_input({2, 3, 5, 5})));
    unit.eval();
    EXPECT_TRUE(module_gradcheck(unit, random_input({2, 3, 5, 5})));
  }
}

TEST(BlocksDouble, GroupedAndDepthwiseConvolutions) {
  nn::Conv2d grouped(nn::Conv2dOptions(4, 6, {3, 1}).groups(2).padding({1, 0}));
  EXPECT_TRUE(module_gradcheck(grouped, random_input({2, 4, 4, 4})));
  nn::Conv2d depthwise(nn::Conv2dOptions(3, 3, 3).groups(3).padding(1).bias(false));
  EXPECT_TRUE(module_gradcheck(depthwise, random_input({2, 3, 4, 4})));
}

TEST(BlocksDouble, TheCheckFailsOnAWrongGradient) {
  // A module whose forward detaches a parameter: its analytic gradient is missing/zero while
  // the numeric one is not, which the check must report by name.
  class Detached : public nn::Module {
   public:
    Detached() { w = register_parameter("w", Tensor::full({1}, 2.0)); }
    Var forward(const Var& x) override { return scale(x, w.value()[0]); }
    Var w;
  };
  Detached m;
  auto result = module_gradcheck(m, random_input({1, 3}));
  EXPECT_FALSE(result);
  EXPECT_NE(std::string(result.message()).find("w"), std::string::npos) << result.message();
}
