// Inception-v4 and Inception-ResNet-v2: Szegedy, Ioffe, Vanhoucke & Alemi, "Inception-v4,
// Inception-ResNet and the Impact of Residual Connections on Learning" (2016,
// arXiv:1602.07261).
#pragma once
#include "cnnzoo/models.hpp"

namespace cnnzoo::models {

// `inception-v4` (299x299); option drop_rate (0.2, i.e. keep 0.8).
nn::ModulePtr inception_v4(const ModelSpec& spec);
// `inception-resnet-v2` (299x299); option drop_rate (0.2).
nn::ModulePtr inception_resnet_v2(const ModelSpec& spec);

}  // namespace cnnzoo::models
