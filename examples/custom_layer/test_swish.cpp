// Gradient tests of the Swish op and the ConvSwish block with cnnzoo's public checker.
#include "cnnzoo/testing/gtest.hpp"
#include "swish.hpp"

using cnnzoo::VarD;
using cnnzoo::testing::gradcheck;
using cnnzoo::testing::random_tensor;

TEST(Swish, BackwardMatchesCentralDifferences) {
  auto f = [](const std::vector<VarD>& v) { return custom::swish(v[0]); };
  EXPECT_GRADCHECK(gradcheck(f, {random_tensor({2, 3, 4}, /*seed=*/1, -4.0, 4.0)}));
}

TEST(Swish, ThePlantedWrongBackwardIsCaught) {
  auto f = [](const std::vector<VarD>& v) { return custom::swish(v[0], /*planted_bug=*/true); };
  auto report = gradcheck(f, {random_tensor({2, 3, 4}, 1, -4.0, 4.0)});
  EXPECT_FALSE(report.passed) << report.message();
  EXPECT_EQ(report.worst.tensor, "input 0");
}

TEST(Swish, ABlockUsingItInputAndEveryParameter) {
  custom::ConvSwish block(3, 4);
  EXPECT_GRADCHECK(gradcheck(block, random_tensor({2, 3, 5, 5}, 2)));
}
