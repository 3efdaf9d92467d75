// PReLU-net: He, Zhang, Ren & Sun, "Delving Deep into Rectifiers: Surpassing Human-Level
// Performance on ImageNet Classification" (2015, arXiv:1502.01852).
//
// Model A of the paper's Table 3 (19 weight layers), with a channel-wise PReLU (one learned
// slope per channel, or per unit for the fc layers, initialised to 0.25) after every layer
// but the classifier; no batch normalisation (the paper's point is that its initialisation
// trains such nets from scratch; option batch_norm adds it):
//   conv1    7x7/2 conv 96                              224 -> 112
//   pool1    3x3/3 max pool                             -> 37
//   conv2_x  2x2 conv 256, then 4 x 3x3 conv 256        -> 36 (the 2x2 takes 37 to 36)
//   pool2    2x2/2 max pool                             -> 18
//   conv3_x  5 x 3x3 conv 512
//   pool3    2x2/2 max pool                             -> 9
//   conv4_x  5 x 3x3 conv 512
//   spp      spatial pyramid max pooling, {6, 3, 2, 1} bins -> 50 x 512 = 25,600 features
//   fc1, fc2 4096 (PReLU, dropout 0.5), fc3 classes
// The table gives no padding; conv1 pads by 3 and the 3x3 convolutions by 1 here, which
// gives the grid above (the conv2_1 2x2 is unpadded). The pyramid's bins follow the
// adaptive-pooling rule (bin i of n covers [floor(i*H/n), ceil((i+1)*H/n)) ), which
// partitions any grid; the SPP-net formula (window ceil(H/n), stride floor(H/n)) would give
// 8 instead of 6 bins on the 9x9 grid. Each level is flattened channel-major and the levels
// concatenated from 6x6 to 1x1.
// Initialisation (Section 2.2, forward case, Eq. 10 with the PReLU slope): weights
// N(0, 2 / ((1 + a^2) n)) with a = 0.25 and n = k*k*c the fan-in, biases 0; the classifier,
// followed by no rectifier, gets N(0, 1 / n).
//
// prelu-net-cifar (32x32): the ImageNet stem shrinks 224 by 6 before conv2 (stride-2 conv,
// 3x3/3 pool). On CIFAR conv1 keeps stride 1 (spec section 2.6) and pool1 becomes 2x2/2, so
// the stages run at 16/8/4. Dropping pool1 as well (stages at 32/16/8) would cost about
// 6 GMACs per 32x32 image, four times this version, for a CPU-scale CIFAR run. conv2_1 keeps
// its 2x2 kernel, padded by one row and column at the bottom/right so 16 stays 16 (the odd
// grid it fixes on ImageNet does not arise). The SPP becomes a global average pool (its
// 25,600-feature fc1 would hold 105M weights for a 4x4 grid), so fc1 reads 512 features.
// Batch normalisation after each convolution (conv without bias -> BN -> PReLU) is on by
// default here (option batch_norm; off for prelu-net-a, as in the paper). Without it this
// 19-layer plain net needs a small learning rate (the seed trained it at 0.01 for 300
// epochs); under the zoo's common CIFAR recipe (lr 0.05, Nesterov, 1-epoch check) it stayed
// at chance (mean loss 2.30 over the first 48 steps, measured), while BN makes it trainable
// at that rate. batch_norm=false gives the paper's BN-free network.
//
// Parameters (weights, biases, PReLU slopes, BN gamma/beta): prelu-net-a 150,646,216 for
// 1000 classes (conv 24,891,520, fc 125,740,008, PReLU 14,688; the paper quotes no count);
// prelu-net-cifar 43,836,234 for 10 classes (43,829,738 with batch_norm=false: the 6,496
// conv biases give way to 2 x 6,496 BN parameters). Its width_scale option (not the paper's)
// multiplies every width, for the one-epoch training check.
#include "cnnzoo/models/prelu_net.hpp"

