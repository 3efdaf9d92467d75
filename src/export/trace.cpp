// The thread's active op recorder (see trace.hpp).
#include "export/trace.hpp"

namespace cnnzoo::trace {

namespace {
thread_local Recorder* t_active = nullptr;
thread_local Attributes t_next;
thread_local bool t_has_next = false;
}  // namespace

void set_next(Attributes a) {
  t_next = std::move(a);
  t_has_next = true;
}

void take_next(Event& e) {
  if (!t_has_next) return;
  e.ints = std::move(t_next.ints);
  e.reals = std::move(t_next.reals);
  e.tensors = std::move(t_next.tensors);
  e.annotated = true;
  t_next = Attributes();
  t_has_next = false;
}

Recorder* active() {
  return t_active;
}

Scope::Scope(Recorder& r) : prev_(t_active) {
  t_active = &r;
}
Scope::~Scope() {
  t_active = prev_;
}

}  // namespace cnnzoo::trace
