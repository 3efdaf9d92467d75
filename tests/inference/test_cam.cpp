// Class activation maps: CAM equals the analytic map on a hand-built network, Grad-CAM equals
// CAM's positive part on global-average-pooling heads, named layers, refusals, the picture.
#include "cnnzoo/cam.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "cnnzoo/models.hpp"
#include "cnnzoo/nn/layers.hpp"
#include "cnnzoo/ops/activation.hpp"
#include "cnnzoo/ops/pool.hpp"
#include "cnnzoo/ops/shape.hpp"
#include "cnnzoo/random.hpp"
#include "data_paths.hpp"
#include "model_metadata.hpp"

using namespace cnnzoo;

namespace {

// conv 3x3 (2 -> 3 channels) -> ReLU -> global average pooling -> linear (3 -> 4 classes).
struct GapNet : nn::Module {
  std::shared_ptr<nn::Conv2d> conv;
  std::shared_ptr<nn::Linear> fc;
  GapNet() {
    conv = register_module("conv",
                           std::make_shared<nn::Conv2d>(nn::Conv2dOptions(2, 3, 3).padding(1)));
    fc = register_module("fc", std::make_shared<nn::Linear>(3, 4));
  }
  Var forward(const Var& x) override {
    return fc->forward(flatten(global_avg_pool2d(relu(conv->forward(x)))));
  }
};

Tensor random_tensor(const Shape& shape, uint64_t seed) {
  Generator g(seed);
  Tensor t = Tensor::empty(shape);
  for (float& v : t) v = static_cast<float>(g.normal());
  return t;
}

// Fixed, readable weights: every conv weight and bias set by formula.
void set_known_weights(GapNet& net) {
  Tensor& w = net.conv->weight.value();  // [3, 2, 3, 3]
  for (int64_t i = 0; i < w.numel(); ++i) w[i] = 0.1f * static_cast<float>((i * 7) % 11) - 0.45f;
  Tensor& b = net.conv->bias.value();
  for (int64_t i = 0; i < 3; ++i) b[i] = 0.05f * static_cast<float>(i) - 0.02f;
  Tensor& fw = net.fc->weight.value();  // [4, 3]
  for (int64_t i = 0; i < fw.numel(); ++i) fw[i] = static_cast<float>(i % 5) - 1.5f;
  Tensor& fb = net.fc->bias.value();
  for (int64_t i = 0; i < 4; ++i) fb[i] = 0.3f * static_cast<float>(i);
}

// The features relu(conv(x)) written out: 3x3 taps, zero padding 1.
std::vector<double> features_by_hand(const GapNet& net, const Tensor& x, int64_t H, int64_t W) {
  const Tensor& w = net.conv->weight.value();
  const Tensor& b = net.conv->bias.value();
  std::vector<double> f(3 * H * W);
  for (int64_t k = 0; k < 3; ++k)
    for (int64_t y = 0; y < H; ++y)
      for (int64_t xx = 0; xx < W; ++xx) {
        double s = b[k];
        for (int64_t c = 0; c < 2; ++c)
          for (int64_t dy = -1; dy <= 1; ++dy)
            for (int64_t dx = -1; dx <= 1; ++dx) {
              const int64_t yy = y + dy, xs = xx + dx;
              if (yy < 0 || yy >= H || xs < 0 || xs >= W) continue;
              s += static_cast<double>(w[((k * 2 + c) * 3 + dy + 1) * 3 + dx + 1]) *
                   x[(c * H + yy) * W + xs];
            }
        f[(k * H + y) * W + xx] = std::max(0.0, s);
      }
  return f;
}

TEST(Cam, EqualsTheAnalyticMapOnAHandBuiltNetwork) {
  GapNet net;
  set_known_weights(net);
  net.eval();
  const int64_t H = 5, W = 6;
  const Tensor x = random_tensor({1, 2, H, W}, 3);
  const std::vector<double> f = features_by_hand(net, x, H, W);
  const Tensor& fw = net.fc->weight.value();
  for (int64_t c = 0; c < 4; ++c) {
    const cam::Map m = cam::class_activation_map(net, x, c);
    ASSERT_EQ(m.map.shape(), (Shape{H, W}));
    EXPECT_EQ(m.method, "CAM");
    EXPECT_EQ(m.class_index, c);
    double mean = 0;
    for (int64_t i = 0; i < H * W; ++i) {
      double expect = 0;
      for (int64_t k = 0; k < 3; ++k)
        expect += static_cast<double>(fw[c * 3 + k]) * f[k * H * W + i];
      EXPECT_NEAR(m.map[i], expect, 1e-5) << "class " << c << " position " << i;
      mean += m.map[i];
    }
    // The map's mean plus the bias is the class's logit (the CAM identity).
    Tensor logits;
    {
      NoGradGuard ng;
      logits = net.forward(Var(x)).value();
    }
    EXPECT_NEAR(mean / (H * W) + net.fc->bias.value()[c], logits[c], 1e-5);
    float psum = 0;
    for (float p : m.probabilities) psum += p;
    EXPECT_NEAR(psum, 1.0f, 1e-5);
  }
  // Without a class: the most probable one.
  const cam::Map top = cam::class_activation_map(net, x, -1);
  for (int64_t c = 0; c < 4; ++c)
    EXPECT_GE(top.probabilities[top.class_index], top.probabilities[c]);
}

// Grad-CAM of the pooled features is relu(CAM) / positions: alpha_k = W[c, k] / (h w).
void expect_grad_cam_is_cam(nn::Module& model, const Tensor& x, int64_t classes) {
  ASSERT_TRUE(cam::has_gap_linear_head(model, x));
  for (int64_t c = 0; c < classes; ++c) {
    const cam::Map a = cam::class_activation_map(model, x, c);
    const cam::Map g = cam::grad_cam(model, x, c);
    ASSERT_EQ(a.map.shape(), g.map.shape());
    const double positions = static_cast<double>(a.map.numel());
    double scale = 0;
    for (float v : a.map) scale = std::max(scale, std::fabs(static_cast<double>(v)));
    for (int64_t i = 0; i < a.map.numel(); ++i)
      EXPECT_NEAR(g.map[i] * positions, std::max(0.0f, a.map[i]), 1e-4 * scale + 1e-6)
          << "class " << c << " position " << i;
  }
}

TEST(Cam, GradCamEqualsCamOnGlobalAveragePoolingHeads) {
  GapNet net;
  set_known_weights(net);
  net.eval();
  expect_grad_cam_is_cam(net, random_tensor({1, 2, 5, 6}, 4), 4);
  for (const char* name : {"resnet20", "densenet-40-12"}) {
    SCOPED_TRACE(name);
    manual_seed(5);
    nn::ModulePtr m = models::build_model(name);
    m->eval();
    expect_grad_cam_is_cam(*m, random_tensor({1, 3, 32, 32}, 6), 3);
  }
}

TEST(Cam, GradCamOnNamedLayersAndOnHeadsWithoutPooling) {
  manual_seed(7);
  nn::ModulePtr resnet = models::build_model("resnet20");
  resnet->eval();
  const Tensor x = random_tensor({1, 3, 32, 32}, 8);
  EXPECT_EQ(cam::grad_cam(*resnet, x, 0, "layer2").map.shape(), (Shape{16, 16}));
  EXPECT_EQ(cam::grad_cam(*resnet, x, 0, "layer1.2.conv1").map.shape(), (Shape{32, 32}));
  EXPECT_EQ(cam::grad_cam(*resnet, x, 0, "layer3").map.shape(), (Shape{8, 8}));
  // layer3's output is what the pooling reads: the same map as the default.
  const cam::Map named = cam::grad_cam(*resnet, x, 2, "layer3");
  const cam::Map last = cam::grad_cam(*resnet, x, 2);
  for (int64_t i = 0; i < named.map.numel(); ++i) EXPECT_FLOAT_EQ(named.map[i], last.map[i]);
  auto expect_error = [](auto&& f, const std::string& needle) {
    try {
      f();
      ADD_FAILURE() << "no error; expected one mentioning " << needle;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error([&] { cam::grad_cam(*resnet, x, 0, "layer9"); }, "no layer 'layer9'");
  expect_error([&] { cam::grad_cam(*resnet, x, 0, "fc"); }, "not a [1, K, h, w] map");
  expect_error([&] { cam::grad_cam(*resnet, x, 10, ""); }, "out of range");
  expect_error(
      [&] {
        cam::class_activation_map(*resnet, random_tensor({2, 3, 32, 32}, 1), 0);
      },
      "not one image");
  // AlexNet's head is flatten + linear layers: no CAM, but Grad-CAM of the last activation
  // with positions.
  nn::ModulePtr vgg = models::build_model("alexnet-cifar");
  vgg->eval();
  EXPECT_FALSE(cam::has_gap_linear_head(*vgg, x));
  expect_error([&] { cam::class_activation_map(*vgg, x, 0); }, "global average pooling");
  const cam::Map g = cam::grad_cam(*vgg, x, 1);
  EXPECT_EQ(g.method, "Grad-CAM");
  EXPECT_GT(g.map.numel(), 1);
  // VGG's CIFAR head pools a 1x1 map: no map to draw from it.
  nn::ModulePtr vgg11 = models::build_model("vgg11-cifar");
  vgg11->eval();
  expect_error([&] { cam::class_activation_map(*vgg11, x, 0); }, "single position");
  EXPECT_EQ(cam::grad_cam(*vgg11, x, 0).map.shape(), (Shape{2, 2}));
  resnet->train();
  expect_error([&] { cam::grad_cam(*resnet, x, 0); }, "training mode");
}

TEST(Cam, TheExplainerLeavesTheClassifierAsItWasAndTheRenderDrawsBothHalves) {
  TempDir tmp;
  const ModelMetadata md = cifar_metadata("resnet20");
  manual_seed(9);
  save_weights(*models::build_model(md.spec), md, tmp / "r.safetensors");
  const Classifier c = Classifier::load(tmp / "r.safetensors");
  io::Image img{40, 48, 3, {}};
  Generator g(10);
  for (int i = 0; i < 40 * 48 * 3; ++i) img.pixels.push_back(static_cast<uint8_t>(g.randint(256)));
  const Tensor before = c.probabilities(c.preprocess(std::vector<io::Image>{img}));
  cam::Explainer ex(c);
  const cam::Map m = ex.explain(img);
  EXPECT_EQ(m.method, "CAM");
  EXPECT_EQ(m.map.shape(), (Shape{8, 8}));
  const Tensor after = c.probabilities(c.preprocess(std::vector<io::Image>{img}));
  for (int64_t i = 0; i < before.numel(); ++i) {
    EXPECT_EQ(before[i], after[i]);
    EXPECT_NEAR(m.probabilities[i], before[i], 1e-5);
  }
  for (const auto& [name, p] : c.module().named_parameters())
    EXPECT_FALSE(p.grad().defined()) << name;
  EXPECT_EQ(ex.explain(img, 3, "grad-cam", "layer2").map.shape(), (Shape{16, 16}));

  const io::Image pic = cam::render(img, m.map, "cat 50.0% (CAM)", 96);
  // 96 pixels wide per half (the image's longer side), 80 high, plus the legend below.
  EXPECT_EQ(pic.channels, 3);
  EXPECT_GE(pic.width, 2 * 96);
  EXPECT_GT(pic.height, 80);
  const io::Image scaled = io::resize(img, 80, 96);
  EXPECT_EQ(pic.pixels[0], scaled.pixels[0]);  // the left half is the image
  int64_t dark = 0;                            // the caption's glyphs in the legend
  for (int y = 80; y < pic.height; ++y)
    for (int x = 0; x < pic.width; ++x) dark += pic.pixels[(y * pic.width + x) * 3] < 64;
  EXPECT_GT(dark, 20);
}

}  // namespace