#include "cnnzoo/nn/init.hpp"
#include "cnnzoo/nn/layers.hpp"
#include "cnnzoo/ops/pool.hpp"
#include "cnnzoo/ops/shape.hpp"
#include "models/paper.hpp"
#include "models/papers.hpp"

namespace cnnzoo::models {

namespace {

using namespace cnnzoo::nn;

constexpr double kSlopeInit = 0.25;  // the paper's initial PReLU slope

// Spatial pyramid max pooling (He et al., SPP-net): for each level n, max over an n x n
// partition of the grid; [N, C, H, W] -> [N, C * sum(n^2)].
class SpatialPyramidPool : public Module {
 public:
  explicit SpatialPyramidPool(std::vector<int64_t> levels) : levels(std::move(levels)) {}
  Var forward(const Var& x) override {
    std::vector<Var> out;
    for (int64_t n : levels) out.push_back(flatten(level(x, n)));
    return concat(out);
  }
  std::string type_name() const override { return "SpatialPyramidPool"; }
  std::string extra_repr() const override {
    std::string s;
    for (int64_t n : levels) s += (s.empty() ? "" : ", ") + std::to_string(n);
    return "levels={" + s + "}";
  }
  std::vector<int64_t> levels;

 private:
  static int64_t bin_start(int64_t i, int64_t size, int64_t n) { return i * size / n; }
  static int64_t bin_end(int64_t i, int64_t size, int64_t n) {
    return ((i + 1) * size + n - 1) / n;
  }
  // n x n bins; one pooling op when the bins tile the grid evenly.
  static Var level(const Var& x, int64_t n) {
    const int64_t h = x.size(2), w = x.size(3);
    check(h >= n && w >= n, "SpatialPyramidPool: a " + std::to_string(h) + "x" + std::to_string(w) +
                                " grid cannot make " + std::to_string(n) + "x" + std::to_string(n) +
                                " bins");
    Pool2dOptions o;
    if (h % n == 0 && w % n == 0) {
      o.kernel_size = Size2(h / n, w / n);
      return max_pool2d(x, o);
    }
    std::vector<Var> rows;
    for (int64_t i = 0; i < n; ++i) {
      int64_t h0 = bin_start(i, h, n), h1 = bin_end(i, h, n);
      Var band = slice(x, 2, h0, h1);
      std::vector<Var> cells;
      for (int64_t j = 0; j < n; ++j) {
        int64_t w0 = bin_start(j, w, n), w1 = bin_end(j, w, n);
        o.kernel_size = Size2(h1 - h0, w1 - w0);
        cells.push_back(max_pool2d(slice(band, 3, w0, w1), o));
      }
      rows.push_back(concat(cells, 3));
    }
    return concat(rows, 2);
  }
};

class PReLUNet : public Module {
 public:
  PReLUNet(int64_t in_channels, int64_t num_classes, bool cifar, bool batch_norm, double drop_rate,
           double width_scale)
      : batch_norm_(batch_norm) {
    auto w = [width_scale](int64_t c) { return scale_width(c, width_scale); };
    const int64_t c96 = w(96), c256 = w(256), c512 = w(512), fc = w(4096);
    features = register_module("features", std::make_shared<Sequential>());
    conv_prelu("conv1", in_channels, c96, 7, cifar ? 1 : 2, 3);
    if (cifar)
      features->push_back("pool1", std::make_shared<MaxPool2d>(2, 2));
    else
      features->push_back("pool1", std::make_shared<MaxPool2d>(3, 3));
    conv_prelu("conv2_1", c96, c256, 2, 1, cifar ? Padding2d(0, 1, 0, 1) : Padding2d(0));
    for (int i = 2; i <= 5; ++i) conv_prelu("conv2_" + std::to_string(i), c256, c256, 3, 1, 1);
    features->push_back("pool2", std::make_shared<MaxPool2d>(2, 2));
    for (int i = 1; i <= 5; ++i)
      conv_prelu("conv3_" + std::to_string(i), i == 1 ? c256 : c512, c512, 3, 1, 1);
    features->push_back("pool3", std::make_shared<MaxPool2d>(2, 2));
    for (int i = 1; i <= 5; ++i) conv_prelu("conv4_" + std::to_string(i), c512, c512, 3, 1, 1);
    int64_t features_out = c512;
    if (cifar) {
      pool = register_module("pool", std::make_shared<AdaptiveAvgPool2d>(1));
    } else {
      pool = register_module(
          "spp", std::make_shared<SpatialPyramidPool>(std::vector<int64_t>{6, 3, 2, 1}));
      features_out = c512 * (36 + 9 + 4 + 1);
    }
    classifier = register_module("classifier", std::make_shared<Sequential>());
    classifier->push_back("fc1", std::make_shared<Linear>(features_out, fc));
    classifier->push_back("fc1_prelu", std::make_shared<PReLU>(fc, kSlopeInit));
    classifier->push_back("drop1", std::make_shared<Dropout>(drop_rate));
    classifier->push_back("fc2", std::make_shared<Linear>(fc, fc));
    classifier->push_back("fc2_prelu", std::make_shared<PReLU>(fc, kSlopeInit));
    classifier->push_back("drop2", std::make_shared<Dropout>(drop_rate));
    auto fc3 = std::make_shared<Linear>(fc, num_classes);
    classifier->push_back("fc3", fc3);
    init::kaiming_normal<Conv2d>(*this, init::FanMode::FanIn, "leaky_relu", init::Bias::Zero,
                                 kSlopeInit);
    init::kaiming_normal<Linear>(*this, init::FanMode::FanIn, "leaky_relu", init::Bias::Zero,
                                 kSlopeInit);
    init::kaiming_normal(fc3->weight.value(), init::FanMode::FanIn, 0.0, "linear");
  }
  Var forward(const Var& x) override {
    return classifier->forward(flatten(pool->forward(features->forward(x))));
  }
  std::string type_name() const override { return "PReLUNet"; }

