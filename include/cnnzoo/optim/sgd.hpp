// Stochastic gradient descent with PyTorch's update rule: momentum (buf = m*buf + (1-d)*g),
// Nesterov (g + m*buf), L2 weight decay added to the gradient, optionally not applied to
// biases and batch-norm parameters (every parameter with fewer than 2 dimensions).
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "cnnzoo/autograd.hpp"

namespace cnnzoo::optim {

struct SGDOptions {
  double lr = 0.1;
  double momentum = 0.0;
  double dampening = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;
  bool decay_bn_and_bias = true;  // false exempts parameters with dim < 2 from weight decay
};

class SGD {
 public:
  SGD(std::vector<std::pair<std::string, Var>> named_params, const SGDOptions& options);
  void step();  // parameters without a gradient are left untouched
  void zero_grad();
  void set_lr(double lr) { options_.lr = lr; }
  double lr() const { return options_.lr; }
  const SGDOptions& options() const { return options_; }
  // Momentum buffers named "<param>.momentum_buffer" (only those that exist yet).
  std::vector<std::pair<std::string, Tensor>> state_dict() const;
  // Restores buffers; unknown names or shape mismatches are an Error.
  void load_state_dict(const std::vector<std::pair<std::string, Tensor>>& state);

 private:
  struct Slot {
    std::string name;
    Var param;
    Tensor momentum_buffer;
    bool decay;
  };
  std::vector<Slot> slots_;
  SGDOptions options_;
};

}  // namespace cnnzoo::optim
