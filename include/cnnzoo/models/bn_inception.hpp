// BN-Inception ("Inception v2"): Ioffe & Szegedy, "Batch Normalization: Accelerating Deep
// Network Training by Reducing Internal Covariate Shift" (2015, arXiv:1502.03167): its
// Inception module (Figure 5's rows) and the network for 224x224 and 32x32 inputs.
#pragma once
#include <memory>

#include "cnnzoo/models.hpp"
#include "cnnzoo/nn/layers.hpp"

namespace cnnzoo::models {

// One row of Figure 5.
struct BNInceptionModuleSpec {
  int64_t ch1x1, ch3x3red, ch3x3, dbl3x3red, dbl3x3;
  bool max_pool;      // the pool branch: max (true) or average
  int64_t pool_proj;  // 0: the pool passes through unprojected (the stride-2 modules)
  int64_t stride;
  int64_t out(int64_t in) const;  // output channels for `in` input channels
};

// Four branches concatenated: 1x1 | 1x1 -> 3x3 | 1x1 -> 3x3 -> 3x3 (the factorised 5x5) |
// 3x3 pool (-> 1x1 projection). The stride-2 modules (3c, 4e) have no 1x1 branch and pass
// the max pool of their input through, the grid reduction of the paper.
class BNInceptionModule : public nn::Module {
 public:
  BNInceptionModule(int64_t in, const BNInceptionModuleSpec& spec);
  Var forward(const Var& x) override;
  std::string type_name() const override { return "Inception"; }
  std::shared_ptr<nn::ConvBnAct> branch1x1, branch3x3_1, branch3x3_2, branch3x3dbl_1,
      branch3x3dbl_2, branch3x3dbl_3, branch_pool;
  const BNInceptionModuleSpec spec;
};

struct BNInceptionConfig {
  bool cifar_stem = false;  // 3x3/1 conv1 and no stem pools, for 32x32 inputs
  double drop_rate = 0.0;   // the paper removed dropout
  double width_scale = 1.0;
};

class BNInception : public nn::Module {
 public:
  BNInception(int64_t in_channels, int64_t num_classes, const BNInceptionConfig& config);
  Var forward(const Var& x) override;
  std::string type_name() const override { return "BNInception"; }
  std::shared_ptr<nn::Sequential> stem, inception;
  std::shared_ptr<nn::AdaptiveAvgPool2d> avgpool;
  std::shared_ptr<nn::Dropout> dropout;
  std::shared_ptr<nn::Linear> fc;
};

nn::ModulePtr build_bn_inception(const ModelSpec& spec, const BNInceptionConfig& config);

}  // namespace cnnzoo::models
