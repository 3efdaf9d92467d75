// Test helper: expects f() to throw cnnzoo::Error whose message contains every needle.
#pragma once
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cnnzoo/error.hpp"

template <class F>
void expect_error(F&& f, const std::vector<std::string>& needles) {
  try {
    f();
    ADD_FAILURE() << "expected cnnzoo::Error containing '" << needles.front() << "'";
  } catch (const cnnzoo::Error& e) {
    for (const auto& needle : needles)
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos)
          << "message '" << e.what() << "' lacks '" << needle << "'";
  }
}
