// GoogLeNet (Inception v1) as torchvision builds it: Szegedy et al., "Going Deeper with
// Convolutions" (2014, arXiv:1409.4842), with batch normalisation in every convolution.
//
// The module table (Table 1 of the paper: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool
// proj) and the two auxiliary classifiers on 4a and 4d are the paper's. Where torchvision's
// network differs from the paper, this file follows torchvision so its weights load key for
// key and give the same logits:
//  * every convolution is conv (no bias) -> BatchNorm (eps 0.001) -> ReLU, and there is no
//    local response normalisation (the BN-era reimplementation);
//  * the "5x5" branch uses a 3x3 convolution (torchvision's long-standing deviation, kept
//    because the pretrained weights have 3x3 kernels there);
//  * max pools use ceil mode as in Caffe, the pool after 4e is 2x2/2, dropout before the
//    classifier is 0.2 (paper 0.4);
//  * the auxiliary heads pool adaptively to 4x4 (paper: 5x5/3 average pool, which gives 4x4
//    at 224x224), then 1x1 conv 128 -> fc 1024 -> ReLU -> dropout 0.7 -> fc classes.
// The auxiliary heads run only in training; their losses are added with weight 0.3 (paper).
// Parameters: 13,004,888 with the auxiliary heads, 6,624,904 without (the paper quotes
// neither; torchvision's numbers).
//
// googlenet-cifar runs the same nine Inception modules on 32x32 images. The ImageNet stem
// (7x7/2 conv, 3x3/2 max pool, 1x1, 3x3, 3x3/2 max pool) shrinks 224 to 28 before 3a; a
// 32x32 image cannot lose a factor of 8 before the first module, so the stem keeps its three
// convolutions but conv1 becomes 3x3 stride 1 and both stem pools go: 3a/3b run at 32x32,
// 4a-4e at 16x16 and 5a/5b at 8x8 after 3x3/2 ceil-mode max pools (the paper's pool, also
// after 4e where torchvision has 2x2). Free of torchvision's weights, the module's 5x5 branch
// is a real 5x5 convolution again and the dropout before the classifier is the paper's 0.4.
// BN stays in every convolution; He (fan-out) initialisation. The auxiliary classifiers are
// off by default (aux_logits=true builds them on 4a and 4d, 16x16 maps pooled to 4x4, loss
// weight 0.3): they were the paper's remedy for vanishing gradients in a 22-layer network
// without BN, and would add 4.4M parameters to a 6M one.
// Parameters (10 classes): googlenet-cifar 5,983,402 (10,333,886 with aux_logits).
// width_scale (not the paper's) multiplies every width of the stem and the modules, for the
// one-epoch training check (bench/train_one_epoch.sh).
#include "cnnzoo/models/googlenet.hpp"

#include "cnnzoo/nn/init.hpp"
#include "cnnzoo/nn/layers.hpp"
#include "cnnzoo/ops/activation.hpp"
#include "cnnzoo/ops/pool.hpp"
#include "cnnzoo/ops/shape.hpp"

