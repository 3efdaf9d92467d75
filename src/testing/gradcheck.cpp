// The gradient checker of cnnzoo/testing/gradcheck.hpp: central differences along single
// elements and random directions, one-sided differences to tell a kink from a wrong backward.
#include "cnnzoo/testing/gradcheck.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>
#include <tuple>

#include "cnnzoo/error.hpp"
#include "cnnzoo/random.hpp"

namespace cnnzoo::testing {

TensorD random_tensor(const Shape& shape, uint64_t seed, double lo, double hi) {
  Generator g(seed);
  return random_tensor(shape, g, lo, hi);
}

TensorD random_tensor(const Shape& shape, Generator& g, double lo, double hi) {
  TensorD t = TensorD::empty(shape);
  for (auto& v : t) v = g.uniform(lo, hi);
  return t;
}

std::string GradcheckReport::message() const {
  auto num = [](double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%.9g", v);
    return std::string(b);
  };
  std::ostringstream s;
  const GradcheckEntry& w = worst;
  std::string where = w.tensor;
  if (w.element >= 0) {
    where += " element " + std::to_string(w.element) + " [";
    for (size_t i = 0; i < w.index.size(); ++i)
      where += (i ? ", " : "") + std::to_string(w.index[i]);
    where += "]";
  } else if (!w.tensor.empty()) {
    where += " (random direction)";
  }
  if (!passed && w.tensor == "forward")
    return "gradcheck FAILED: the forward pass is not repeatable: sum(output * r) is " +
           num(w.analytic) + " with gradients on and " + num(w.numeric) +
           " again with gradients off and the generator reseeded";
  if (passed) {
    s << "gradcheck passed: " << checked << " quantities over " << tensors << " tensors";
    if (checked > 0)
      s << ", worst at " << where << ": analytic " << num(w.analytic) << " vs numeric "
        << num(w.numeric) << " (relative error " << num(w.relative_error) << ")";
  } else {
    s << "gradcheck FAILED at " << where << ": analytic " << num(w.analytic) << " vs numeric "
      << num(w.numeric) << " (relative error " << num(w.relative_error) << "; " << checked
      << " quantities over " << tensors << " tensors)";
  }
  if (kinks > 0) s << "; " << kinks << " skipped at non-differentiable points";
  return s.str();
}

namespace {

std::vector<int64_t> unravel(int64_t flat, const Shape& shape) {
  std::vector<int64_t> index(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    index[d] = flat % shape[d];
    flat /= shape[d];
  }
  return index;
}

// Probes the tensors of one check. `objective` evaluates sum(output * r) at the tensors'
// current values (each probe moves one tensor in place and puts it back bit for bit).
class Checker {
 public:
  Checker(const GradcheckOptions& o, std::function<double()> objective)
      : o_(o), f_(std::move(objective)) {
    check(o.eps_ > 0 && o.atol_ >= 0 && o.rtol_ >= 0,
          "gradcheck: eps must be > 0 and atol, rtol >= 0");
    check(o.max_elements_ >= 0 && o.directions_ >= 0,
          "gradcheck: max_elements and directions must be >= 0");
    check(o.max_elements_ > 0 || o.directions_ > 0,
          "gradcheck: max_elements and directions are both 0: nothing to check");
    f0_ = f_();
  }

  // The objective at the point, from the forward pass that built the graph, must equal the
  // one the probes evaluate (gradients off, generator reseeded): else the forward is not a
  // function of the checked tensors alone and no difference quotient means anything.
  void check_repeatable(double from_graph, GradcheckReport& r) {
    if (std::abs(from_graph - f0_) <= 1e-10 * (1 + std::abs(f0_))) return;
    r.passed = false;
    r.worst = GradcheckEntry();
    r.worst.tensor = "forward";
    r.worst.analytic = from_graph;
    r.worst.numeric = f0_;
    r.worst.relative_error = std::abs(from_graph - f0_) / std::max(std::abs(f0_), 1e-12);
    r.worst.badness = std::numeric_limits<double>::infinity();
  }

  void run(const std::string& name, TensorD& x, const TensorD& analytic, GradcheckReport& r) {
    r.tensors += 1;
    const int64_t n = x.numel();
    if (n == 0) return;
    Generator g(o_.seed_ + 7919 * static_cast<uint64_t>(r.tensors));
    bool failed = false;
    for (int64_t d = 0; d < o_.directions_; ++d) {
      for (int attempt = 0; attempt < 4; ++attempt) {
        TensorD dir = TensorD::empty(x.shape());
        for (auto& v : dir) v = g.normal();
        normalize(dir);
        double a = 0;
        for (int64_t k = 0; k < n; ++k) a += analytic[k] * dir[k];
        const Outcome out = compare(x, dir, -1, a, name, r);
        if (out == Outcome::Kink) continue;
        failed = failed || out == Outcome::Fail;
        break;
      }
    }
    const int64_t count = std::min(n, o_.max_elements_);
    bool element_failed = false;
    for (int64_t j = 0; j < count; ++j) {
      const int64_t k = n == count ? j : j * n / count;
      element_failed =
          compare(x, TensorD(), k, analytic[k], name, r) == Outcome::Fail || element_failed;
    }
    // A direction failed but no probed element did: halve the support of the direction,
    // following the worse half, down to the element to name (2 log2(n) evaluations).
    if (failed && !element_failed) {
      int64_t lo = 0, hi = n;
      while (hi - lo > 1) {
        const int64_t mid = lo + (hi - lo) / 2;
        if (badness_on(x, analytic, lo, mid, g) >= badness_on(x, analytic, mid, hi, g))
          hi = mid;
        else
          lo = mid;
      }
      compare(x, TensorD(), lo, analytic[lo], name, r);
    }
  }

