// VGG (Simonyan & Zisserman 2014): torchvision's eight ImageNet models and the CIFAR versions.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "cnnzoo/models/vgg.hpp"
#include "cnnzoo/nn/layers.hpp"
#include "cnnzoo/ops.hpp"
#include "model_test.hpp"

using namespace cnnzoo;
using namespace cnnzoo::models;
using namespace cnnzoo::testing;

CNNZOO_PAPER_TABLE(vgg,
                   {row("vgg11-cifar", 9228362).classifier(512).macs(152769536),
                    row("vgg16-cifar", 14724042).classifier(512).macs(313201664),
                    row("vgg19-cifar", 20035018).classifier(512).macs(398136320),
                    row("vgg11", 132863336).step(1, 0), row("vgg13", 133047848).step(1, 0),
                    row("vgg16", 138357544).step(1, 0), row("vgg19", 143667240).step(1, 0),
                    row("vgg11_bn", 132868840).step(1, 0), row("vgg13_bn", 133053736).step(1, 0),
                    row("vgg16_bn", 138365992).step(1, 0), row("vgg19_bn", 143678248).step(1, 0)});
