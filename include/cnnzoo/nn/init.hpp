// Weight initialisation (He/MSRA and Xavier/Glorot), in place, from a Generator.
#pragma once
#include "cnnzoo/random.hpp"
#include "cnnzoo/tensor.hpp"

namespace cnnzoo::nn::init {

enum class FanMode { FanIn, FanOut };

// fan_in = shape[1] * receptive field, fan_out = shape[0] * receptive field (as PyTorch).
int64_t fan_in(const Tensor& w);
int64_t fan_out(const Tensor& w);
// PyTorch's calculate_gain for "relu" (sqrt 2), "leaky_relu" (sqrt(2 / (1 + a^2))),
// "linear"/"sigmoid" (1), "tanh" (5/3).
double gain(const std::string& nonlinearity, double a = 0.0);

void kaiming_normal(Tensor& w, FanMode mode = FanMode::FanIn, double a = 0.0,
                    const std::string& nonlinearity = "relu", Generator& gen = global_generator());
void kaiming_uniform(Tensor& w, FanMode mode = FanMode::FanIn, double a = 0.0,
                     const std::string& nonlinearity = "leaky_relu",
                     Generator& gen = global_generator());
void xavier_normal(Tensor& w, double gain = 1.0, Generator& gen = global_generator());
void xavier_uniform(Tensor& w, double gain = 1.0, Generator& gen = global_generator());
void normal(Tensor& w, double mean, double stddev, Generator& gen = global_generator());
void uniform(Tensor& w, double lo, double hi, Generator& gen = global_generator());
void constant(Tensor& w, double value);

}  // namespace cnnzoo::nn::init
