// Inception-ResNet-v2 (Szegedy et al., "Inception-v4, Inception-ResNet and the Impact of
// Residual Connections on Learning", 2016): its residual Inception blocks and the network.
#pragma once
#include "cnnzoo/models/inception_v4.hpp"

namespace cnnzoo::models {

// An Inception-ResNet block: relu(x + residual_scale * up(concat(branches(x)))) (Figure 20's
// scaling); `up` is a linear 1x1 conv with a bias, no BN, restoring the input width. The last
// block of the network has scale 1 and no ReLU (activate false).
class InceptionResNetBlock : public nn::Module {
 public:
  Var forward(const Var& x) override;
  std::string type_name() const override { return type_; }
  std::shared_ptr<nn::Conv2d> up;
  const double residual_scale;
  const bool activate;

 protected:
  InceptionResNetBlock(std::string type, double residual_scale, bool activate);
  void branch(nn::ModulePtr m);
  void up_projection(int64_t in, int64_t out);

 private:
  std::string type_;
  std::vector<nn::ModulePtr> branches_;
};

// IR-A at 35x35, 320 channels: {1x1 32 | 1x1 32 -> 3x3 32 | 1x1 32 -> 3x3 48 -> 3x3 64}.
class Block35 : public InceptionResNetBlock {
 public:
  explicit Block35(double residual_scale);
};
// IR-B at 17x17, 1088 channels: {1x1 192 | 1x1 128 -> 1x7 160 -> 7x1 192}.
class Block17 : public InceptionResNetBlock {
 public:
  explicit Block17(double residual_scale);
};
// IR-C at 8x8, 2080 channels: {1x1 192 | 1x1 192 -> 1x3 224 -> 3x1 256}.
class Block8 : public InceptionResNetBlock {
 public:
  Block8(double residual_scale, bool activate);
};

// Stem, 10 x Block35 (0.17), Reduction-A, 20 x Block17 (0.10), Mixed_7a, 9 x Block8 (0.20)
// and a final unscaled Block8 without ReLU, 1x1 conv 1536, pool, dropout, fc.
nn::ModulePtr build_inception_resnet_v2(const ModelSpec& spec, const InceptionV4Config& config);

}  // namespace cnnzoo::models
