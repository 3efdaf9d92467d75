// The op trace behind model export: while a Recorder is active on a thread, every op result
// made there (make_result) is logged with its inputs, and ops whose meaning needs more than
// their inputs (kernel geometry, eps, a slice's bounds) annotate their entry.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "cnnzoo/autograd.hpp"

namespace cnnzoo::trace {

struct Event {
  std::string op;                                    // the op's name in make_result
  std::vector<std::shared_ptr<Node<real>>> inputs;   // nullptr: an absent optional input
  std::shared_ptr<Node<real>> output;                // kept alive: node addresses stay unique
  std::map<std::string, std::vector<int64_t>> ints;  // attributes
  std::map<std::string, double> reals;
  std::vector<Tensor> tensors;  // tensor arguments that are not Vars (BN running statistics)
  bool annotated = false;
  Tensor value;  // the output's value, with Recorder::keep_values
};

struct Recorder {
  std::vector<Event> events;
  // Hold every output's value: a graph node drops its value with its last Var, and holding
  // it also keeps later ops from writing their results over it.
  bool keep_values = false;
};

// The recorder of this thread (nullptr when not tracing).
Recorder* active();
// Installs a recorder on this thread for its lifetime.
class Scope {
 public:
  explicit Scope(Recorder& r);
  ~Scope();
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  Recorder* prev_;
};

template <class T>
bool on() {
  if constexpr (std::is_same_v<T, real>)
    return active() != nullptr;
  else
    return false;
}

void take_next(Event& e);  // moves the pending attributes, if any, into e

// Called by make_result.
template <class T>
void record(const char* op, const std::vector<VarT<T>>& inputs, const VarT<T>& output) {
  if constexpr (std::is_same_v<T, real>) {
    Recorder* r = active();
    if (!r) return;
    Event e;
    e.op = op;
    for (const auto& v : inputs) e.inputs.push_back(v.defined() ? v.node() : nullptr);
    e.output = output.node();
    if (r->keep_values) e.value = output.value();
    take_next(e);
    r->events.push_back(std::move(e));
  }
}

struct Attributes {
  std::map<std::string, std::vector<int64_t>> ints;
  std::map<std::string, double> reals = {};
  std::vector<Tensor> tensors = {};
};

// Attributes for the entry the next make_result on this thread records: an op states them on
// the line before its make_result.
void set_next(Attributes a);

template <class T, class MakeAttributes>
void next(MakeAttributes make) {
  if constexpr (std::is_same_v<T, real>)
    if (active()) set_next(make());
}

}  // namespace cnnzoo::trace
