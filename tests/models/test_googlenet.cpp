// GoogLeNet (Szegedy et al. 2014): an Inception module is its branches concatenated in order,
// and the auxiliary heads (optional on the CIFAR stem) run only in training.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "cnnzoo/models/googlenet.hpp"
#include "cnnzoo/nn/layers.hpp"
#include "cnnzoo/ops.hpp"
#include "cnnzoo/train/trainer.hpp"
#include "model_test.hpp"

using namespace cnnzoo;
using namespace cnnzoo::models;
using namespace cnnzoo::testing;

CNNZOO_PAPER_TABLE(googlenet, {row("googlenet-cifar", 5983402).classifier(1024).macs(1561143296),
                               row("googlenet", 13004888).step(1, 0).auxiliary(2)});

TEST(GoogLeNet, ModuleIsItsBranchesConcatenatedInOrder) {
  manual_seed(1);
  Inception m(8, 4, 3, 5, 2, 3, 6, /*kernel5x5=*/5);
  m.eval();
  EXPECT_EQ(m.out_channels(), 4 + 5 + 3 + 6);
  Tensor x = input_tensor({2, 8, 6, 6}, 3);
  Tensor want = run(m, x);
  std::vector<Var> parts;
  for (nn::Module* b :
       std::vector<nn::Module*>{m.branch1.get(), m.branch2.get(), m.branch3.get(), m.branch4.get()})
    parts.push_back(Var(run(*b, x)));
  expect_equal(want, concat(parts).value(), 0.0, "Inception = concat(branches)");
  // The "5x5" branch is a real 5x5 in the CIFAR form, torchvision's 3x3 otherwise.
  auto& k5 = dynamic_cast<nn::ConvBnAct&>((*m.branch3)[1]);
  EXPECT_EQ(k5.conv->kernel_size, Size2(5));
}

TEST(GoogLeNet, AuxiliaryHeadsOnlyInTrainingForBothStems) {
  for (const char* name : {"googlenet", "googlenet-cifar"}) {
    SCOPED_TRACE(name);
    manual_seed(2);
    std::map<std::string, std::string> options = {{"aux_logits", "true"}};
    if (std::string(name) == "googlenet-cifar") options["width_scale"] = "0.25";
    auto model = cnnzoo::testing::build(name, 10, options);
    auto* g = dynamic_cast<GoogLeNet*>(model.get());
    ASSERT_NE(g, nullptr) << "both forms are one class";
    ASSERT_TRUE(g->aux1 && g->aux2);
    EXPECT_EQ(g->aux1->type_name(), "InceptionAux");
    const int64_t size = std::string(name) == "googlenet" ? 96 : 32;
    Tensor x = input_tensor({2, 3, size, size}, 4);
    g->train();
    g->forward(Var(x));
    auto aux = g->take_auxiliary_logits();
    ASSERT_EQ(aux.size(), 2u);
    EXPECT_EQ(aux[0].shape(), (Shape{2, 10}));
    EXPECT_TRUE(g->take_auxiliary_logits().empty()) << "taken once";
    g->eval();
    run(*g, x);
    EXPECT_TRUE(g->take_auxiliary_logits().empty()) << "no auxiliary logits in eval mode";
  }
  // The ImageNet stem pools twice, the CIFAR stem not at all.
  auto imagenet = cnnzoo::testing::build("googlenet");
  auto cifar = cnnzoo::testing::build("googlenet-cifar", 10, {{"width_scale", "0.25"}});
  EXPECT_TRUE(dynamic_cast<GoogLeNet&>(*imagenet).maxpool1);
  EXPECT_FALSE(dynamic_cast<GoogLeNet&>(*cifar).maxpool1);
  EXPECT_FALSE(dynamic_cast<GoogLeNet&>(*cifar).maxpool2);
}

// The paper's auxiliary classifiers, optional on the CIFAR GoogLeNet; the training recipe
// weighs their losses 0.3.
TEST(GoogLeNet, CifarAuxiliaryClassifiersOption) {
  auto g = build("googlenet-cifar", -1, {{"aux_logits", "true"}});
  EXPECT_EQ(g->num_parameters(), 10333886);
  training_step(*g, "googlenet-cifar aux_logits", input_tensor({2, 3, 32, 32}, 5), 10, 2);
  g->train();
  g->forward(Var(input_tensor({2, 3, 32, 32}, 3), false));
  EXPECT_EQ(g->take_auxiliary_logits().size(), 2u);
  EXPECT_TRUE(g->take_auxiliary_logits().empty()) << "auxiliary logits are taken only once";
  EXPECT_DOUBLE_EQ(train::auxiliary_loss_weight("googlenet-cifar"), 0.3);
  EXPECT_DOUBLE_EQ(train::auxiliary_loss_weight("googlenet"), 0.3);
  EXPECT_DOUBLE_EQ(train::auxiliary_loss_weight("inception_v3"), 0.4);
  EXPECT_DOUBLE_EQ(train::auxiliary_loss_weight("resnet18"), -1.0);
}