  std::shared_ptr<Sequential> features, classifier;
  ModulePtr pool;

 private:
  // conv (with bias) -> channel-wise PReLU, or conv (no bias) -> BN -> PReLU.
  void conv_prelu(const std::string& name, int64_t in, int64_t out, int64_t kernel, int64_t stride,
                  Padding2d padding) {
    features->push_back(
        name,
        std::make_shared<Conv2d>(
            Conv2dOptions(in, out, kernel).stride(stride).padding(padding).bias(!batch_norm_)));
    if (batch_norm_) features->push_back(name + "_bn", std::make_shared<BatchNorm2d>(out));
    features->push_back(name + "_prelu", std::make_shared<PReLU>(out, kSlopeInit));
  }
  bool batch_norm_;
};

}  // namespace

nn::ModulePtr build_prelu_net(const ModelSpec& spec, const PReLUNetConfig& c) {
  return std::make_shared<PReLUNet>(spec.in_channels, spec.num_classes, c.cifar_stem, c.batch_norm,
                                    c.drop_rate, c.width_scale);
}

std::vector<ModelInfo> prelu_net_models() {
  using C = PReLUNetConfig;
  const Paper paper{
      "Delving Deep into Rectifiers: Surpassing Human-Level Performance on ImageNet "
      "Classification",
      "He et al.", 2015, "1502.01852", "prelu_net"};
  auto options = Options<C>()
                     .real("drop_rate", &C::drop_rate, 0.0, 0.99, "dropout in the classifier")
                     .flag("batch_norm", &C::batch_norm, "BN after every conv");
  const auto imagenet_options = options;
  options.real("width_scale", &C::width_scale, 0.01, 16.0, "every width (not the paper's)");
  return {
      model_row(paper, "prelu-net-a", imagenet_input(), "", imagenet_options, C{}, build_prelu_net),
      model_row(paper, "prelu-net-cifar", cifar_input(), "", options, C{true, true, 0.5, 1.0},
                build_prelu_net)};
}

}  // namespace cnnzoo::models