 private:
  enum class Outcome { Pass, Fail, Kink };

  // Unit length: a step of eps along a direction moves the point as far as a step of eps
  // along one element, so it meets no more kinks.
  static void normalize(TensorD& dir) {
    double norm = 0;
    for (double v : dir) norm += v * v;
    norm = std::sqrt(norm);
    if (norm > 0)
      for (auto& v : dir) v /= norm;
  }

  // |analytic - numeric| / tolerance along a random direction supported on [lo, hi).
  double badness_on(TensorD& x, const TensorD& analytic, int64_t lo, int64_t hi, Generator& g) {
    TensorD dir = TensorD::zeros(x.shape());
    double a = 0;
    for (int64_t k = lo; k < hi; ++k) dir[k] = g.normal();
    normalize(dir);
    for (int64_t k = lo; k < hi; ++k) a += analytic[k] * dir[k];
    const double numeric = (at(x, dir, -1, o_.eps_) - at(x, dir, -1, -o_.eps_)) / (2 * o_.eps_);
    return std::abs(a - numeric) / (o_.atol_ + o_.rtol_ * std::abs(numeric));
  }

  // f at x + h * dir (or x + h e_k when dir is undefined), x restored afterwards.
  double at(TensorD& x, const TensorD& dir, int64_t k, double h) {
    if (!dir.defined()) {
      const double orig = x[k];
      x[k] = orig + h;
      const double v = f_();
      x[k] = orig;
      return v;
    }
    TensorD saved = x.clone();
    for (int64_t i = 0; i < x.numel(); ++i) x[i] += h * dir[i];
    const double v = f_();
    for (int64_t i = 0; i < x.numel(); ++i) x[i] = saved[i];
    return v;
  }

  Outcome compare(TensorD& x, const TensorD& dir, int64_t k, double a, const std::string& name,
                  GradcheckReport& r) {
    const double h = o_.eps_;
    const double fp = at(x, dir, k, h), fm = at(x, dir, k, -h);
    const double numeric = (fp - fm) / (2 * h);
    const double tol = o_.atol_ + o_.rtol_ * std::abs(numeric);
    const double diff = std::abs(a - numeric);
    if (diff > tol && o_.skip_kinks_) {
      // At a kink within h of x the one-sided slopes differ, and the analytic value (the
      // slope on x's own side) matches one of them; a wrong backward matches neither.
      const double right = (fp - f0_) / h, left = (f0_ - fm) / h;
      const double spread = std::abs(right - left);
      const double nearest = std::min(std::abs(a - right), std::abs(a - left));
      if (spread > tol && nearest < 0.25 * spread) {
        r.kinks += 1;
        return Outcome::Kink;
      }
    }
    GradcheckEntry e;
    e.tensor = name;
    e.element = k;
    if (k >= 0) e.index = unravel(k, x.shape());
    e.analytic = a;
    e.numeric = numeric;
    e.relative_error = diff / std::max(std::abs(numeric), 1e-12);
    e.badness = diff / std::max(tol, 1e-300);
    r.checked += 1;
    const bool fails = diff > tol;
    // The worst entry: a failure over a pass, among failures a single element (it names the
    // place) over a direction, then the largest badness.
    auto rank = [](const GradcheckEntry& x, bool failed) {
      return std::make_tuple(failed, failed && x.element >= 0, x.badness);
    };
    if (r.checked == 1 || rank(e, fails) > rank(r.worst, !r.passed)) r.worst = e;
    if (fails) r.passed = false;
    return fails ? Outcome::Fail : Outcome::Pass;
  }

  const GradcheckOptions& o_;
  std::function<double()> f_;
  double f0_ = 0;
};

double weighted_sum(const TensorD& out, const TensorD& r) {
  check(out.shape() == r.shape(), "gradcheck: the output's shape changed between evaluations (" +
                                      out.shape_str() + " against " + r.shape_str() + ")");
  double s = 0;
  for (int64_t k = 0; k < out.numel(); ++k) s += out[k] * r[k];
  return s;
}

void check_output(const VarD& out) {
  check(out.defined() && out.value().defined() && out.value().numel() > 0,
        "gradcheck: the output is empty: nothing to differentiate");
  check(out.requires_grad(),
        "gradcheck: the output does not depend on any checked tensor (no gradient flows)");
}

// Puts the global generator back as the caller left it (the check reseeds it before every
// forward).
class KeepGlobalGenerator {
 public:
  KeepGlobalGenerator() : state_(global_generator().state()) {}
  ~KeepGlobalGenerator() { global_generator().set_state(state_); }

