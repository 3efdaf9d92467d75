// Inception v3 (Szegedy et al., "Rethinking the Inception Architecture for Computer Vision",
// 2015) as torchvision builds it: its modules (torchvision's names, the TensorFlow reference's
// widths), the auxiliary classifier, and one network class for the 299x299 and 32x32 stems.
#pragma once
#include <functional>
#include <memory>

#include "cnnzoo/models.hpp"
#include "cnnzoo/nn/layers.hpp"

namespace cnnzoo::models {

// A module of Inception v3: registers its ConvBnAct units (BN eps 1e-3) and knows its output
// width. `Width` maps a reference width to the one built (the CIFAR form's width_scale).
class InceptionV3Module : public nn::Module {
 public:
  using Width = std::function<int64_t(int64_t)>;
  int64_t out_channels = 0;

 protected:
  std::shared_ptr<nn::ConvBnAct> conv(const std::string& name, nn::ConvBnActOptions options);
};
using UnitPtr = std::shared_ptr<nn::ConvBnAct>;

// 35x35 module (Fig. 5 with a real 5x5 branch): 1x1 64 | 1x1 48 -> 5x5 64 | 1x1 64 -> 3x3 96
// -> 3x3 96 | 3x3 average pool -> 1x1 pool_features.
class InceptionA : public InceptionV3Module {
 public:
  InceptionA(int64_t in, int64_t pool_features, const Width& w);
  Var forward(const Var& x) override;
  std::string type_name() const override { return "InceptionA"; }
  UnitPtr branch1x1, branch5x5_1, branch5x5_2, branch3x3dbl_1, branch3x3dbl_2, branch3x3dbl_3,
      branch_pool;
};

// Grid reduction 35 -> 17 (Fig. 10): 3x3/2 384 | 1x1 64 -> 3x3 96 -> 3x3/2 96 | 3x3/2 max pool.
class InceptionB : public InceptionV3Module {
 public:
  InceptionB(int64_t in, const Width& w);
  Var forward(const Var& x) override;
  std::string type_name() const override { return "InceptionB"; }
  UnitPtr branch3x3, branch3x3dbl_1, branch3x3dbl_2, branch3x3dbl_3;
};

// 17x17 module with 7x7 convs factorised into 1x7 and 7x1 (Fig. 6): four branches of 192.
class InceptionC : public InceptionV3Module {
 public:
  InceptionC(int64_t in, int64_t channels_7x7, const Width& w);
  Var forward(const Var& x) override;
  std::string type_name() const override { return "InceptionC"; }
  UnitPtr branch1x1, branch7x7_1, branch7x7_2, branch7x7_3, branch7x7dbl_1, branch7x7dbl_2,
      branch7x7dbl_3, branch7x7dbl_4, branch7x7dbl_5, branch_pool;
};

// Grid reduction 17 -> 8: 1x1 -> 3x3/2 320 | 1x1 -> 1x7 -> 7x1 -> 3x3/2 192 | max pool.
class InceptionD : public InceptionV3Module {
 public:
  InceptionD(int64_t in, const Width& w);
  Var forward(const Var& x) override;
  std::string type_name() const override { return "InceptionD"; }
  UnitPtr branch3x3_1, branch3x3_2, branch7x7x3_1, branch7x7x3_2, branch7x7x3_3, branch7x7x3_4;
};

// 8x8 module with expanded filter banks (Fig. 7): 320 + 2x384 + 2x384 + 192 channels.
class InceptionE : public InceptionV3Module {
 public:
  InceptionE(int64_t in, const Width& w);
  Var forward(const Var& x) override;
  std::string type_name() const override { return "InceptionE"; }
  UnitPtr branch1x1, branch3x3_1, branch3x3_2a, branch3x3_2b, branch3x3dbl_1, branch3x3dbl_2,
      branch3x3dbl_3a, branch3x3dbl_3b, branch_pool;
};

// Auxiliary classifier on the 17x17 grid: 5x5/3 average pool -> 1x1 128 -> 5x5 768 -> fc.
class InceptionV3Aux : public InceptionV3Module {
 public:
  InceptionV3Aux(int64_t in, int64_t num_classes);
  Var forward(const Var& x) override;
  std::string type_name() const override { return "InceptionAux"; }
  UnitPtr conv0, conv1;
  std::shared_ptr<nn::Linear> fc;
};

struct InceptionV3Config {
  bool cifar_stem = false;  // true: the stem's convs at stride 1, 'same', without its pools
  bool aux_logits = true;
  double drop_rate = 0.5;
  double width_scale = 1.0;
};

class Inception3 : public InceptionV3Module {
 public:
  Inception3(int64_t in_channels, int64_t num_classes, const InceptionV3Config& config);
  Var forward(const Var& x) override;
  std::vector<Var> take_auxiliary_logits() override;
  std::string type_name() const override { return "Inception3"; }
  UnitPtr Conv2d_1a_3x3, Conv2d_2a_3x3, Conv2d_2b_3x3, Conv2d_3b_1x1, Conv2d_4a_3x3;
  std::shared_ptr<nn::MaxPool2d> maxpool1, maxpool2;  // the 299x299 stem only
  std::shared_ptr<InceptionA> Mixed_5b, Mixed_5c, Mixed_5d;
  std::shared_ptr<InceptionB> Mixed_6a;
  std::shared_ptr<InceptionC> Mixed_6b, Mixed_6c, Mixed_6d, Mixed_6e;
  std::shared_ptr<InceptionV3Aux> AuxLogits;
  std::shared_ptr<InceptionD> Mixed_7a;
  std::shared_ptr<InceptionE> Mixed_7b, Mixed_7c;
  std::shared_ptr<nn::AdaptiveAvgPool2d> avgpool;
  std::shared_ptr<nn::Dropout> dropout;
  std::shared_ptr<nn::Linear> fc;

 private:
  std::vector<Var> aux_;  // set only by a training-mode forward
};

nn::ModulePtr build_inception_v3(const ModelSpec& spec, const InceptionV3Config& config);

}  // namespace cnnzoo::models
