// GoogLeNet (Inception v1): Szegedy et al., "Going Deeper with Convolutions" (2014), with batch
// normalisation in every convolution as torchvision builds it; its Inception module and
// auxiliary classifier, and one network class for the ImageNet and the CIFAR stem.
#pragma once
#include <memory>

#include "cnnzoo/models.hpp"
#include "cnnzoo/nn/layers.hpp"

namespace cnnzoo::models {

// One Inception module: four parallel branches concatenated along channels in this order:
// 1x1 conv | 1x1 reduce -> 3x3 | 1x1 reduce -> kxk (the paper's 5x5; torchvision's 3x3) |
// 3x3/1 max pool -> 1x1 pool projection. Every conv is ConvBnAct (BN eps 1e-3).
class Inception : public nn::Module {
 public:
  Inception(int64_t in, int64_t ch1x1, int64_t ch3x3red, int64_t ch3x3, int64_t ch5x5red,
            int64_t ch5x5, int64_t pool_proj, int64_t kernel5x5 = 3);
  Var forward(const Var& x) override;
  std::string type_name() const override { return "Inception"; }
  int64_t out_channels() const { return out_channels_; }
  std::shared_ptr<nn::ConvBnAct> branch1;
  std::shared_ptr<nn::Sequential> branch2, branch3, branch4;

 private:
  int64_t out_channels_;
};

// The auxiliary classifier on an intermediate module (training only): adaptive average pool to
// 4x4, 1x1 conv 128, fc 1024, ReLU, dropout, fc classes.
class InceptionAux : public nn::Module {
 public:
  InceptionAux(int64_t in, int64_t num_classes, double drop_rate);
  Var forward(const Var& x) override;
  std::string type_name() const override { return "InceptionAux"; }
  std::shared_ptr<nn::ConvBnAct> conv;
  std::shared_ptr<nn::Linear> fc1, fc2;
  std::shared_ptr<nn::Dropout> dropout;
};

struct GoogLeNetConfig {
  // false: the ImageNet stem (7x7/2 conv, pools; torchvision's 3x3 "5x5" branch, 2x2 pool
  // after 4e, N(0, 0.01) init); true: the 32x32 stem (3x3/1 conv1, no stem pools; real 5x5
  // branch, 3x3/2 pool after 4e, He fan-out init).
  bool cifar_stem = false;
  bool aux_logits = true;
  double drop_rate = 0.2;
  double aux_drop_rate = 0.7;
  double width_scale = 1.0;  // every width of the stem and modules (CIFAR form only)
};

// The network: stem, 3a-3b, pool, 4a-4e (auxiliary heads on 4a and 4d), pool, 5a-5b, global
// average pool, dropout, fc. In training, take_auxiliary_logits() returns the heads' logits.
class GoogLeNet : public nn::Module {
 public:
  GoogLeNet(int64_t in_channels, int64_t num_classes, const GoogLeNetConfig& config);
  Var forward(const Var& x) override;
  std::vector<Var> take_auxiliary_logits() override;
  std::string type_name() const override { return "GoogLeNet"; }

  std::shared_ptr<nn::ConvBnAct> conv1, conv2, conv3;
  std::shared_ptr<nn::MaxPool2d> maxpool1, maxpool2, maxpool3, maxpool4;  // 1, 2: ImageNet stem
  std::shared_ptr<Inception> inception3a, inception3b, inception4a, inception4b, inception4c,
      inception4d, inception4e, inception5a, inception5b;
  std::shared_ptr<InceptionAux> aux1, aux2;
  std::shared_ptr<nn::AdaptiveAvgPool2d> avgpool;
  std::shared_ptr<nn::Dropout> dropout;
  std::shared_ptr<nn::Linear> fc;

 private:
  std::vector<Var> aux_;  // set only by a training-mode forward
};

nn::ModulePtr build_googlenet(const ModelSpec& spec, const GoogLeNetConfig& config);

}  // namespace cnnzoo::models