namespace cnnzoo::models::imagenet {

namespace {

using namespace cnnzoo::nn;

// conv -> BN -> ReLU, the unit every GoogLeNet convolution is built from.
class BasicConv2d : public Module {
 public:
  BasicConv2d(int64_t in, int64_t out, int64_t kernel, int64_t stride = 1, int64_t padding = 0) {
    Conv2dParams o;
    o.stride = stride;
    o.padding = padding;
    o.bias = false;
    conv = register_module("conv", std::make_shared<Conv2d>(in, out, kernel, o));
    BatchNormOptions b = BatchNormOptions().eps(1e-3);
    bn = register_module("bn", std::make_shared<BatchNorm2d>(out, b));
  }
  Var forward(const Var& x) override { return nn::conv_bn_relu(*conv, *bn, x); }
  std::string type_name() const override { return "BasicConv2d"; }
  std::shared_ptr<Conv2d> conv;
  std::shared_ptr<BatchNorm2d> bn;
};

std::shared_ptr<MaxPool2d> ceil_pool(int64_t kernel, int64_t stride, int64_t padding = 0) {
  return std::make_shared<MaxPool2d>(kernel, stride, padding, /*ceil_mode=*/true);
}

// One Inception module: four parallel branches concatenated along channels.
class Inception : public Module {
 public:
  // kernel5x5: the "5x5" branch's kernel, 5 (paper) or 3 (torchvision, see the top).
  Inception(int64_t in, int64_t ch1x1, int64_t ch3x3red, int64_t ch3x3, int64_t ch5x5red,
            int64_t ch5x5, int64_t pool_proj, int64_t kernel5x5 = 3) {
    branch1 = register_module("branch1", std::make_shared<BasicConv2d>(in, ch1x1, 1));
    branch2 = register_module("branch2", std::make_shared<Sequential>());
    branch2->push_back(std::make_shared<BasicConv2d>(in, ch3x3red, 1));
    branch2->push_back(std::make_shared<BasicConv2d>(ch3x3red, ch3x3, 3, 1, 1));
    branch3 = register_module("branch3", std::make_shared<Sequential>());
    branch3->push_back(std::make_shared<BasicConv2d>(in, ch5x5red, 1));
    branch3->push_back(std::make_shared<BasicConv2d>(ch5x5red, ch5x5, kernel5x5, 1, kernel5x5 / 2));
    branch4 = register_module("branch4", std::make_shared<Sequential>());
    branch4->push_back(ceil_pool(3, 1, 1));
    branch4->push_back(std::make_shared<BasicConv2d>(in, pool_proj, 1));
  }
  Var forward(const Var& x) override {
    return concat(std::vector<Var>{branch1->forward(x), branch2->forward(x), branch3->forward(x),
                                   branch4->forward(x)});
  }
  std::string type_name() const override { return "Inception"; }
  std::shared_ptr<BasicConv2d> branch1;
  std::shared_ptr<Sequential> branch2, branch3, branch4;
};

// Auxiliary classifier attached to an intermediate module (training only).
class InceptionAux : public Module {
 public:
  InceptionAux(int64_t in, int64_t num_classes, double drop_rate) {
    conv = register_module("conv", std::make_shared<BasicConv2d>(in, 128, 1));
    fc1 = register_module("fc1", std::make_shared<Linear>(128 * 4 * 4, 1024));
    fc2 = register_module("fc2", std::make_shared<Linear>(1024, num_classes));
    dropout = register_module("dropout", std::make_shared<Dropout>(drop_rate));
  }
  Var forward(const Var& x) override {
    Var h = flatten(conv->forward(adaptive_avg_pool2d(x, Size2(4))));
    return fc2->forward(dropout->forward(relu(fc1->forward(h))));
  }
  std::string type_name() const override { return "InceptionAux"; }
  std::shared_ptr<BasicConv2d> conv;
  std::shared_ptr<Linear> fc1, fc2;
  std::shared_ptr<Dropout> dropout;
};

class GoogLeNet : public Module {
 public:
  GoogLeNet(int64_t in_channels, int64_t num_classes, bool aux_logits, double drop_rate,
            double aux_drop_rate) {
    // Stem (paper Table 1, without LRN).
    conv1 = register_module("conv1", std::make_shared<BasicConv2d>(in_channels, 64, 7, 2, 3));
    maxpool1 = register_module("maxpool1", ceil_pool(3, 2));
    conv2 = register_module("conv2", std::make_shared<BasicConv2d>(64, 64, 1));
    conv3 = register_module("conv3", std::make_shared<BasicConv2d>(64, 192, 3, 1, 1));
    maxpool2 = register_module("maxpool2", ceil_pool(3, 2));
    // Inception modules: in, #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj.
    auto inception = [this](const char* name, int64_t in, int64_t a, int64_t b, int64_t c,
                            int64_t d, int64_t e, int64_t f) {
      return register_module(name, std::make_shared<Inception>(in, a, b, c, d, e, f));
    };
    inception3a = inception("inception3a", 192, 64, 96, 128, 16, 32, 32);
    inception3b = inception("inception3b", 256, 128, 128, 192, 32, 96, 64);
    maxpool3 = register_module("maxpool3", ceil_pool(3, 2));
    inception4a = inception("inception4a", 480, 192, 96, 208, 16, 48, 64);
    inception4b = inception("inception4b", 512, 160, 112, 224, 24, 64, 64);
    inception4c = inception("inception4c", 512, 128, 128, 256, 24, 64, 64);
    inception4d = inception("inception4d", 512, 112, 144, 288, 32, 64, 64);
    inception4e = inception("inception4e", 528, 256, 160, 320, 32, 128, 128);
    maxpool4 = register_module("maxpool4", ceil_pool(2, 2));
    inception5a = inception("inception5a", 832, 256, 160, 320, 32, 128, 128);
    inception5b = inception("inception5b", 832, 384, 192, 384, 48, 128, 128);
    if (aux_logits) {
      aux1 =
          register_module("aux1", std::make_shared<InceptionAux>(512, num_classes, aux_drop_rate));
      aux2 =
          register_module("aux2", std::make_shared<InceptionAux>(528, num_classes, aux_drop_rate));
    }
    avgpool = register_module("avgpool", std::make_shared<AdaptiveAvgPool2d>(1));
    dropout = register_module("dropout", std::make_shared<Dropout>(drop_rate));
    fc = register_module("fc", std::make_shared<Linear>(1024, num_classes));
    // torchvision's initialisation: N(0, 0.01) truncated at +-2 (never reached at this
    // standard deviation) for every convolution and linear layer; the biases keep PyTorch's
    // default.
    apply([](Module& m) {
      if (auto* conv = dynamic_cast<Conv2d*>(&m)) init::normal(conv->weight.value(), 0.0, 0.01);
      if (auto* lin = dynamic_cast<Linear*>(&m)) init::normal(lin->weight.value(), 0.0, 0.01);
    });
  }

