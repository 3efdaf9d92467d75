// The public gradient checker on functions of double tensors (the float library): what it
// reports, where it refuses, and that a wrong backward cannot pass.
#include <cmath>

#include "cnnzoo/nn/layers.hpp"
#include "cnnzoo/ops.hpp"
#include "cnnzoo/testing/gtest.hpp"

using namespace cnnzoo;
using cnnzoo::testing::gradcheck;
using cnnzoo::testing::GradcheckOptions;
using cnnzoo::testing::random_tensor;

namespace {
// x * w with a backward that is wrong in one element of w's gradient only.
VarD mul_wrong_at(const VarD& x, const VarD& w, int64_t bad) {
  TensorD y = TensorD::empty(x.shape());
  for (int64_t i = 0; i < y.numel(); ++i) y[i] = x.value()[i] * w.value()[i];
  return make_result<double>(std::move(y), {x, w}, "mul_wrong_at",
                             [xv = x.value(), wv = w.value(), bad](Node<double>& n) {
                               TensorD dx = TensorD::empty(xv.shape()), dw = dx.clone();
                               for (int64_t i = 0; i < xv.numel(); ++i) {
                                 dx[i] = n.grad[i] * wv[i];
                                 dw[i] = n.grad[i] * xv[i] * (i == bad ? 1.5 : 1.0);
                               }
                               n.inputs[0]->accumulate(std::move(dx));
                               n.inputs[1]->accumulate(std::move(dw));
                             });
}
}  // namespace

TEST(Gradcheck, ACorrectChainOfOpsPasses) {
  auto f = [](const std::vector<VarD>& v) { return tanh(mul(v[0], v[1])); };
  auto r = gradcheck(f, {random_tensor({3, 4}, 1), random_tensor({3, 4}, 2)});
  EXPECT_GRADCHECK(r);
  EXPECT_EQ(r.tensors, 2);
  EXPECT_EQ(r.checked, 2 * (12 + 1));  // every element and one direction per input
  EXPECT_NE(r.message().find("gradcheck passed"), std::string::npos) << r.message();
}

TEST(Gradcheck, TheReportNamesTheTensorElementIndexAndBothValues) {
  auto f = [](const std::vector<VarD>& v) { return mul_wrong_at(v[0], v[1], 7); };
  const TensorD x = random_tensor({2, 3, 2}, 3), w = random_tensor({2, 3, 2}, 4);
  auto r = gradcheck(f, {x, w});
  ASSERT_FALSE(r.passed);
  EXPECT_EQ(r.worst.tensor, "input 1");
  EXPECT_EQ(r.worst.element, 7);
  EXPECT_EQ(r.worst.index, (std::vector<int64_t>{1, 0, 1}));
  // d sum(y * r)/d w_7 = x_7 r_7: the analytic value is 1.5 times the numeric one.
  EXPECT_NEAR(r.worst.analytic, 1.5 * r.worst.numeric, 1e-6);
  EXPECT_NEAR(r.worst.relative_error, 0.5, 1e-5);
  EXPECT_NE(r.message().find("FAILED at input 1 element 7 [1, 0, 1]"), std::string::npos)
      << r.message();
}

TEST(Gradcheck, ARandomDirectionCatchesAnElementThatSamplingSkips) {
  // 1000 elements, 10 probed (every 100th): the bad element 55 is not among them, but the
  // direction moves it, and the search that follows names it.
  auto f = [](const std::vector<VarD>& v) { return mul_wrong_at(v[0], v[1], 55); };
  const TensorD x = random_tensor({1000}, 5), w = random_tensor({1000}, 6);
  auto sampled_only = gradcheck(f, {x, w}, GradcheckOptions().max_elements(10).directions(0));
  EXPECT_TRUE(sampled_only.passed) << "element 55 is not sampled: " << sampled_only.message();
  auto directed = gradcheck(f, {x, w}, GradcheckOptions().max_elements(0).directions(1));
  ASSERT_FALSE(directed.passed);
  EXPECT_EQ(directed.worst.tensor, "input 1");
  EXPECT_EQ(directed.worst.element, 55) << directed.message();
}

TEST(Gradcheck, AKinkIsSkippedAndCountedNotFailed) {
  // relu at exactly 0 (and within eps of it): one-sided slopes 0 and 1.
  TensorD x = random_tensor({6}, 7);
  x[2] = 0.0;
  x[4] = 3e-7;
  auto f = [](const std::vector<VarD>& v) { return relu(v[0]); };
  auto r = gradcheck(f, {x}, GradcheckOptions().directions(0));
  EXPECT_TRUE(r.passed) << r.message();
  EXPECT_EQ(r.kinks, 2) << r.message();
  EXPECT_NE(r.message().find("2 skipped at non-differentiable points"), std::string::npos);
  auto strict = gradcheck(f, {x}, GradcheckOptions().directions(0).skip_kinks(false));
  EXPECT_FALSE(strict.passed) << strict.message();
}

TEST(Gradcheck, StochasticOpsAreCheckedWithTheirRandomnessFrozen) {
  auto f = [](const std::vector<VarD>& v) {
    return dropout(v[0], 0.5, /*training=*/true, global_generator());
  };
  EXPECT_GRADCHECK(gradcheck(f, {random_tensor({4, 5}, 8)}));
}

TEST(Gradcheck, BadInputIsAOneLineErrorNamingIt) {
  auto expect_error = [](auto&& call, const std::string& needle) {
    try {
      call();
      ADD_FAILURE() << "expected an error mentioning '" << needle << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
    }
  };
  const TensorD x = random_tensor({3}, 9);
  expect_error([&] { gradcheck([](const std::vector<VarD>& v) { return v[0]; }, {}); },
               "no inputs");
  expect_error(
      [&] {
        gradcheck([](const std::vector<VarD>&) { return VarD(TensorD::ones({2}), false); }, {x});
      },
      "does not depend");
  expect_error(
      [&] {
        gradcheck([](const std::vector<VarD>& v) { return VarD(TensorD::empty({0}), true); }, {x});
      },
      "empty");
  expect_error(
      [&] {
        gradcheck([](const std::vector<VarD>& v) { return add(v[0], v[1]); },
                  {x, random_tensor({4}, 1)});
      },
      "the function failed on inputs [3], [4]");
  expect_error(
      [&] {
        gradcheck([](const std::vector<VarD>& v) { return v[0]; }, {x},
                  GradcheckOptions().wrt({true, false}));
      },
      "wrt has 2 entries for 1 inputs");
  // Modules of this (float) library cannot be checked: the error says what to link.
  nn::Conv2d conv(nn::Conv2dOptions(1, 1, 1));
  expect_error([&] { gradcheck(conv, random_tensor({1, 1, 2, 2}, 1)); }, "cnnzoo_double");
}
