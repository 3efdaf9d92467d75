// Inception-v4 (Szegedy, Ioffe, Vanhoucke & Alemi, "Inception-v4, Inception-ResNet and the
// Impact of Residual Connections on Learning", 2016): the TF-slim reference's conv units and
// branch modules, which Inception-ResNet-v2 shares, and the Inception-v4 network.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "cnnzoo/models.hpp"
#include "cnnzoo/nn/layers.hpp"

namespace cnnzoo::models {

// The units of both networks: ConvBnAct with BN eps 1e-3 (TF-slim's). same_unit keeps the
// size (stride 1, padding kernel/2, (h, w) kernels for 1xn / nx1); valid_unit has no padding.
nn::ModulePtr same_unit(int64_t in, int64_t out, Size2 kernel);
nn::ModulePtr valid_unit(int64_t in, int64_t out, int64_t kernel, int64_t stride = 1);
// A chain of units as one branch.
std::shared_ptr<nn::Sequential> chain(std::vector<nn::ModulePtr> units);

// Parallel branches concatenated along channels, in order. A branch may be the 3x3/2 max pool
// pass-through of the reduction modules, or start with the 3x3/1 'same' average pool that
// does not count the padding (TF "SAME" pooling). A one-off module is built by chaining
// branch() calls; the paper's repeated modules are subclasses.
class InceptionBranches : public nn::Module {
 public:
  explicit InceptionBranches(std::string type) : type_(std::move(type)) {}
  InceptionBranches& branch(nn::ModulePtr m, bool avg_pool_first = false);
  InceptionBranches& max_pool_branch();
  Var forward(const Var& x) override;
  std::string type_name() const override { return type_; }

 private:
  std::string type_;
  std::vector<nn::ModulePtr> branches_;  // null: the max pool pass-through
  std::vector<bool> avg_first_;
};

// Figure 7: 35 -> 17 grid reduction with filter counts (k, l, m, n); out = in + m + n.
class ReductionA : public InceptionBranches {
 public:
  ReductionA(int64_t in, int64_t k, int64_t l, int64_t m, int64_t n);
};

// A network as named stages, then global average pool, dropout and fc; He (fan-out) init
// for the convs, zero conv biases, BN 1/0.
class InceptionNet : public nn::Module {
 public:
  Var forward(const Var& x) override;
  std::string type_name() const override { return type_; }
  std::shared_ptr<nn::Dropout> dropout;
  std::shared_ptr<nn::Linear> fc;

 protected:
  explicit InceptionNet(std::string type) : type_(std::move(type)) {}
  void stage(const std::string& name, nn::ModulePtr m);
  void head(int64_t channels, int64_t num_classes, double drop_rate);

 private:
  std::string type_;
  std::vector<nn::ModulePtr> stages_;
};

// n blocks of one type in a Sequential.
template <class Block, class... Args>
std::shared_ptr<nn::Sequential> repeat(int n, Args... args) {
  auto seq = std::make_shared<nn::Sequential>();
  for (int i = 0; i < n; ++i) seq->push_back(std::make_shared<Block>(args...));
  return seq;
}

struct InceptionV4Config {
  double drop_rate = 0.2;  // keep 0.8
};

nn::ModulePtr build_inception_v4(const ModelSpec& spec, const InceptionV4Config& config);

}  // namespace cnnzoo::models
