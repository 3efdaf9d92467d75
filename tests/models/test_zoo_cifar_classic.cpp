// CIFAR versions of the classic designs (alexnet-cifar, nin, nin-bn, vgg*-cifar,
// googlenet-cifar, inception-v3-cifar, squeezenet-cifar, nas-cifar): exact parameter counts
// and multiply-adds derived by hand from each file's layer plan (the multiply-adds pin the
// grid sizes: 32x32 stages, pools, strides), a training step on a batch of two with finite
// gradients for every parameter, linear logits, 100 classes, and the NAS layer widths.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "cnnzoo/models.hpp"
#include "cnnzoo/nn/module.hpp"
#include "cnnzoo/nn/summary.hpp"
#include "cnnzoo/ops/arith.hpp"
#include "cnnzoo/ops/loss.hpp"
#include "cnnzoo/train/trainer.hpp"

using namespace cnnzoo;

namespace {

struct Expected {
  const char* name;
  int64_t params10, params100;  // 10 and 100 classes
  int64_t macs10;               // conv + linear multiply-adds of one 32x32 image, 10 classes
};

// Worked out layer by layer from the plans at the top of each models/ file (weights, biases
// where no BN follows, BN gamma and beta; multiply-adds = weights x output positions).
const Expected kModels[] = {
    {"alexnet-cifar", 29984490, 30353220, 323600384},
    {"nin", 966986, 984356, 222486528},  // the paper's "0.97M"
    {"nin-bn", 968394, 985764, 222486528},
    {"vgg11-cifar", 9228362, 9274532, 152769536},
    {"vgg16-cifar", 14724042, 14770212, 313201664},  // the usual "14.7M"
    {"vgg19-cifar", 20035018, 20081188, 398136320},
    {"googlenet-cifar", 5983402, 6075652, 1561143296},
    {"inception-v3-cifar", 21806058, 21990468, 3631154176},
    {"squeezenet-cifar", 732010, 778180, 202211328},
    {"nas-cifar", 4120990, 4125400, 4218089952},  // the paper's "4.2M" (see nas_cifar.cpp)
};

nn::ModulePtr build(const std::string& name, int64_t classes = -1,
                    std::map<std::string, std::string> options = {}) {
  models::ModelSpec spec;
  spec.name = name;
  spec.num_classes = classes;
  spec.options = std::move(options);
  return models::build_model(spec);
}

// Deterministic inputs in [-1, 1), different per seed.
Tensor input_tensor(const Shape& shape, uint32_t seed) {
  Tensor x = Tensor::empty(shape);
  uint32_t s = seed * 2654435761u + 1;
  for (int64_t i = 0; i < x.numel(); ++i) {
    s = s * 1664525u + 1013904223u;
    x[i] = static_cast<float>((s >> 8) / 8388608.0 - 1.0);
  }
  return x;
}

// One training step on a batch of two; the auxiliary logits (if any) enter with their
// weights. Every parameter must get a defined, finite and not entirely zero gradient.
void training_step(nn::Module& model, const std::string& what, int64_t classes,
                   size_t want_aux = 0) {
  model.train();
  model.zero_grad();
  Var x(input_tensor({2, 3, 32, 32}, 5), false);
  Var logits = model.forward(x);
  ASSERT_EQ(logits.shape(), (Shape{2, classes})) << what;
  std::vector<int64_t> labels = {3 % classes, 7 % classes};
  Var loss = cross_entropy(logits, labels);
  auto aux = model.take_auxiliary_logits();
  ASSERT_EQ(aux.size(), want_aux) << what;
  for (const Var& a : aux) {
    EXPECT_EQ(a.shape(), (Shape{2, classes})) << what;
    loss = add(loss, scale(cross_entropy(a, labels), 0.3));
  }
  ASSERT_TRUE(std::isfinite(loss.value().item())) << what;
  backward(loss);
  for (auto& [pname, p] : model.named_parameters()) {
    ASSERT_TRUE(p.grad().defined()) << what << ": no gradient for " << pname;
    bool finite = true, nonzero = false;
    for (float g : p.grad()) {
      finite = finite && std::isfinite(g);
      nonzero = nonzero || g != 0.0f;
    }
    EXPECT_TRUE(finite) << what << ": non-finite gradient in " << pname;
    EXPECT_TRUE(nonzero) << what << ": all-zero gradient in " << pname;
  }
}

}  // namespace

class CifarClassic : public ::testing::TestWithParam<Expected> {};