  Var forward(const Var& x) override {
    bool with_aux = is_training() && aux1;
    if (with_aux) aux_.clear();
    Var h = maxpool1->forward(conv1->forward(x));
    h = maxpool2->forward(conv3->forward(conv2->forward(h)));
    h = maxpool3->forward(inception3b->forward(inception3a->forward(h)));
    h = inception4a->forward(h);
    if (with_aux) aux_.push_back(aux1->forward(h));
    h = inception4d->forward(inception4c->forward(inception4b->forward(h)));
    if (with_aux) aux_.push_back(aux2->forward(h));
    h = maxpool4->forward(inception4e->forward(h));
    h = inception5b->forward(inception5a->forward(h));
    return fc->forward(dropout->forward(flatten(avgpool->forward(h))));
  }

  std::vector<Var> take_auxiliary_logits() override {
    std::vector<Var> out;
    out.swap(aux_);
    return out;
  }
  std::string type_name() const override { return "GoogLeNet"; }

  std::shared_ptr<BasicConv2d> conv1, conv2, conv3;
  std::shared_ptr<MaxPool2d> maxpool1, maxpool2, maxpool3, maxpool4;
  std::shared_ptr<Inception> inception3a, inception3b, inception4a, inception4b, inception4c,
      inception4d, inception4e, inception5a, inception5b;
  std::shared_ptr<InceptionAux> aux1, aux2;
  std::shared_ptr<AdaptiveAvgPool2d> avgpool;
  std::shared_ptr<Dropout> dropout;
  std::shared_ptr<Linear> fc;