 private:
  std::string state_;
};

TensorD gradient_or_zeros(const VarD& v) {
  return v.grad().defined() ? v.grad().clone() : TensorD::zeros(v.value().shape());
}

}  // namespace

GradcheckReport gradcheck(const GradFunction& f, const std::vector<TensorD>& inputs,
                          const GradcheckOptions& options) {
  check(!inputs.empty(), "gradcheck: the function has no inputs");
  KeepGlobalGenerator keep;
  std::vector<bool> wrt =
      options.wrt_.empty() ? std::vector<bool>(inputs.size(), true) : options.wrt_;
  check(wrt.size() == inputs.size(), "gradcheck: wrt has " + std::to_string(wrt.size()) +
                                         " entries for " + std::to_string(inputs.size()) +
                                         " inputs");
  std::vector<TensorD> xs;
  std::vector<VarD> vars;
  for (size_t i = 0; i < inputs.size(); ++i) {
    check(inputs[i].defined(), "gradcheck: input " + std::to_string(i) + " is undefined");
    xs.push_back(inputs[i].clone());
    vars.emplace_back(inputs[i].clone(), wrt[i]);
  }
  auto call = [&](const std::vector<VarD>& vs) {
    manual_seed(options.seed_);
    try {
      return f(vs);
    } catch (const Error& e) {
      std::string shapes;
      for (const auto& v : vs) shapes += (shapes.empty() ? "" : ", ") + v.value().shape_str();
      throw Error("gradcheck: the function failed on inputs " + shapes + ": " + e.what());
    }
  };
  VarD out = call(vars);
  check_output(out);
  const TensorD r = random_tensor(out.shape(), options.seed_ + 1);
  const double from_graph = weighted_sum(out.value(), r);
  backward(out, r);

  Checker checker(options, [&] {
    NoGradGuard no_grad;
    std::vector<VarD> vs;
    for (const auto& x : xs) vs.emplace_back(x, false);
    return weighted_sum(call(vs).value(), r);
  });
  GradcheckReport report;
  checker.check_repeatable(from_graph, report);
  for (size_t i = 0; i < inputs.size(); ++i)
    if (wrt[i])
      checker.run("input " + std::to_string(i), xs[i], gradient_or_zeros(vars[i]), report);
  return report;
}

GradcheckReport gradcheck(nn::Module& module, const TensorD& input,
                          const GradcheckOptions& options) {
#ifndef CNNZOO_DOUBLE_MODULES
  (void)module, (void)input, (void)options;
  throw Error(
      "gradcheck: the module's parameters are float; checking a module needs double-precision "
      "modules (link cnnzoo::cnnzoo_double, where real = double)");
#else
  check(input.defined() && input.numel() > 0, "gradcheck: the module's input is empty");
  KeepGlobalGenerator keep;
  VarD x(input.clone(), true);
  auto forward = [&](const VarD& v) {
    manual_seed(options.seed_);
    try {
      return module.forward(v);
    } catch (const Error& e) {
      throw Error("gradcheck: the module cannot take input " + input.shape_str() + ": " + e.what());
    }
  };
  std::vector<std::pair<TensorD, TensorD> > buffers;  // (the module's buffer, its value now)
  for (auto& [name, b] : module.named_buffers()) buffers.emplace_back(b, b.clone());
  module.zero_grad();
  VarD out = forward(x);
  check_output(out);
  const TensorD r = random_tensor(out.shape(), options.seed_ + 1);
  const double from_graph = weighted_sum(out.value(), r);
  backward(out, r);

  std::vector<std::pair<std::string, VarD> > tensors = {{"input", x}};
  for (auto& p : module.named_parameters())
    if (p.second.requires_grad()) tensors.push_back(p);
  std::vector<TensorD> analytic;
  for (auto& [name, v] : tensors) analytic.push_back(gradient_or_zeros(v));
  module.zero_grad();

  Checker checker(options, [&] {
    NoGradGuard no_grad;
    return weighted_sum(forward(VarD(x.value(), false)).value(), r);
  });
  GradcheckReport report;
  checker.check_repeatable(from_graph, report);
  for (size_t i = 0; i < tensors.size(); ++i)
    checker.run(tensors[i].first, tensors[i].second.value(), analytic[i], report);
  for (auto& [buffer, saved] : buffers) std::copy(saved.begin(), saved.end(), buffer.begin());
  return report;
#endif
}

}  // namespace cnnzoo::testing
