// The zoo as a whole: the table test that every paper file's rows run through (exact
// parameter counts, the paper's figure, multiply-adds and grid sizes, a training step with a
// gradient for every parameter, the class count), the check that those rows cover the
// registry once each from the test file of the model's own models/ file, and what every CIFAR
// network shares: it reads the raw image with a convolution and ends in its classifier.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "cnnzoo/models/pyramidnet.hpp"
#include "cnnzoo/nn/init.hpp"
#include "cnnzoo/nn/layers.hpp"
#include "cnnzoo/nn/summary.hpp"
#include "cnnzoo/ops.hpp"
#include "export/trace.hpp"
#include "model_test.hpp"

using namespace cnnzoo;
using namespace cnnzoo::testing;

TEST_P(ModelTable, CountsShapesATrainingStepAndTheClassCount) {
  const ModelCase& c = GetParam();
  const models::ModelInfo& info = models::find_model(c.name);
  EXPECT_TRUE(info.dataset == "cifar" || info.dataset == "imagenet") << c.name;
  EXPECT_GT(info.year, 1997) << c.name;
  EXPECT_FALSE(info.paper.empty()) << c.name;

  manual_seed(1);  // the same weights whichever tests ran before in this process
  auto model = build(c.name, -1, c.options);
  EXPECT_EQ(model->num_parameters(), c.params) << c.name;
  if (c.paper_count > 0)
    EXPECT_NEAR(static_cast<double>(c.params) / c.paper_count, 1.0, c.tolerance)
        << c.name << ": further from the paper's figure than its model file says";

  const int64_t side = info.input_size, channels = info.in_channels;
  if (c.macs_count > 0 || c.grid_side > 0) {
    nn::ModelSummary s = nn::summarize(*model, {channels, side, side});
    EXPECT_EQ(s.params, c.params) << c.name;
    EXPECT_EQ(s.output, (Shape{info.num_classes})) << c.name;
    if (c.macs_count > 0) EXPECT_EQ(s.macs, c.macs_count) << c.name;
    if (c.grid_side > 0) {
      bool found = false;
      for (const auto& l : s.layers)
        found = found ||
                (l.output.size() == 3 && l.output[1] == c.grid_side && l.output[2] == c.grid_side);
      EXPECT_TRUE(found) << c.name << ": no " << c.grid_side << "x" << c.grid_side
                         << " feature map";
    }
  }

  // Stochastic depth would leave dropped branches without gradients: keep every branch.
  models::set_gate_mode(*model, models::SurvivalGate::Mode::AlwaysKeep);
  const int64_t step_side = c.step_side > 0 ? c.step_side : side;
  training_step(*model, c.name, input_tensor({c.step_batch, channels, step_side, step_side}, 5),
                info.num_classes, c.aux, c.nonzero_gradients);

  if (c.classifier_in > 0) {
    // --classes 100: only the classifier changes. Training-mode statistics: an untrained
    // post-activation ResNet-1202 overflows with the initial running statistics, as in PyTorch.
    auto m100 = build(c.name, 100, c.options);
    EXPECT_EQ(m100->num_parameters(), c.params + (100 - info.num_classes) * (c.classifier_in + 1))
        << c.name;
    m100->train();
    NoGradGuard no_grad;
    Tensor y = m100->forward(Var(input_tensor({2, channels, step_side, step_side}, 9))).value();
    EXPECT_EQ(y.shape(), (Shape{2, 100})) << c.name;
    EXPECT_TRUE(all_finite(y)) << c.name;
  }
}

// Each registered model has one row, in the test file of the models/ file it comes from, and
// each models/ file has its test file.
TEST(Zoo, ThePaperTablesCoverTheRegistryOnceEachAndMirrorModels) {
  std::set<std::string> registered;
  for (const auto& m : models::registry()) {
    registered.insert(m.name);
    auto it = table_rows().find(m.name);
    if (it == table_rows().end()) {
      ADD_FAILURE() << m.name << " has no row (tests/models/test_" << m.family << ".cpp)";
      continue;
    }
    EXPECT_EQ(it->second, std::vector<std::string>{m.family}) << m.name;
  }
  for (const auto& [name, files] : table_rows())
    EXPECT_TRUE(registered.count(name)) << "a row for an unregistered name: " << name;
  namespace fs = std::filesystem;
  const fs::path root = CNNZOO_SOURCE_DIR;
  int papers = 0;
  for (const auto& e : fs::directory_iterator(root / "models")) {
    if (e.path().extension() != ".cpp" || e.path().stem() == "registry") continue;
    ++papers;
    EXPECT_TRUE(fs::exists(root / "tests/models" / ("test_" + e.path().stem().string() + ".cpp")))
        << "models/" << e.path().filename().string() << " has no tests/models/test_"
        << e.path().stem().string() << ".cpp";
  }
  EXPECT_GT(papers, 30);
}

