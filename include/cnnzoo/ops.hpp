// All ops.
#pragma once
#include "cnnzoo/ops/activation.hpp"
#include "cnnzoo/ops/arith.hpp"
#include "cnnzoo/ops/batchnorm.hpp"
#include "cnnzoo/ops/conv.hpp"
#include "cnnzoo/ops/dropout.hpp"
#include "cnnzoo/ops/linear.hpp"
#include "cnnzoo/ops/loss.hpp"
#include "cnnzoo/ops/pool.hpp"
#include "cnnzoo/ops/shape.hpp"
