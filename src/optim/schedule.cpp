// Learning-rate schedules.
#include "cnnzoo/optim/schedule.hpp"

#include <algorithm>
#include <cmath>

#include "cnnzoo/error.hpp"

namespace cnnzoo::optim {

MultiStepLR::MultiStepLR(double base, std::vector<int64_t> milestones, double gamma)
    : base_(base), gamma_(gamma), milestones_(std::move(milestones)) {
  std::sort(milestones_.begin(), milestones_.end());
}

MultiStepLR MultiStepLR::every(double base, int64_t step_size, int64_t total_epochs, double gamma) {
  check(step_size > 0, "StepLR: step_size must be positive");
  std::vector<int64_t> ms;
  for (int64_t e = step_size; e < total_epochs; e += step_size) ms.push_back(e);
  return MultiStepLR(base, ms, gamma);
}

double MultiStepLR::lr(const Progress& p) const {
  double r = base_;
  for (int64_t m : milestones_)
    if (p.epoch >= m) r *= gamma_;
  return r;
}

CosineLR::CosineLR(double base, double total_epochs, double min_lr, double start_epoch)
    : base_(base), total_(total_epochs), min_(min_lr), start_(start_epoch) {
  check(total_epochs > start_epoch, "CosineLR: total_epochs must exceed start_epoch");
}

double CosineLR::lr(const Progress& p) const {
  double t = std::clamp((p.epochs() - start_) / (total_ - start_), 0.0, 1.0);
  return min_ + (base_ - min_) * 0.5 * (1.0 + std::cos(M_PI * t));
}

OneCycleLR::OneCycleLR(double max_lr, double total_epochs, double pct_start, double div_factor,
                       double final_div_factor)
    : max_(max_lr),
      total_(total_epochs),
      pct_(pct_start),
      div_(div_factor),
      final_div_(final_div_factor) {
  check(total_epochs > 0 && pct_start > 0 && pct_start < 1,
        "OneCycleLR: need total_epochs > 0 and 0 < pct_start < 1");
}

double OneCycleLR::lr(const Progress& p) const {
  double t = std::clamp(p.epochs() / total_, 0.0, 1.0);
  double lo = max_ / div_, end = max_ / final_div_;
  auto cos_interp = [](double a, double b, double f) {
    return b + (a - b) * 0.5 * (1.0 + std::cos(M_PI * f));
  };
  if (t < pct_) return cos_interp(lo, max_, t / pct_);
  return cos_interp(max_, end, (t - pct_) / (1.0 - pct_));
}

WarmupLR::WarmupLR(std::shared_ptr<LRSchedule> after, double warmup_epochs)
    : after_(std::move(after)), warmup_(warmup_epochs) {
  check(warmup_epochs >= 0, "WarmupLR: warmup_epochs must be non-negative");
}

double WarmupLR::lr(const Progress& p) const {
  double warm_iters = warmup_ * static_cast<double>(p.steps);
  double it = static_cast<double>(p.epoch * p.steps + p.step);  // 0-based iteration
  if (it >= warm_iters) return after_->lr(p);
  Progress end;  // the wrapped schedule's rate where the warm-up ends
  end.steps = p.steps;
  end.epoch = static_cast<int64_t>(warmup_);
  end.step = static_cast<int64_t>(std::llround((warmup_ - std::floor(warmup_)) * p.steps));
  return after_->lr(end) * (it + 1.0) / warm_iters;
}

std::shared_ptr<LRSchedule> make_schedule(const std::string& name, double base_lr,
                                          int64_t total_epochs, double warmup_epochs,
                                          std::vector<int64_t> milestones, double gamma) {
  check(total_epochs > 0, "schedule: epochs must be positive");
  std::shared_ptr<LRSchedule> s;
  if (name == "constant") {
    s = std::make_shared<ConstantLR>(base_lr);
  } else if (name == "step" || name == "multistep") {
    if (milestones.empty())
      milestones = {std::max<int64_t>(1, total_epochs / 2),
                    std::max<int64_t>(1, total_epochs * 3 / 4)};
    s = std::make_shared<MultiStepLR>(base_lr, milestones, gamma);
  } else if (name == "cosine") {
    s = std::make_shared<CosineLR>(base_lr, static_cast<double>(total_epochs), 0.0,
                                   std::min(warmup_epochs, total_epochs - 1e-9));
  } else if (name == "onecycle") {
    return std::make_shared<OneCycleLR>(base_lr, static_cast<double>(total_epochs));
  } else {
    throw Error("schedule: unknown schedule '" + name + "' (constant, step, cosine, onecycle)");
  }
  if (warmup_epochs > 0) s = std::make_shared<WarmupLR>(s, warmup_epochs);
  return s;
}

}  // namespace cnnzoo::optim
