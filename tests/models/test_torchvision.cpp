// The torchvision-compatible ImageNet models: state-dict keys and shapes equal to
// torchvision 0.14's (lists in tests/reference/torchvision_keys/), identical logits for
// weights given by a closed-form formula (tests/reference/make_torchvision_reference.py wrote
// the reference logits), and classifiers and auxiliary heads that follow the class count.
// Their counts and training steps are rows of their papers' tables (test_<paper>.cpp).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "cnnzoo/models.hpp"
#include "cnnzoo/nn/init.hpp"
#include "cnnzoo/nn/module.hpp"
#include "cnnzoo/ops/arith.hpp"
#include "cnnzoo/ops/loss.hpp"
#include "cnnzoo/train/trainer.hpp"
#include "model_test.hpp"

using namespace cnnzoo;
using cnnzoo::testing::build;

namespace {

const std::string kRef = std::string(CNNZOO_SOURCE_DIR) + "/tests/reference/";

struct Expected {
  const char* name;
  int64_t params;
};

// torchvision 0.14: sum(p.numel() for p in model.parameters()).
const Expected kModels[] = {
    {"alexnet", 61100840},          {"vgg11", 132863336},          {"vgg13", 133047848},
    {"vgg16", 138357544},           {"vgg19", 143667240},          {"vgg11_bn", 132868840},
    {"vgg13_bn", 133053736},        {"vgg16_bn", 138365992},       {"vgg19_bn", 143678248},
    {"googlenet", 13004888},        {"inception_v3", 27161264},    {"resnet18", 11689512},
    {"resnet34", 21797672},         {"resnet50", 25557032},        {"resnet101", 44549160},
    {"resnet152", 60192808},        {"wide_resnet50_2", 68883240}, {"resnext50_32x4d", 25028904},
    {"resnext101_32x8d", 88791336}, {"squeezenet1_0", 1248424},    {"squeezenet1_1", 1235496},
    {"densenet121", 7978856},       {"densenet161", 28681000},     {"densenet169", 14149480},
    {"densenet201", 20013928},
};

// ---- a minimal .npy reader (float32, C order, format 1.0/2.0) ----------------------------------

Tensor read_npy(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot open " + path);
  char magic[8];
  f.read(magic, 8);
  if (!f || std::memcmp(magic, "\x93NUMPY", 6) != 0) throw std::runtime_error("not npy: " + path);
  uint32_t header_len = 0;
  if (magic[6] == 1) {
    unsigned char b[2];
    f.read(reinterpret_cast<char*>(b), 2);
    header_len = b[0] | (b[1] << 8);
  } else {
    unsigned char b[4];
    f.read(reinterpret_cast<char*>(b), 4);
    header_len = b[0] | (b[1] << 8) | (b[2] << 16) | (uint32_t(b[3]) << 24);
  }
  std::string header(header_len, '\0');
  f.read(&header[0], header_len);
  if (header.find("'descr': '<f4'") == std::string::npos ||
      header.find("'fortran_order': False") == std::string::npos)
    throw std::runtime_error("expected little-endian float32 in C order: " + path);
  size_t open = header.find("'shape': (");
  size_t close = header.find(')', open);
  std::string dims = header.substr(open + 10, close - open - 10);
  Shape shape;
  std::stringstream ss(dims);
  std::string item;
  while (std::getline(ss, item, ','))
    if (item.find_first_not_of(' ') != std::string::npos) shape.push_back(std::stoll(item));
  Tensor t = Tensor::empty(shape);
  f.read(reinterpret_cast<char*>(t.data()), t.numel() * sizeof(float));
  if (!f) throw std::runtime_error("truncated npy: " + path);
  return t;
}

// ---- the fill formula of make_torchvision_reference.py -----------------------------------------

uint32_t fnv1a32(const std::string& s) {
  uint32_t h = 2166136261u;
  for (unsigned char c : s) h = (h ^ c) * 16777619u;
  return h;
}

// r in [-1, 1) for element i of the tensor whose name hashes to h.
double unit(uint32_t h, uint64_t i) {
  uint32_t x = h ^ static_cast<uint32_t>(i * 0x9E3779B1ull);
  x ^= x >> 16;
  x *= 0x85EBCA6Bu;
  x ^= x >> 13;
  x *= 0xC2B2AE35u;
  x ^= x >> 16;
  return 2.0 * (static_cast<double>(x) / 4294967296.0) - 1.0;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

void fill(const std::string& name, Tensor& t) {
  if (ends_with(name, "num_batches_tracked")) {
    t.zero();
    return;
  }
  uint32_t h = fnv1a32(name);
  int64_t fan_in = 1;
  for (int64_t d = 1; d < t.dim(); ++d) fan_in *= t.size(d);
  for (int64_t i = 0; i < t.numel(); ++i) {
    double r = unit(h, static_cast<uint64_t>(i)), v;
    if (ends_with(name, "running_var"))
      v = 1.0 + 0.25 * r;
    else if (ends_with(name, "running_mean") || ends_with(name, "bias"))
      v = 0.1 * r;
    else if (ends_with(name, "weight") && t.dim() >= 2)
      v = r * std::sqrt(6.0 / static_cast<double>(fan_in));
    else if (ends_with(name, "weight"))
      v = 1.0 + 0.25 * r;
    else if (name == "input")
      v = r;
    else
      throw std::runtime_error("no formula for " + name);
    t[i] = static_cast<float>(v);
  }
}

// ---- helpers
// -------------------------------------------------------------------------------------

std::vector<std::pair<std::string, Shape>> read_keys(const std::string& name) {
  std::ifstream f(kRef + "torchvision_keys/" + name + ".txt");
  EXPECT_TRUE(f.good()) << "missing key list for " << name;
  std::vector<std::pair<std::string, Shape>> out;
  std::string line;
  while (std::getline(f, line)) {
    if (line.empty()) continue;
    size_t sp = line.find(' ');
    Shape shape;
    if (sp != std::string::npos) {
      std::stringstream ss(line.substr(sp + 1));
      std::string item;
      while (std::getline(ss, item, ',')) shape.push_back(std::stoll(item));
    }
    out.emplace_back(line.substr(0, sp), shape);
  }
  return out;
}

Tensor input_tensor(const Shape& shape, uint64_t seed) {
  Tensor x = Tensor::empty(shape);
  for (int64_t i = 0; i < x.numel(); ++i)
    x[i] = static_cast<float>(unit(static_cast<uint32_t>(seed), i));
  return x;
}

}  // namespace

// ---- per model: parameters, keys, training step ------------------------------------------------

class TorchvisionModel : public ::testing::TestWithParam<Expected> {};

TEST_P(TorchvisionModel, StateDictKeysAndShapes) {
  const Expected& e = GetParam();
  const std::string name = e.name;
  nn::init::SkipInitGuard structure_only;  // the 138M draws of a VGG are not what is tested
  auto model = build(name);
  const models::ModelInfo& info = models::find_model(name);
  EXPECT_EQ(info.dataset, "imagenet");
  EXPECT_EQ(info.num_classes, 1000);
  EXPECT_EQ(model->num_parameters(), e.params) << name;

  // State-dict keys, order and shapes exactly torchvision's.
  auto expected = read_keys(name);
  auto state = model->state_dict();
  ASSERT_EQ(state.size(), expected.size()) << name;
  for (size_t i = 0; i < state.size(); ++i) {
    EXPECT_EQ(state[i].first, expected[i].first) << name << " entry " << i;
    EXPECT_EQ(state[i].second.shape(), expected[i].second) << name << " " << expected[i].first;
  }
}

// `--classes 100`: the classifier (and auxiliary heads) follow num_classes. One name per
// builder and block type (the other names only change depth tables).
class HundredClasses : public ::testing::TestWithParam<std::string> {};

TEST_P(HundredClasses, ClassifierFollowsNumClasses) {
  const std::string name = GetParam();
  nn::init::SkipInitGuard shapes_only;
  auto model = build(name, 100);
  model->eval();
  NoGradGuard no_grad;
  const int64_t s = name == "inception_v3" ? 80 : 64;  // small inputs the designs accept
  Var y = model->forward(Var(input_tensor({1, 3, s, s}, 11), false));
  EXPECT_EQ(y.shape(), (Shape{1, 100})) << name;
  EXPECT_TRUE(model->take_auxiliary_logits().empty()) << "no auxiliary logits in eval mode";
  // The classifier is the last weight of the state dict; auxiliary classifiers too.
  std::string last;
  int64_t last_rows = 0;
  for (auto& [key, t] : model->state_dict()) {
    if (t.dim() >= 2) {
      last = key;
      last_rows = t.size(0);
    }
    if (key == "aux1.fc2.weight" || key == "aux2.fc2.weight" || key == "AuxLogits.fc.weight")
      EXPECT_EQ(t.size(0), 100) << name << " " << key;
  }
  EXPECT_EQ(last_rows, 100) << name << " " << last;
}

INSTANTIATE_TEST_SUITE_P(Builders, HundredClasses,
                         ::testing::Values("alexnet", "vgg11", "vgg16_bn", "googlenet",
                                           "inception_v3", "resnet18", "resnet50",
                                           "wide_resnet50_2", "resnext50_32x4d", "squeezenet1_0",
                                           "squeezenet1_1", "densenet121", "densenet161"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

INSTANTIATE_TEST_SUITE_P(All, TorchvisionModel, ::testing::ValuesIn(kModels),
                         [](const ::testing::TestParamInfo<Expected>& info) {
                           return std::string(info.param.name);
                         });

// ---- without auxiliary heads ---------------------------------------------------------------

TEST(Torchvision, WithoutAuxiliaryHeads) {
  auto g = build("googlenet", -1, {{"aux_logits", "false"}});
  EXPECT_EQ(g->num_parameters(), 6624904);
  auto v3 = build("inception_v3", -1, {{"aux_logits", "false"}});
  EXPECT_EQ(v3->num_parameters(), 23834568);
  for (auto& [key, t] : g->state_dict()) EXPECT_EQ(key.rfind("aux", 0), std::string::npos) << key;
  for (auto& [key, t] : v3->state_dict())
    EXPECT_EQ(key.rfind("AuxLogits", 0), std::string::npos) << key;
  g->train();
  Var y = g->forward(Var(input_tensor({2, 3, 64, 64}, 5), false));
  EXPECT_EQ(y.shape(), (Shape{2, 1000}));
  EXPECT_TRUE(g->take_auxiliary_logits().empty());
}

TEST(Torchvision, UnknownOptionRejected) {
  EXPECT_THROW(build("resnet18", -1, {{"aux_logits", "true"}}), Error);
  EXPECT_THROW(build("resnet19"), Error);
}

// ---- numerical equivalence with torchvision ----------------------------------------------------

TEST(Torchvision, ReferenceInputMatchesFormula) {
  // The C++ fill formula reproduces the Python one bit for bit (checked on the input, which the
  // script stores; the weights use the same function of other names).
  Tensor x = read_npy(kRef + "tv_input.npy");
  ASSERT_EQ(x.shape(), (Shape{2, 3, 114, 114}));
  Tensor y = Tensor::empty(x.shape());
  fill("input", y);
  for (int64_t i = 0; i < x.numel(); ++i) ASSERT_EQ(x[i], y[i]) << "element " << i;
}

class TorchvisionLogits : public ::testing::TestWithParam<std::string> {};

TEST_P(TorchvisionLogits, MatchesReference) {
  const std::string name = GetParam();
  auto model = build(name);
  for (auto& [key, t] : model->state_dict()) fill(key, t);
  model->eval();
  Tensor x = read_npy(kRef + "tv_input.npy");
  Tensor ref = read_npy(kRef + name + "_logits.npy");
  NoGradGuard no_grad;
  Var y = model->forward(Var(x, false));
  ASSERT_EQ(y.shape(), ref.shape());
  double max_ref = 0, max_err = 0;
  for (int64_t i = 0; i < ref.numel(); ++i) {
    max_ref = std::max(max_ref, std::abs(double(ref[i])));
    max_err = std::max(max_err, std::abs(double(y.value()[i]) - double(ref[i])));
  }
  ASSERT_GT(max_ref, 0.1);
  EXPECT_LE(max_err, 1e-4 * max_ref)
      << name << ": max |error| " << max_err << ", max |logit| " << max_ref;
  EXPECT_TRUE(model->take_auxiliary_logits().empty());
}

INSTANTIATE_TEST_SUITE_P(All, TorchvisionLogits,
                         ::testing::Values("resnet18", "densenet121", "squeezenet1_1", "googlenet",
                                           "inception_v3"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });
