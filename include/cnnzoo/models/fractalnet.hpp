// FractalNet: Larsson, Maire, Shakhnarovich, "FractalNet: Ultra-Deep Neural Networks without
// Residuals", 2016, arXiv:1605.07648. CIFAR network of B fractal blocks with C columns.
#pragma once
#include <memory>
#include <vector>

#include "cnnzoo/models.hpp"
#include "cnnzoo/nn/layers.hpp"
#include "cnnzoo/random.hpp"

namespace cnnzoo::models::fractalnet {

struct Config {
  int64_t columns = 3;                                    // C
  std::vector<int64_t> channels{64, 128, 256, 512, 512};  // one block per entry (B = 5)
  double width_scale = 1.0;  // multiplies every block's channels (reduced-width versions)
  bool dropout = true;       // per-block dropout 0, 0.1, 0.2, 0.3, 0.4
  bool drop_path = true;
  double local_drop_rate = 0.15;  // each join input dropped with this probability
  double global_ratio = 0.5;      // fraction of mini-batches that keep a single column
  int64_t num_classes = 10;
  int64_t in_channels = 3;
};

// Conv3x3 -> Dropout -> BN -> ReLU, the fractal's base layer.
class ConvBlock : public nn::Module {
 public:
  ConvBlock(int64_t in_channels, int64_t out_channels, double drop_rate);
  Var forward(const Var& x) override;
  std::string type_name() const override { return "FractalConv"; }

 private:
  std::shared_ptr<nn::Conv2d> conv;
  std::shared_ptr<nn::BatchNorm2d> bn;
  double drop_rate;
};

// keep[t - 1][c]: whether column c's input to the join after step t (t = 1..2^(C-1)) survives.
// Only columns that end a convolution at step t take part in that join.
using JoinMasks = std::vector<std::vector<char>>;

// The expanded fractal f_C: column c = 1..C holds 2^(c-1) base layers (column1 is the
// shallowest), and every point where several columns end together is one join, the flat
// element-wise mean of its surviving inputs. Layers whose output cannot reach the block's
// output under the given masks are not computed.
class FractalBlock : public nn::Module {
 public:
  FractalBlock(int64_t in_channels, int64_t out_channels, int64_t columns, double drop_rate);
  Var forward(const Var& x) override;  // every path
  Var forward(const Var& x, const JoinMasks& keep);
  std::string type_name() const override { return "FractalBlock"; }

  int64_t steps() const { return int64_t(1) << (columns - 1); }
  int64_t stride(int64_t column) const { return int64_t(1) << (columns - 1 - column); }
  std::vector<int64_t> participants(int64_t t) const;  // columns (0-based) joining at step t
  JoinMasks all_paths() const;
  JoinMasks single_column(int64_t column) const;  // 0-based
  // Local drop-path: every join with several inputs drops each with probability p, keeping a
  // random one of them if all were dropped.
  JoinMasks sample_local(Generator& gen, double p) const;
  // The base layer j (0-based) of column c (0-based).
  nn::Module& layer(int64_t column, int64_t j) const { return (*column_layers[column])[j]; }

  int64_t columns;

 private:
  std::vector<std::shared_ptr<nn::Sequential>> column_layers;
};

// Drop-path for one mini-batch: global (one column for the whole network) or local masks.
struct DropPathPlan {
  bool global = false;
  int64_t column = -1;  // 0-based, when global
  std::vector<JoinMasks> blocks;
};

// blockB (FractalBlock) followed by 2x2 max pooling, B times; global average pooling (the map
// is 1x1 on CIFAR) and a linear classifier.
class FractalNet : public nn::Module {
 public:
  explicit FractalNet(const Config& config);
  Var forward(const Var& x) override;  // samples a drop-path plan in training mode
  Var forward(const Var& x, const DropPathPlan& plan);
  std::string type_name() const override { return "FractalNet"; }

  DropPathPlan sample_drop_path(Generator& gen) const;
  DropPathPlan all_paths() const;

  std::vector<std::shared_ptr<FractalBlock>> blocks;
  bool drop_path;
  double local_drop_rate, global_ratio;

 private:
  std::shared_ptr<nn::Linear> fc;
};

}  // namespace cnnzoo::models::fractalnet