TEST_P(CifarClassic, CountsTrainingStepAndHundredClasses) {
  const Expected& e = GetParam();
  const std::string name = e.name;
  const models::ModelInfo& info = models::find_model(name);
  EXPECT_EQ(info.dataset, "cifar");
  EXPECT_EQ(info.num_classes, 10);
  EXPECT_EQ(info.in_channels, 3);
  EXPECT_EQ(info.input_size, 32);

  auto model = build(name);
  EXPECT_EQ(model->num_parameters(), e.params10) << name;
  nn::ModelSummary s = nn::summarize(*model, {3, 32, 32});
  EXPECT_EQ(s.params, e.params10) << name;
  EXPECT_EQ(s.macs, e.macs10) << name;
  EXPECT_EQ(s.output, (Shape{10})) << name;

  training_step(*model, name, 10);

  // Eval mode: deterministic (no dropout, running BN statistics), no auxiliary logits, and
  // the logits are linear (no ReLU clipping them at zero, no BN), so some are negative.
  model->eval();
  {
    NoGradGuard no_grad;
    Var x(input_tensor({2, 3, 32, 32}, 9), false);
    Tensor a = model->forward(x).value();
    Tensor b = model->forward(x).value();
    ASSERT_EQ(a.shape(), (Shape{2, 10}));
    bool negative = false;
    for (int64_t i = 0; i < a.numel(); ++i) {
      EXPECT_EQ(a[i], b[i]) << name << ": eval forward is not deterministic";
      negative = negative || a[i] < 0;
    }
    EXPECT_TRUE(negative) << name << ": logits never negative (an activation on the logits?)";
    EXPECT_TRUE(model->take_auxiliary_logits().empty());
  }

  // --classes 100.
  auto model100 = build(name, 100);
  EXPECT_EQ(model100->num_parameters(), e.params100) << name;
  model100->eval();
  NoGradGuard no_grad;
  Var y = model100->forward(Var(input_tensor({1, 3, 32, 32}, 11), false));
  EXPECT_EQ(y.shape(), (Shape{1, 100})) << name;
}

INSTANTIATE_TEST_SUITE_P(Zoo, CifarClassic, ::testing::ValuesIn(kModels),
                         [](const ::testing::TestParamInfo<Expected>& info) {
                           std::string n = info.param.name;
                           for (char& c : n)
                             if (c == '-') c = '_';
                           return n;
                         });

TEST(CifarClassic, EveryNameRegisteredAsCifar) {
  for (const auto& e : kModels) {
    const auto& info = models::find_model(e.name);
    EXPECT_FALSE(info.paper.empty()) << e.name;
    EXPECT_GT(info.year, 2000) << e.name;
  }
  EXPECT_EQ(models::find_model("nin").paper_cifar10_error, "8.81");
  EXPECT_EQ(models::find_model("nas-cifar").paper_cifar10_error, "5.50");
  EXPECT_THROW(build("vgg16-cifar", -1, {{"drop_rate", "0.5"}}), Error);  // no options
}

// The 15 searched layers take 3, 36, 84, ... input channels (models-spec.md section 2.22, the
// transcription of Figure 7): the skip table concatenates the right layers.
TEST(CifarClassic, NasLayerInputWidths) {
  auto model = build("nas-cifar");
  const int64_t in[] = {3, 36, 84, 120, 72, 168, 216, 132, 168, 324, 336, 240, 360, 180, 228};
  const int64_t out[] = {36, 48, 36, 36, 48, 48, 48, 36, 36, 36, 36, 48, 48, 48, 48};
  const int64_t fh[] = {3, 3, 3, 5, 3, 7, 7, 7, 7, 7, 5, 7, 7, 7, 7};
  const int64_t fw[] = {3, 3, 3, 5, 7, 7, 7, 3, 1, 7, 7, 7, 5, 5, 5};
  std::map<std::string, Shape> shapes;
  for (auto& [k, t] : model->state_dict()) shapes[k] = t.shape();
  for (int l = 0; l < 15; ++l) {
    std::string key = "layer" + std::to_string(l + 1) + ".conv.weight";
    ASSERT_TRUE(shapes.count(key)) << key;
    EXPECT_EQ(shapes[key], (Shape{out[l], in[l], fh[l], fw[l]})) << key;
  }
  EXPECT_EQ(shapes["fc.weight"], (Shape{10, 48}));  // only layer 15 is left unconsumed
}

