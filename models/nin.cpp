// Network in Network: Lin, Chen & Yan, "Network In Network" (2013, arXiv:1312.4400), the
// paper's CIFAR-10 network (the layout of the authors' Caffe model), and `nin-bn`.
//
// Three mlpconv layers, each a spatial convolution followed by a two-layer 1x1 "cascaded
// cross channel parametric pooling" (cccp) micro network:
//   mlpconv1: 5x5 192, 1x1 160, 1x1 96     -> 3x3/2 max pool (32 -> 16), dropout 0.5
//   mlpconv2: 5x5 192, 1x1 192, 1x1 192    -> 3x3/2 avg pool (16 -> 8),  dropout 0.5
//   mlpconv3: 3x3 192, 1x1 192, 1x1 classes -> global average pooling = the logits.
// The pools use ceil mode (Caffe's rounding), so the maps are 16x16 and 8x8. The last 1x1
// layer produces one confidence map per class; its output is averaged straight into the
// logits, with no ReLU (the Caffe model's ReLU there clips the logits at zero) and, in
// nin-bn, no BatchNorm either. Dropout follows the first two mlpconv layers, as in the paper.
// nin-bn (no paper number; a later common variant) puts BatchNorm between every other
// convolution and its ReLU (those convolutions drop their bias), post-activation, with no
// activation on the raw image. Initialisation: He normal (fan-in) with zero biases, and
// N(0, 0.01) for the class-map layer, where the paper's Caffe model used hand-tuned Gaussians.
// Parameters (10 classes): nin 966,986 (the paper's "0.97M" is this count), nin-bn 968,394.
#include "cnnzoo/models/nin.hpp"

#include "cnnzoo/nn/init.hpp"
#include "cnnzoo/nn/layers.hpp"
#include "cnnzoo/ops/activation.hpp"
#include "cnnzoo/ops/pool.hpp"
#include "cnnzoo/ops/shape.hpp"
#include "models/paper.hpp"
#include "models/papers.hpp"

namespace cnnzoo::models {

namespace {

using namespace cnnzoo::nn;

// A kxk convolution and two 1x1 cccp layers, each followed by [BN ->] ReLU; with
// class_maps the last 1x1 layer is left linear.
class MlpConv : public Module {
 public:
  MlpConv(int64_t in, int64_t width, int64_t cccp1_width, int64_t cccp2_width, int64_t kernel,
          bool batch_norm, bool class_maps) {
    auto layer = [&](const std::string& name, int64_t c_in, int64_t c_out, int64_t k, bool linear) {
      bool bn = batch_norm && !linear;
      convs_.push_back(register_module(
          name, std::make_shared<Conv2d>(Conv2dOptions(c_in, c_out, k).padding(k / 2).bias(!bn))));
      bns_.push_back(bn ? register_module(name + "_bn", std::make_shared<BatchNorm2d>(c_out))
                        : nullptr);
      relu_.push_back(!linear);
    };
    layer("conv", in, width, kernel, false);
    layer("cccp1", width, cccp1_width, 1, false);
    layer("cccp2", cccp1_width, cccp2_width, 1, class_maps);
  }
  Var forward(const Var& x) override {
    Var h = x;
    for (size_t i = 0; i < convs_.size(); ++i) {
      h = convs_[i]->forward(h);
      if (bns_[i]) h = bns_[i]->forward(h);
      if (relu_[i]) h = relu(h);
    }
    return h;
  }
  std::string type_name() const override { return "MlpConv"; }
  Conv2d& last_conv() const { return *convs_.back(); }

 private:
  std::vector<std::shared_ptr<Conv2d>> convs_;
  std::vector<std::shared_ptr<BatchNorm2d>> bns_;
  std::vector<bool> relu_;
};

class NIN : public Module {
 public:
  NIN(int64_t in_channels, int64_t num_classes, bool batch_norm, double drop_rate) {
    mlpconv1 = register_module(
        "mlpconv1", std::make_shared<MlpConv>(in_channels, 192, 160, 96, 5, batch_norm, false));
    pool1 = register_module("pool1", std::make_shared<MaxPool2d>(3, 2, 0, /*ceil_mode=*/true));
    drop1 = register_module("drop1", std::make_shared<Dropout>(drop_rate));
    mlpconv2 = register_module("mlpconv2",
                               std::make_shared<MlpConv>(96, 192, 192, 192, 5, batch_norm, false));
    pool2 = register_module("pool2", std::make_shared<AvgPool2d>(3, 2, 0, /*ceil_mode=*/true));
    drop2 = register_module("drop2", std::make_shared<Dropout>(drop_rate));
    mlpconv3 = register_module(
        "mlpconv3", std::make_shared<MlpConv>(192, 192, 192, num_classes, 3, batch_norm, true));
    init::kaiming_normal<Conv2d>(*this, init::FanMode::FanIn);
    // The class maps start small, so the first steps see a loss near log(classes) rather
    // than the large, noisy gradients of He-scaled logits.
    init::normal(mlpconv3->last_conv().weight.value(), 0.0, 0.01);
  }
  Var forward(const Var& x) override {
    Var h = drop1->forward(pool1->forward(mlpconv1->forward(x)));
    h = drop2->forward(pool2->forward(mlpconv2->forward(h)));
    return flatten(global_avg_pool2d(mlpconv3->forward(h)));
  }
  std::string type_name() const override { return "NIN"; }

  std::shared_ptr<MlpConv> mlpconv1, mlpconv2, mlpconv3;
  std::shared_ptr<MaxPool2d> pool1;
  std::shared_ptr<AvgPool2d> pool2;
  std::shared_ptr<Dropout> drop1, drop2;
};

}  // namespace

nn::ModulePtr build_nin(const ModelSpec& spec, const NINConfig& config) {
  check(spec.name == "nin" || spec.name == "nin-bn", "nin: unknown variant '" + spec.name + "'");
  return std::make_shared<NIN>(spec.in_channels, spec.num_classes, spec.name == "nin-bn",
                               config.drop_rate);
}

std::vector<ModelInfo> nin_models() {
  using C = NINConfig;
  const Paper paper{"Network In Network", "Lin et al.", 2013, "1312.4400", "nin"};
  const auto options = Options<C>().real("drop_rate", &C::drop_rate, 0.0, 0.99,
                                         "dropout after the first two mlpconv blocks");
  return {model_row(paper, "nin", cifar_input(), "8.81", options, C{}, build_nin),
          model_row(paper, "nin-bn", cifar_input(), "", options, C{}, build_nin)};
}

}  // namespace cnnzoo::models
