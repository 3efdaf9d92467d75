// Internal: the optimizer and schedule a Trainer owns (shared by the training loop and the
// checkpoint code).
#pragma once
#include <memory>

#include "cnnzoo/optim/schedule.hpp"
#include "cnnzoo/optim/sgd.hpp"
#include "cnnzoo/train/trainer.hpp"

namespace cnnzoo::train {

struct Trainer::State {
  std::unique_ptr<optim::SGD> opt;
  std::shared_ptr<optim::LRSchedule> schedule;
};

}  // namespace cnnzoo::train
