// Learning-rate schedules, evaluated per iteration as a pure function of the position in
// training, so a resumed run gets exactly the same rates.
#pragma once
#include <memory>
#include <string>
#include <vector>

namespace cnnzoo::optim {

// Position in training: `epoch` (0-based), `step` within it, `steps` per epoch.
struct Progress {
  int64_t epoch = 0, step = 0, steps = 1;
  double epochs() const { return static_cast<double>(epoch) + static_cast<double>(step) / steps; }
};

class LRSchedule {
 public:
  virtual ~LRSchedule() = default;
  virtual double lr(const Progress& p) const = 0;
};

class ConstantLR : public LRSchedule {
 public:
  explicit ConstantLR(double base) : base_(base) {}
  double lr(const Progress&) const override { return base_; }

 private:
  double base_;
};

// base * gamma^(number of milestones <= epoch); StepLR is milestones every step_size.
class MultiStepLR : public LRSchedule {
 public:
  MultiStepLR(double base, std::vector<int64_t> milestones, double gamma = 0.1);
  static MultiStepLR every(double base, int64_t step_size, int64_t total_epochs,
                           double gamma = 0.1);
  double lr(const Progress& p) const override;

 private:
  double base_, gamma_;
  std::vector<int64_t> milestones_;
};

// Cosine from base at `start_epoch` down to min_lr at `total_epochs` (per iteration).
class CosineLR : public LRSchedule {
 public:
  CosineLR(double base, double total_epochs, double min_lr = 0.0, double start_epoch = 0.0);
  double lr(const Progress& p) const override;

 private:
  double base_, total_, min_, start_;
};

// One-cycle (Smith): cosine rise from max/div_factor to max over pct_start of training,
// then cosine decay to max/final_div_factor.
class OneCycleLR : public LRSchedule {
 public:
  OneCycleLR(double max_lr, double total_epochs, double pct_start = 0.3, double div_factor = 25.0,
             double final_div_factor = 1e4);
  double lr(const Progress& p) const override;

 private:
  double max_, total_, pct_, div_, final_div_;
};

// Linear warm-up over the first warmup_epochs: iteration k (1-based) of the warm-up gets
// k / warmup_iterations of the wrapped schedule's rate; afterwards the wrapped schedule.
class WarmupLR : public LRSchedule {
 public:
  WarmupLR(std::shared_ptr<LRSchedule> after, double warmup_epochs);
  double lr(const Progress& p) const override;

 private:
  std::shared_ptr<LRSchedule> after_;
  double warmup_;
};

// Builds a schedule by name: "constant", "step" (milestones at 50% and 75% unless given),
// "cosine", "onecycle"; warmup_epochs > 0 wraps it in WarmupLR (cosine then starts
// after the warm-up). Unknown names are an Error.
std::shared_ptr<LRSchedule> make_schedule(const std::string& name, double base_lr,
                                          int64_t total_epochs, double warmup_epochs = 0,
                                          std::vector<int64_t> milestones = {}, double gamma = 0.1);

}  // namespace cnnzoo::optim
