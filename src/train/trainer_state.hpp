// Internal: the optimizer and schedule a Trainer owns (shared by the training loop and the
// checkpoint code).
#pragma once
#include <functional>
#include <memory>
#include <string>

#include "cnnzoo/compression.hpp"
#include "cnnzoo/optim/schedule.hpp"
#include "cnnzoo/optim/sgd.hpp"
#include "cnnzoo/train/trainer.hpp"

namespace cnnzoo::train {

struct Trainer::State {
  std::unique_ptr<optim::SGD> opt;
  std::shared_ptr<optim::LRSchedule> schedule;
  compress::Masks masks;  // a pruned model's: applied after every step
};

// Runs `write`, a save of the run's files. A failure (a full disk, an I/O error) ends the run
// with a message that says the last complete checkpoint in `out` stays (writes are atomic) and
// how to continue from it.
void save_run_files(const std::string& out, const std::function<void()>& write);

}  // namespace cnnzoo::train