TEST(Zoo, UnknownOptionsAndNamesAreRefused) {
  EXPECT_THROW(build("densenet-40-12", -1, {{"no_such_option", "1"}}), Error);
  EXPECT_THROW(build("resnet20", -1, {{"p_L", "0.5"}}), Error);
  EXPECT_THROW(build("vgg16-cifar", -1, {{"drop_rate", "0.5"}}), Error);  // no options
  EXPECT_THROW(build("resnet19"), Error);
}

namespace {
class CifarModel : public ::testing::TestWithParam<std::string> {};
}  // namespace

TEST(Zoo, ResidualRegularizersEvaluateDeterministically) {
  for (auto spec : {spec_of("ror3-wrn58-4", {{"depth", "16"}, {"widen_factor", "1"}}),
                    spec_of("weighted-resnet", {{"depth", "22"}}),
                    spec_of("wrn-16-4", {{"drop_rate", "0.3"}, {"widen_factor", "1"}})}) {
    manual_seed(9);
    nn::ModulePtr m = build_model(spec);
    Var x = random_input({2, 3, 16, 16});
    m->train();
    {
      NoGradGuard ng;
      m->forward(x);  // running statistics move, gates and dropout masks are drawn
      m->forward(x);
    }
    m->eval();
    NoGradGuard ng;
    Var y1 = m->forward(x), y2 = m->forward(x);
    EXPECT_EQ(y1.value().to_vector(), y2.value().to_vector()) << spec.name;
    EXPECT_TRUE(all_finite(y1.value())) << spec.name;
  }
}

TEST(Zoo, StochasticRegularizersEvaluateDeterministically) {
  OneThread one_thread;
  Generator g(3);
  Var x(randn({2, 3, 32, 32}, g));
  const std::vector<std::pair<std::string, std::map<std::string, std::string>>> cases = {
      {"fractalnet-20", {{"width_scale", "0.0625"}}},
      {"pyramidsepdrop-182-a150", {{"depth", "20"}, {"alpha", "12"}}},
      // Its default evaluation samples (the paper's 30-pass stochastic inference).
      {"swapout-32-w4", {{"depth", "8"}, {"widen_factor", "1"}, {"stochastic_inference", "0"}}},
      {"densenet-40-12", {{"depth", "10"}, {"drop_rate", "0.2"}}},
  };
  for (const auto& [name, opts] : cases) {
    SCOPED_TRACE(name);
    auto m = build(name, -1, opts);
    m->train();
    m->forward(x);  // move the BN running statistics away from their initial values
    m->eval();
    NoGradGuard no_grad;
    Tensor a = m->forward(x).value().clone();
    Tensor b = m->forward(x).value().clone();
    EXPECT_TRUE(same(a, b));
    // Training mode is stochastic for all of them (a few passes: two may draw alike).
    m->train();
    Tensor c = m->forward(x).value().clone();
    bool differs = false;
    for (int i = 0; i < 8 && !differs; ++i) differs = !same(c, m->forward(x).value());
    EXPECT_TRUE(differs);
  }
}

