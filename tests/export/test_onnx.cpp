// ONNX export checked by real consumers: the ONNX checker (libonnx) accepts the files, and
// OpenCV's DNN module runs them to cnnzoo's own outputs.
#include <gtest/gtest.h>
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include <cmath>
#include <opencv2/dnn.hpp>

#include "cnnzoo/models.hpp"
#include "cnnzoo/nn/layers.hpp"
#include "cnnzoo/onnx.hpp"
#include "cnnzoo/random.hpp"

using namespace cnnzoo;

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

INSTANTIATE_TEST_SUITE_P(Models, OnnxOpenCV,
                         ::testing::Values(Case{"resnet20", {}}, Case{"preact-resnet110", {}}),
                         [](const auto& info) {
                           std::string n = info.param.name;
                           for (char& ch : n)
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return n;
                         });
