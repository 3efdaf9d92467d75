// CIFAR ResNets (He et al. 2015): bias-free convs, a linear head, the stride on the first
// conv, PyTorch-style names and the three shortcut types.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "cnnzoo/models/preact_resnet.hpp"
#include "cnnzoo/models/resnet_cifar.hpp"
#include "cnnzoo/nn/layers.hpp"
#include "cnnzoo/ops.hpp"
#include "model_test.hpp"

using namespace cnnzoo;
using namespace cnnzoo::models;
using namespace cnnzoo::testing;

CNNZOO_PAPER_TABLE(resnet_cifar,
                   {row("resnet20", 269722).paper(0.27e6, 0.0185).classifier(64),
                    row("resnet32", 464154).paper(0.46e6, 0.0109).classifier(64),
                    row("resnet44", 658586).paper(0.66e6, 0.00758).classifier(64),
                    row("resnet56", 853018).paper(0.85e6, 0.00588).classifier(64),
                    row("resnet110", 1727962).paper(1.7e6, 0.0294).classifier(64),
                    row("resnet1202", 19421274).paper(19.4e6, 0.00258).classifier(64).step(1, 16)});

TEST(ResNetCifar, NoConvBiasLinearHeadStrideOnFirstConv) {
  for (const char* name : {"resnet20", "preact-resnet164", "wrn-16-4", "resnet110-sd",
                           "se-resnet110", "ror3-wrn58-4"}) {
    nn::ModulePtr m = build_model(name);
    for (auto& [n, mod] : m->named_modules())
      if (auto* c = dynamic_cast<nn::Conv2d*>(mod))
        EXPECT_FALSE(c->bias.defined()) << name << ": conv bias in " << n;
    // The classifier is the last child and a plain Linear (no BN/ReLU on the logits).
    const auto& children = m->named_children();
    ASSERT_FALSE(children.empty());
    EXPECT_EQ(children.back().first, "fc") << name;
    EXPECT_NE(dynamic_cast<nn::Linear*>(children.back().second.get()), nullptr) << name;
  }
  auto r = std::dynamic_pointer_cast<CifarResNet>(build_model("resnet20"));
  ASSERT_TRUE(r);
  auto& b = dynamic_cast<BasicBlock&>((*r->layer2)[0]);
  EXPECT_EQ(b.conv1->options.stride, Size2(2));
  EXPECT_EQ(b.conv2->options.stride, Size2(1));
  EXPECT_NE(dynamic_cast<ZeroPadShortcut*>(b.downsample.get()), nullptr);
  auto p = std::dynamic_pointer_cast<PreActCifarResNet>(build_model("preact-resnet164"));
  ASSERT_TRUE(p);
  auto& u = dynamic_cast<PreActBottleneck&>((*p->layer3)[0]);
  EXPECT_EQ(u.conv1->options.stride, Size2(2));  // the first 1x1, as resnet-pre-act.lua
  EXPECT_EQ(u.conv2->options.stride, Size2(1));
  ASSERT_TRUE(u.shortcut_conv);
  EXPECT_EQ(u.shortcut_conv->options.stride, Size2(2));
  // The 16 -> 64 unit after the stem projects too; later units of a stage are identities.
  EXPECT_TRUE(dynamic_cast<PreActBottleneck&>((*p->layer1)[0]).shortcut_conv);
  EXPECT_FALSE(dynamic_cast<PreActBottleneck&>((*p->layer1)[1]).shortcut_conv);
  // Basic pre-act: the unit after the stem activates before the split (identity-shaped).
  auto b110 = std::dynamic_pointer_cast<PreActCifarResNet>(build_model("preact-resnet110"));
  ASSERT_TRUE(b110);
  EXPECT_TRUE(dynamic_cast<PreActBlock&>((*b110->layer1)[0]).shares_preactivation());
  EXPECT_FALSE(dynamic_cast<PreActBlock&>((*b110->layer1)[1]).shares_preactivation());
  EXPECT_TRUE(dynamic_cast<PreActBlock&>((*b110->layer2)[0]).shortcut_conv != nullptr);
}

TEST(ResNetCifar, PyTorchStyleNames) {
  auto names = [](const nn::Module& m) {
    std::vector<std::string> out;
    for (auto& [n, p] : m.named_parameters()) out.push_back(n);
    return out;
  };
  auto has = [](const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
  };
  auto r = names(*build_model(spec_of("resnet20", {{"shortcut", "B"}})));
  EXPECT_EQ(r.front(), "conv1.weight");
  EXPECT_TRUE(has(r, "layer2.0.downsample.0.weight"));
  EXPECT_TRUE(has(r, "layer2.0.downsample.1.bias"));
  EXPECT_FALSE(has(r, "layer2.1.downsample.0.weight"));
  EXPECT_EQ(r.back(), "fc.bias");
  auto w = names(*build_model("wrn-16-4"));
  EXPECT_TRUE(has(w, "layer1.0.shortcut.weight"));
  EXPECT_TRUE(has(w, "bn.weight"));
  auto s = names(*build_model("se-resnet110"));
  EXPECT_TRUE(has(s, "layer3.17.se.fc2.bias"));
  auto o = names(*build_model("ror3-wrn58-4"));
  EXPECT_TRUE(has(o, "root.0.weight"));
  EXPECT_TRUE(has(o, "middle2.1.weight"));
  auto q = names(*build_model(spec_of("weighted-resnet", {{"depth", "22"}})));
  EXPECT_TRUE(has(q, "layer1.0.alpha"));
}

TEST(ResNetCifar, ShortcutTypes) {
  EXPECT_EQ(build_model(spec_of("resnet20", {{"shortcut", "A"}}))->num_parameters(), 269722);
  // B: 1x1 conv + BN where the width doubles (16->32, 32->64).
  EXPECT_EQ(build_model(spec_of("resnet20", {{"shortcut", "B"}}))->num_parameters(),
            269722 + (16 * 32 + 64) + (32 * 64 + 128));
  // C: a projection on every block.
  EXPECT_EQ(build_model(spec_of("resnet20", {{"shortcut", "C"}}))->num_parameters(), 283962);
  EXPECT_THROW(build_model(spec_of("resnet20", {{"shortcut", "D"}})), Error);
  EXPECT_THROW(build_model(spec_of("resnet20", {{"p_L", "0.5"}})), Error);  // unknown key
  nn::ModulePtr c = build_model(spec_of("resnet20", {{"shortcut", "C"}}));
  c->train();
  EXPECT_EQ(c->forward(random_input({2, 3, 16, 16})).shape(), (Shape{2, 10}));
}
