// GoogleTest assertions for cnnzoo/testing/gradcheck.hpp: a failing check prints its report.
//   EXPECT_GRADCHECK(cnnzoo::testing::gradcheck(my_op, {x, w}));
#pragma once
#include <gtest/gtest.h>

#include "cnnzoo/testing/gradcheck.hpp"

namespace cnnzoo::testing {

inline ::testing::AssertionResult passed(const GradcheckReport& report) {
  return (report.passed ? ::testing::AssertionSuccess() : ::testing::AssertionFailure())
         << report.message();
}

}  // namespace cnnzoo::testing

#define EXPECT_GRADCHECK(...) EXPECT_TRUE(::cnnzoo::testing::passed(__VA_ARGS__))
#define ASSERT_GRADCHECK(...) ASSERT_TRUE(::cnnzoo::testing::passed(__VA_ARGS__))
