// ONNX export checked by real consumers: the ONNX checker (libonnx) accepts the files, and
// OpenCV's DNN module runs them to cnnzoo's own outputs.
#include <gtest/gtest.h>
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <opencv2/dnn.hpp>

#include "cli/cli_run.hpp"
#include "cnnzoo/inference.hpp"
#include "cnnzoo/models.hpp"
#include "cnnzoo/nn/init.hpp"
#include "cnnzoo/nn/layers.hpp"
#include "cnnzoo/onnx.hpp"
#include "cnnzoo/ops/arith.hpp"
#include "cnnzoo/random.hpp"
#include "data_paths.hpp"
#include "models/model_test.hpp"

using namespace cnnzoo;
using cnnzoo::testing::registry_names;
using cnnzoo::testing::test_name;

namespace {

// BN statistics away from (0, 1), so that a wrongly folded or ignored BN shows.
void perturb_batchnorm(nn::Module& m) {
  Generator g(11);
  for (auto& [name, mod] : m.named_modules())
    if (auto* bn = dynamic_cast<nn::BatchNorm*>(mod)) {
      for (auto& v : bn->running_mean) v = static_cast<float>(g.uniform(-0.2, 0.2));
      for (auto& v : bn->running_var) v = static_cast<float>(g.uniform(0.5, 2.0));
      if (bn->weight.defined())
        for (auto& v : bn->weight.value()) v = static_cast<float>(g.uniform(0.5, 1.5));
      if (bn->bias.defined())
        for (auto& v : bn->bias.value()) v = static_cast<float>(g.uniform(-0.2, 0.2));
    }
}

// max |a - b| / max |b| over the outputs.
double relative_difference(const Tensor& ours, const cv::Mat& theirs) {
  EXPECT_EQ(static_cast<int64_t>(theirs.total()), ours.numel());
  double diff = 0, scale = 0;
  const float* t = theirs.ptr<float>();
  for (int64_t i = 0; i < ours.numel(); ++i) {
    diff = std::max(diff, static_cast<double>(std::abs(ours[i] - t[i])));
    scale = std::max(scale, static_cast<double>(std::abs(ours[i])));
  }
  return diff / std::max(scale, 1e-12);
}

struct Case {
  const char* name;
  std::map<std::string, std::string> options;
};

double opencv_difference(const Case& c, int64_t batch) {
  models::ModelSpec spec;
  spec.name = c.name;
  spec.options = c.options;
  manual_seed(3);
  nn::ModulePtr model = models::build_model(spec);
  perturb_batchnorm(*model);
  const models::ModelSpec s = models::resolve_spec(spec);
  const Shape chw = {s.in_channels, s.input_size, s.input_size};
  cnnzoo::onnx::ExportOptions o;
  o.batch = batch;
  const std::string bytes = cnnzoo::onnx::export_bytes(*model, chw, o);

  ::onnx::ModelProto proto;
  EXPECT_TRUE(proto.ParseFromString(bytes)) << c.name;
  ::onnx::checker::check_model(proto);

  Tensor x = Tensor::empty({batch, chw[0], chw[1], chw[2]});
  Generator g(5);
  for (auto& v : x) v = static_cast<float>(g.uniform(-1.0, 1.0));
  model->eval();
  Tensor ours;
  {
    NoGradGuard no_grad;
    ours = model->forward(Var(x)).value();
  }
  cv::dnn::Net net = cv::dnn::readNetFromONNX(bytes.data(), bytes.size());
  int dims[4] = {static_cast<int>(batch), static_cast<int>(chw[0]), static_cast<int>(chw[1]),
                 static_cast<int>(chw[2])};
  cv::Mat blob(4, dims, CV_32F, x.data());
  net.setInput(blob);
  cv::Mat theirs = net.forward();
  return relative_difference(ours, theirs);
}

}  // namespace

class OnnxOpenCV : public ::testing::TestWithParam<Case> {};

TEST_P(OnnxOpenCV, OutputsMatchCnnzoo) {
  const double d = opencv_difference(GetParam(), 2);
  RecordProperty("max_relative_difference", std::to_string(d));
  std::printf("%s: max relative difference %.3g\n", GetParam().name, d);
  EXPECT_LE(d, 1e-4) << GetParam().name;
}