// The paper's auxiliary classifiers, optional on the CIFAR GoogLeNet, and AlexNet's
// two-tower split and BN-free form.
TEST(CifarClassic, Options) {
  auto g = build("googlenet-cifar", -1, {{"aux_logits", "true"}});
  EXPECT_EQ(g->num_parameters(), 10333886);
  training_step(*g, "googlenet-cifar aux_logits", 10, 2);
  g->train();
  g->forward(Var(input_tensor({2, 3, 32, 32}, 3), false));
  EXPECT_EQ(g->take_auxiliary_logits().size(), 2u);
  EXPECT_DOUBLE_EQ(train::auxiliary_loss_weight("googlenet-cifar"), 0.3);

  auto a = build("alexnet-cifar", 100, {{"groups", "2"}});
  EXPECT_EQ(a->num_parameters(), 28940100);
  EXPECT_EQ(nn::summarize(*a, {3, 32, 32}).macs, 200658944);
  // The paper's BN-free network: biased convolutions, LRN after conv1 and conv2.
  auto plain = build("alexnet-cifar", -1, {{"batch_norm", "false"}});
  EXPECT_EQ(plain->num_parameters(), 29983114);
  int lrn = 0, bn = 0;
  for (auto& [n, m] : plain->named_modules()) {
    lrn += m->type_name() == "LocalResponseNorm";
    bn += m->type_name() == "BatchNorm";
  }
  EXPECT_EQ(lrn, 2);
  EXPECT_EQ(bn, 0);
  training_step(*plain, "alexnet-cifar batch_norm=false", 10);
  EXPECT_THROW(build("alexnet-cifar", -1, {{"groups", "3"}}), Error);
}

// The 2012 paper (and its Caffe model) drops the outputs of relu6 and relu7, not the inputs
// of fc6 and fc7 as torchvision's single-tower AlexNet does.
TEST(CifarClassic, AlexNetDropoutFollowsRelu6AndRelu7) {
  auto m = build("alexnet-cifar");
  const nn::Module* classifier = nullptr;
  for (auto& [n, c] : m->named_children())
    if (n == "classifier") classifier = c.get();
  ASSERT_NE(classifier, nullptr);
  std::vector<std::string> order;
  for (auto& [n, c] : classifier->named_children()) order.push_back(c->type_name());
  EXPECT_EQ(order, (std::vector<std::string>{"Linear", "ReLU", "Dropout", "Linear", "ReLU",
                                             "Dropout", "Linear"}));
}

// width_scale, the narrower versions of the heavy networks that the one-epoch training check
// runs: at 0.5 every weight's output and input widths are half of the full network's (the
// image's 3 channels, the classes and the depthwise filters' single input excepted), the
// network still trains, and a width_scale that is not positive is refused.
TEST(CifarClassic, WidthScale) {
  for (const char* name : {"googlenet-cifar", "bn-inception-cifar", "inception-v3-cifar",
                           "xception-cifar", "prelu-net-cifar", "nas-cifar"}) {
    auto full = build(name), half = build(name, -1, {{"width_scale", "0.5"}});
    std::map<std::string, Shape> full_shapes;
    for (auto& [pname, p] : full->named_parameters()) full_shapes[pname] = p.shape();
    size_t weights = 0;
    for (auto& [pname, p] : half->named_parameters()) {
      ASSERT_TRUE(full_shapes.count(pname)) << name << ": " << pname;
      const Shape& f = full_shapes[pname];
      const Shape& h = p.shape();
      ASSERT_EQ(h.size(), f.size()) << name << ": " << pname;
      if (h.size() < 2) continue;  // biases, BN and PReLU follow their layer's width
      ++weights;
      EXPECT_EQ(h[0], f[0] == 10 ? 10 : f[0] / 2) << name << ": " << pname;
      EXPECT_EQ(h[1], f[1] <= 3 ? f[1] : f[1] / 2) << name << ": " << pname;
      for (size_t d = 2; d < h.size(); ++d) EXPECT_EQ(h[d], f[d]) << name << ": " << pname;
    }
    EXPECT_GT(weights, 10u) << name;
    training_step(*build(name, -1, {{"width_scale", "0.25"}}), std::string(name) + " w0.25", 10);
    EXPECT_THROW(build(name, -1, {{"width_scale", "0"}}), Error) << name;
    EXPECT_THROW(build(name, -1, {{"width_scale", "-1"}}), Error) << name;
  }
}