TEST(Zoo, OptionsChangeTheArchitecture) {
  // PyramidNet widths: floor(16 + alpha k / 3N); the last unit reaches 16 + alpha.
  models::pyramidnet::Config pc;
  pc.depth = 110;
  pc.alpha = 48;
  auto w = models::pyramidnet::unit_widths(pc);
  ASSERT_EQ(w.size(), 54u);
  EXPECT_EQ(w.front(), 16);  // floor(16 + 48/54)
  EXPECT_EQ(w[1], 17);       // floor(16 + 96/54)
  EXPECT_EQ(w.back(), 64);
  pc.depth = 182;
  pc.alpha = 150;
  EXPECT_EQ(models::pyramidnet::unit_widths(pc).back(), 166);  // exact, no 165.99

  // DenseNet options: a plain DenseNet-100-12 made BC is DenseNet-BC-100-12.
  EXPECT_EQ(build("densenet-100-12", -1, {{"bottleneck", "true"}, {"compression", "0.5"}})
                ->num_parameters(),
            769162);
  // ResNeXt: cardinality 4, bottleneck width 16 (grouped 3x3 of 64/128/256 channels).
  EXPECT_EQ(build("resnext29-2x64d", -1, {{"cardinality", "4"}, {"bottleneck_width", "16"}})
                ->num_parameters(),
            3172426);
  EXPECT_THROW(build("pyramidnet-110-a48", -1, {{"depth", "111"}}), Error);
  EXPECT_THROW(build("densenet-40-12", -1, {{"depth", "41"}}), Error);
}

// width_scale, the narrower versions of the heavy networks that the one-epoch training check
// runs: at 0.5 every weight's output and input widths are half of the full network's (the
// image's 3 channels, the classes and the depthwise filters' single input excepted), the
// network still trains, and a width_scale that is not positive is refused.
TEST(Zoo, WidthScaleHalvesEveryWidth) {
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
    training_step(*build(name, -1, {{"width_scale", "0.25"}}), std::string(name) + " w0.25",
                  input_tensor({2, 3, 32, 32}, 5), 10);
    EXPECT_THROW(build(name, -1, {{"width_scale", "0"}}), Error) << name;
    EXPECT_THROW(build(name, -1, {{"width_scale", "-1"}}), Error) << name;
  }
}

// Every CIFAR network reads the image with a convolution (no normalisation or activation of
// the raw input) and ends in a linear classifier, except the all-convolutional heads: NIN
// and SqueezeNet average the class maps of their last convolution.
TEST_P(CifarModel, StartsWithAConvolutionAndEndsWithItsClassifier) {
  const std::string name = GetParam();
  const models::ModelInfo& info = models::find_model(name);
  nn::init::SkipInitGuard structure_only;
  auto model = build(name);
  auto t = trace_forward(*model, input_tensor({1, info.in_channels, 32, 32}));
  ASSERT_FALSE(t->rec.events.empty());
  const trace::Event& first = t->rec.events.front();
  EXPECT_EQ(first.op, "conv2d") << name;
  ASSERT_FALSE(first.inputs.empty());
  EXPECT_EQ(first.inputs[0], t->input.node()) << name << ": the first op must read the image";

  const trace::Event* last = producer(*t, t->output.node());
  while (last && last->op == "reshape") last = producer(*t, last->inputs[0]);
  ASSERT_NE(last, nullptr) << name;
  static const std::set<std::string> conv_heads = {"nin", "nin-bn", "squeezenet-cifar"};
  if (conv_heads.count(name)) {
    EXPECT_TRUE(last->op == "adaptive_avg_pool2d" || last->op == "avg_pool2d" ||
                last->op == "global_avg_pool2d")
        << name << " ends with " << last->op;
  } else {
    EXPECT_EQ(last->op, "linear") << name;
  }
}

INSTANTIATE_TEST_SUITE_P(Zoo, CifarModel, ::testing::ValuesIn(registry_names("cifar")),
                         [](const auto& info) { return test_name(info.param); });

// `--classes N` for the CIFAR versions of the ImageNet designs: 100 classes add 90 rows to
// the classifier and nothing else.
TEST(Zoo, CifarVersionsTakeTheClassCount) {
  for (const auto& [name, params] :
       std::vector<std::pair<std::string, int64_t>>{{"bn-inception-cifar", 10262794},
                                                    {"xception-cifar", 20827442},
                                                    {"prelu-net-cifar", 43836234}}) {
    auto m = build(name, 100);
    int64_t fc_in = 0;
    for (auto& [key, t] : m->state_dict())
      if (t.dim() == 2) fc_in = t.size(1);  // the last 2-d weight is the classifier
    EXPECT_EQ(m->num_parameters(), params + 90 * (fc_in + 1)) << name;
    EXPECT_EQ(run(*m, input_tensor({2, 3, 32, 32}, 5)).shape(), (Shape{2, 100})) << name;
  }
}