INSTANTIATE_TEST_SUITE_P(
    Models, OnnxOpenCV,
    ::testing::Values(Case{"resnet20", {}}, Case{"preact-resnet164", {}},
                      Case{"densenet-bc-100-12", {}}, Case{"resnext29-2x64d", {}},
                      Case{"xception-cifar", {}}, Case{"squeezenet1_1", {}}, Case{"alexnet", {}},
                      Case{"prelu-net-cifar", {}}, Case{"se-preact-resnet164", {}},
                      Case{"pyramidnet-110-a48", {}}, Case{"nin", {}}, Case{"googlenet", {}},
                      Case{"inception_v3", {}}, Case{"inception-v4", {}}, Case{"resnet110-sd", {}},
                      Case{"swapout-32-w4", {}}, Case{"fractalnet-20", {}}),
    [](const auto& info) { return test_name(info.param.name); });

// Every model of the registry exports, at batch 1, to a file the ONNX checker accepts, with
// the graph's input and output shapes and the metadata given.
class OnnxRegistry : public ::testing::TestWithParam<std::string> {};

TEST_P(OnnxRegistry, ExportPassesTheChecker) {
  const models::ModelInfo& info = models::find_model(GetParam());
  nn::ModulePtr model;
  {
    nn::init::SkipInitGuard structure_only;  // the checker reads the graph, not the values
    model = models::build_model(info.name);
  }
  cnnzoo::onnx::ExportOptions o;
  o.metadata = {{"model", info.name}};
  std::string bytes;
  ASSERT_NO_THROW(bytes = cnnzoo::onnx::export_bytes(
                      *model, {info.in_channels, info.input_size, info.input_size}, o));
  ::onnx::ModelProto proto;
  ASSERT_TRUE(proto.ParseFromString(bytes));
  std::string().swap(bytes);
  ASSERT_NO_THROW(::onnx::checker::check_model(proto));
  EXPECT_EQ(proto.producer_name(), "cnnzoo");
  ASSERT_EQ(proto.metadata_props_size(), 1);
  EXPECT_EQ(proto.metadata_props(0).value(), info.name);
  const auto& in = proto.graph().input(0).type().tensor_type().shape();
  ASSERT_EQ(in.dim_size(), 4);
  EXPECT_EQ(in.dim(0).dim_value(), 1);
  EXPECT_EQ(in.dim(1).dim_value(), info.in_channels);
  EXPECT_EQ(in.dim(2).dim_value(), info.input_size);
  const auto& out = proto.graph().output(0).type().tensor_type().shape();
  ASSERT_EQ(out.dim_size(), 2);
  EXPECT_EQ(out.dim(1).dim_value(), info.num_classes);
  EXPECT_TRUE(model->is_training()) << "export must leave the model's mode as it found it";
}

INSTANTIATE_TEST_SUITE_P(Registry, OnnxRegistry, ::testing::ValuesIn(registry_names()),
                         [](const auto& info) { return test_name(info.param); });

TEST(OnnxExport, DynamicBatchAndOpset17RunInOpenCV) {
  manual_seed(2);
  nn::ModulePtr model = models::build_model("resnet20");
  perturb_batchnorm(*model);
  cnnzoo::onnx::ExportOptions o;
  o.batch = 0;
  o.opset = 17;
  const std::string bytes = cnnzoo::onnx::export_bytes(*model, {3, 32, 32}, o);
  ::onnx::ModelProto proto;
  ASSERT_TRUE(proto.ParseFromString(bytes));
  ::onnx::checker::check_model(proto);
  EXPECT_EQ(proto.opset_import(0).version(), 17);
  EXPECT_EQ(proto.graph().input(0).type().tensor_type().shape().dim(0).dim_param(), "N");
  Tensor x = Tensor::empty({3, 3, 32, 32});
  Generator g(8);
  for (auto& v : x) v = static_cast<float>(g.uniform(-1.0, 1.0));
  model->eval();
  NoGradGuard no_grad;
  Tensor ours = model->forward(Var(x)).value();
  cv::dnn::Net net = cv::dnn::readNetFromONNX(bytes.data(), bytes.size());
  int dims[4] = {3, 3, 32, 32};
  net.setInput(cv::Mat(4, dims, CV_32F, x.data()));
  EXPECT_LE(relative_difference(ours, net.forward()), 1e-4);
}

