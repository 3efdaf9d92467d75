// Network in Network (Lin et al. 2013) and its BN version: exact counts and multiply-adds.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "cnnzoo/models/nin.hpp"
#include "cnnzoo/nn/layers.hpp"
#include "cnnzoo/ops.hpp"
#include "model_test.hpp"

using namespace cnnzoo;
using namespace cnnzoo::models;
using namespace cnnzoo::testing;

CNNZOO_PAPER_TABLE(nin, {row("nin", 966986).classifier(192).macs(222486528),
                         row("nin-bn", 968394).classifier(192).macs(222486528)});

TEST(NIN, PaperErrorRecorded) {
  EXPECT_EQ(find_model("nin").paper_cifar10_error, "8.81");
  EXPECT_EQ(find_model("nin").year, 2013);
}