 private:
  // Set only by a training-mode forward (see Module::take_auxiliary_logits).
  std::vector<Var> aux_;
};

// The nine modules on 32x32 inputs (see the top of the file).
class GoogLeNetCifar : public Module {
 public:
  explicit GoogLeNetCifar(const ModelSpec& spec) {
    auto w = [&spec](int64_t c) { return spec.scale_width(c); };
    int64_t num_classes = spec.num_classes;
    conv1 =
        register_module("conv1", std::make_shared<BasicConv2d>(spec.in_channels, w(64), 3, 1, 1));
    conv2 = register_module("conv2", std::make_shared<BasicConv2d>(w(64), w(64), 1));
    conv3 = register_module("conv3", std::make_shared<BasicConv2d>(w(64), w(192), 3, 1, 1));
    int64_t c = w(192);
    auto inception = [this, &w, &c](const char* name, int64_t a, int64_t b, int64_t d3, int64_t d,
                                    int64_t d5, int64_t f) {
      auto m = register_module(
          name, std::make_shared<Inception>(c, w(a), w(b), w(d3), w(d), w(d5), w(f), 5));
      c = w(a) + w(d3) + w(d5) + w(f);
      return m;
    };
    inception3a = inception("inception3a", 64, 96, 128, 16, 32, 32);  // 32x32
    inception3b = inception("inception3b", 128, 128, 192, 32, 96, 64);
    maxpool3 = register_module("maxpool3", ceil_pool(3, 2));  // 32 -> 16
    inception4a = inception("inception4a", 192, 96, 208, 16, 48, 64);
    int64_t aux1_in = c;
    inception4b = inception("inception4b", 160, 112, 224, 24, 64, 64);
    inception4c = inception("inception4c", 128, 128, 256, 24, 64, 64);
    inception4d = inception("inception4d", 112, 144, 288, 32, 64, 64);
    int64_t aux2_in = c;
    inception4e = inception("inception4e", 256, 160, 320, 32, 128, 128);
    maxpool4 = register_module("maxpool4", ceil_pool(3, 2));  // 16 -> 8
    inception5a = inception("inception5a", 256, 160, 320, 32, 128, 128);
    inception5b = inception("inception5b", 384, 192, 384, 48, 128, 128);
    double aux_drop_rate = spec.get_double("aux_drop_rate", 0.7);
    if (spec.get_bool("aux_logits", false)) {
      aux1 = register_module("aux1",
                             std::make_shared<InceptionAux>(aux1_in, num_classes, aux_drop_rate));
      aux2 = register_module("aux2",
                             std::make_shared<InceptionAux>(aux2_in, num_classes, aux_drop_rate));
    }
    avgpool = register_module("avgpool", std::make_shared<AdaptiveAvgPool2d>(1));
    dropout =
        register_module("dropout", std::make_shared<Dropout>(spec.get_double("drop_rate", 0.4)));
    fc = register_module("fc", std::make_shared<Linear>(c, num_classes));
    apply([](Module& m) {
      if (auto* conv = dynamic_cast<Conv2d*>(&m))
        init::kaiming_normal(conv->weight.value(), init::FanMode::FanOut);
    });
  }

  Var forward(const Var& x) override {
    bool with_aux = is_training() && aux1;
    if (with_aux) aux_.clear();
    Var h = conv3->forward(conv2->forward(conv1->forward(x)));
    h = maxpool3->forward(inception3b->forward(inception3a->forward(h)));
    h = inception4a->forward(h);
    if (with_aux) aux_.push_back(aux1->forward(h));
    h = inception4d->forward(inception4c->forward(inception4b->forward(h)));
    if (with_aux) aux_.push_back(aux2->forward(h));
    h = maxpool4->forward(inception4e->forward(h));
    h = inception5b->forward(inception5a->forward(h));
    return fc->forward(dropout->forward(flatten(avgpool->forward(h))));
  }

  std::vector<Var> take_auxiliary_logits() override {
    std::vector<Var> out;
    out.swap(aux_);
    return out;
  }
  std::string type_name() const override { return "GoogLeNet"; }

  std::shared_ptr<BasicConv2d> conv1, conv2, conv3;
  std::shared_ptr<MaxPool2d> maxpool3, maxpool4;
  std::shared_ptr<Inception> inception3a, inception3b, inception4a, inception4b, inception4c,
      inception4d, inception4e, inception5a, inception5b;
  std::shared_ptr<InceptionAux> aux1, aux2;
  std::shared_ptr<AdaptiveAvgPool2d> avgpool;
  std::shared_ptr<Dropout> dropout;
  std::shared_ptr<Linear> fc;

 private:
  std::vector<Var> aux_;  // as GoogLeNet::aux_
};

}  // namespace

nn::ModulePtr googlenet(const ModelSpec& spec) {
  return std::make_shared<GoogLeNet>(
      spec.in_channels, spec.num_classes, spec.get_bool("aux_logits", true),
      spec.get_double("drop_rate", 0.2), spec.get_double("aux_drop_rate", 0.7));
}

}  // namespace cnnzoo::models::imagenet

namespace cnnzoo::models {

nn::ModulePtr googlenet_cifar(const ModelSpec& spec) {
  return std::make_shared<imagenet::GoogLeNetCifar>(spec);
}

}  // namespace cnnzoo::models