namespace {
// A model whose forward uses an op with no ONNX form in the exporter (a sum over everything)
// after a convolution, so that the error can name the layer it follows.
class SumsEverything : public nn::Module {
 public:
  SumsEverything() { register_module("features", features); }
  Var forward(const Var& x) override { return sum(features->forward(x)); }

 private:
  std::shared_ptr<nn::Conv2d> features =
      std::make_shared<nn::Conv2d>(nn::Conv2dOptions(1, 2, 3).padding(1));
};
}  // namespace

TEST(OnnxExport, AnUnsupportedOpIsAnErrorNamingItAndLeavesNoFile) {
  SumsEverything m;
  const std::string path = ::testing::TempDir() + "/unsupported.onnx";
  std::remove(path.c_str());
  try {
    cnnzoo::onnx::export_file(m, {1, 4, 4}, path);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'sum'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("after layer 'features'"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(std::ifstream(path).good()) << "no output file on error";
  EXPECT_THROW(cnnzoo::onnx::export_bytes(m, {1, 4}, {}), Error);  // not C x H x W
  cnnzoo::onnx::ExportOptions bad;
  bad.opset = 12;
  nn::ModulePtr r = models::build_model("resnet20");
  EXPECT_THROW(cnnzoo::onnx::export_bytes(*r, {3, 32, 32}, bad), Error);
}

// `cnnzoo export` of a weights file: the file's metadata travels, OpenCV runs the result at
// another batch size to the library's logits, and bad requests are one-line errors that
// leave no file.
TEST(OnnxExport, CommandLineExportOfAWeightsFile) {
  TempDir tmp;
  ModelMetadata meta;
  meta.spec.name = "resnet20";
  meta.spec.num_classes = 3;
  meta.spec.in_channels = 3;
  meta.spec.input_size = 32;
  meta.classes = {"cat", "dog", "ship"};
  meta.mean = {0.5f, 0.4f, 0.3f};
  meta.std = {0.2f, 0.25f, 0.3f};
  meta.preprocessing = "resize";
  manual_seed(4);
  nn::ModulePtr model = models::build_model(meta.spec);
  perturb_batchnorm(*model);
  const std::string w = tmp / "w.safetensors", out = tmp / "m.onnx";
  save_weights(*model, meta, w);
  CliRun r = cli("export --weights " + w + " --output " + out + " --batch dynamic", tmp.path());
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("wrote " + out), std::string::npos) << r.out;

  std::ifstream f(out, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  ::onnx::ModelProto proto;
  ASSERT_TRUE(proto.ParseFromString(bytes));
  ::onnx::checker::check_model(proto);
  std::map<std::string, std::string> props;
  for (const auto& p : proto.metadata_props()) props[p.key()] = p.value();
  EXPECT_EQ(props, meta.to_file_metadata());

  Classifier c = Classifier::load(w);
  Tensor x = Tensor::empty({2, 3, 32, 32});
  Generator g(9);
  for (auto& v : x) v = static_cast<float>(g.uniform(-2.0, 2.0));
  Tensor ours = c.logits(x);
  cv::dnn::Net net = cv::dnn::readNetFromONNX(bytes.data(), bytes.size());
  int dims[4] = {2, 3, 32, 32};
  net.setInput(cv::Mat(4, dims, CV_32F, x.data()));
  EXPECT_LE(relative_difference(ours, net.forward()), 1e-4);

  const std::string other = tmp / "other.onnx";
  expect_one_line_error(
      cli("export --weights " + w + " --output " + other + " --batch 0", tmp.path()), "--batch");
  expect_one_line_error(
      cli("export --weights " + w + " --output " + other + " --batch many", tmp.path()), "--batch");
  expect_one_line_error(
      cli("export --weights " + w + " --output " + other + " --opset 12", tmp.path()), "--opset");
  expect_one_line_error(cli("export --weights " + w + " --output " + w, tmp.path()),
                        "is the --weights file");
  expect_one_line_error(
      cli("export --weights " + tmp / "missing.safetensors" + " --output " + other, tmp.path()),
      "missing.safetensors");
  expect_one_line_error(
      cli("export --weights " + w + " --model resnet32 --output " + other, tmp.path()), "resnet32");
  EXPECT_FALSE(std::filesystem::exists(other));
}
